/** Where everything lives under `$AUTORUN_HOME` (default `~/.autorun`). */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { existsSync, mkdirSync } from "node:fs";

export function autorunHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.AUTORUN_HOME?.trim();
  return resolve(fromEnv ? fromEnv : join(homedir(), ".autorun"));
}

export interface OrchPaths {
  home: string;
  dir: string;
  status: string;
  events: string;
  stagesDir: string;
  pid: string;
  lock: string;
  launchLock: string;
  monitorLog: string;
}

/**
 * `planName` is the orchestration's directory name: a plan name, or `<plan name>.<time>` for a run
 * kept aside by `orchestrate --fresh`, which has its own monitor log too.
 */
export function orchPaths(home: string, planName: string, projectSlug: string): OrchPaths {
  const dir = join(home, "orchestration", planName);
  const archived = /\.([^.]+)$/.exec(planName)?.[1];
  return {
    home,
    dir,
    status: join(dir, "status.json"),
    events: join(dir, "events.jsonl"),
    stagesDir: join(dir, "stages"),
    pid: join(dir, "monitor.pid"),
    lock: join(dir, "status.lock"),
    launchLock: join(dir, "launch.lock"),
    monitorLog: join(home, "logs", `${projectSlug}-monitor${archived ? `.${archived}` : ""}.log`),
  };
}

export function contextFilePath(stagesDir: string, id: string): string {
  return join(stagesDir, `stage-${id}-context.md`);
}

export function reviewDir(home: string): string {
  return join(home, "review");
}

export function reportsDir(home: string): string {
  return join(home, "reports");
}

export function locksDir(home: string): string {
  return join(home, "locks");
}

/** What `orchestrate` locks so that one runs per plan name at a time (an empty file). */
export function orchestrateLockFile(home: string, planName: string): string {
  return join(locksDir(home), `orchestrate-${planName}.lock`);
}

/** `<home>/orchestration/<plan_name>` and the project slug (from its first event) → its paths. */
export function pathsFromOrchDir(orchDir: string, projectSlug: string): OrchPaths {
  const dir = resolve(orchDir);
  const parts = dir.split("/");
  const planName = parts[parts.length - 1]!;
  const home = parts.slice(0, -2).join("/") || "/";
  return orchPaths(home, planName, projectSlug);
}

/**
 * mkdir -p that reports the real reason: Node's recursive mkdir says ENOENT on a read-only or
 * full file system, so on failure the path is walked to surface EROFS / ENOSPC / EACCES.
 */
export function makeDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    let path = "";
    for (const part of resolve(dir).split("/").slice(1)) {
      path += `/${part}`;
      if (!existsSync(path)) mkdirSync(path, { mode: 0o700 });
    }
    throw error;
  }
}
