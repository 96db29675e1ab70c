/**
 * A plan's run that already exists, at `orchestrate`: refused (completed, or still running under
 * `--fresh`), or moved aside by `--fresh` under a name of its own.
 */
import { existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import { orchPaths, reportsDir, type OrchPaths } from "../state/paths.js";
import { createTmux } from "../adapters/tmux.js";
import type { Status } from "../types/schemas.js";
import type { Ctx } from "./ctx.js";
import type { PreparedPlan } from "./prepared-plan.js";

/**
 * Why the plan's orchestration as it stands refuses a new start (the dry run says it, the run
 * throws it): a completed one without `--fresh`, a live one with it.
 */
export async function existingRunRefusal(prep: PreparedPlan, status: Status | undefined, fresh: boolean): Promise<string | undefined> {
  if (!status) return undefined;
  if (fresh) return freshWhileLive(prep.paths, prep.planName, status, prep.config.tmuxSocket);
  if (status.status === "completed") return `orchestration ${prep.planName} already completed (${prep.paths.dir}); pass --fresh to start it again (the old one is kept beside it).`;
  return undefined;
}

/**
 * `--fresh` moves a run aside; while its monitor or any of its sessions still runs, the new run
 * would adopt those sessions (same names) and work in their worktrees. The person stops it first.
 */
async function freshWhileLive(paths: OrchPaths, name: string, status: Status, socket: string | undefined): Promise<string | undefined> {
  const { runningMonitor } = await import("../monitor/monitor-pid.js");
  const { readSettings } = await import("../state/settings.js");
  const monitor = runningMonitor(paths);
  const recorded = (() => {
    try {
      return readSettings(paths.dir)?.tmuxSocket;
    } catch {
      return undefined;
    }
  })();
  const running = new Set(await createTmux(recorded ?? socket).listSessions());
  const sessions = Object.values(status.stages).map((s) => s.session).filter((s) => running.has(s));
  if (monitor === undefined && sessions.length === 0) return undefined;
  const what = [monitor !== undefined ? `its monitor (pid ${monitor})` : "", sessions.length ? `${sessions.length === 1 ? "session" : "sessions"} ${sessions.join(", ")}` : ""].filter(Boolean).join(" and ");
  return `orchestration ${name} is still running (${what}); --fresh would take over its sessions and worktrees. Stop it first: autorun stop ${name} --sessions, then orchestrate --fresh again.`;
}

/**
 * `--fresh`: the previous run is kept as `<name>.<time>` — its directory, monitor log and report —
 * reachable by that name (`autorun report <name>.<time>`), and the new run starts clean.
 */
export function keepAside(ctx: Ctx, paths: OrchPaths, name: string, slug: string): void {
  const kept = `${name}.${new Date().toISOString().replace(/\.\d+Z$/, "").replace(/:/g, "-")}`;
  const to = orchPaths(ctx.home, kept, slug);
  renameSync(paths.dir, to.dir);
  if (existsSync(paths.monitorLog)) renameSync(paths.monitorLog, to.monitorLog);
  for (const ext of ["md", "json"]) {
    const report = join(reportsDir(ctx.home), `${name}.${ext}`);
    if (existsSync(report)) renameSync(report, join(reportsDir(ctx.home), `${kept}.${ext}`));
  }
  ctx.out(`The previous run is kept as ${kept} (autorun status ${kept}, autorun report ${kept}).`);
}
