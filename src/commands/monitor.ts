/** `autorun monitor <plan>` (foreground; the background monitor is this same command, detached). */
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { watch } from "chokidar";
// date-fns by function: its package root loads every function (~150 ms).
import { format } from "date-fns/format";
import { createTmux } from "../adapters/tmux.js";
import { isAlive, runNotify, spawnDetached } from "../adapters/process.js";
import { appendFor } from "../state/orchestration.js";
import { acquirePid, readPid, releasePid } from "../state/pidfile.js";
import type { OrchPaths } from "../state/paths.js";
import type { Config } from "../state/config.js";
import type { AutorunEvent } from "../state/schemas.js";
import { Monitor } from "../monitor/controller.js";
import { realClock } from "../monitor/nudge.js";
import { writeReport } from "./report.js";
import { resolveOrchestration, type Ctx } from "./context.js";
import { isMonitorOf, runningMonitor } from "./monitor-pid.js";
import { RuntimeError } from "../errors.js";
import { printable } from "../core/printable.js";

export interface MonitorOptions {
  once?: boolean;
}

export function monitorLogger(paths: OrchPaths, echo?: (line: string) => void): (msg: string) => void {
  mkdirSync(dirname(paths.monitorLog), { recursive: true, mode: 0o700 });
  return (msg: string) => {
    const line = `${format(new Date(), "yyyy-MM-dd HH:mm:ss")} [${paths.dir.split("/").pop()}] ${printable(msg)}`;
    try {
      appendFileSync(paths.monitorLog, line + "\n", { mode: 0o600 });
    } catch {
      // The log is for people; a full disk must not stop the monitor.
    }
    echo?.(line);
  };
}

export async function runMonitor(ctx: Ctx, plan: string, opts: MonitorOptions): Promise<number> {
  const orch = resolveOrchestration(ctx, plan);
  const { paths, config } = orch;
  const detached = ctx.env.AUTORUN_MONITOR_DETACHED === "1";
  const log = monitorLogger(paths, detached ? undefined : ctx.out);
  const tmux = createTmux(config.tmuxSocket);
  const notify = makeNotifier(config, tmux, log);
  let kickNow = (): void => undefined;
  const wake = (afterMs?: number): void => {
    if (afterMs === undefined) kickNow();
    else setTimeout(() => kickNow(), afterMs).unref();
  };
  const monitor = new Monitor({ paths, config, tmux, clock: realClock, log, notify, wake });

  if (opts.once) {
    const held = runningMonitor(paths);
    if (held !== undefined && held !== process.pid) throw new RuntimeError(`a monitor (pid ${held}) is running for ${orch.status.plan_name}; --once would race it. Stop it first: autorun stop ${orch.status.plan_name}`);
    const r = await monitor.pass();
    await monitor.settle();
    await finish(ctx, paths, r.done);
    return r.done ? r.code : 0;
  }

  const got = await acquirePid(paths.pid, process.pid, (pid) => isMonitorOf(paths, pid));
  if (!got.ok) {
    ctx.out(`A monitor (pid ${got.holder}) is already running for ${orch.status.plan_name}.`);
    return 0;
  }
  appendFor(paths, orch.status, { type: "monitor_started", pid: process.pid });
  log(`monitor started (pid ${process.pid}) for ${orch.status.plan_name}; watching ${paths.events}`);

  return await new Promise<number>((resolveRun) => {
    let running = false;
    let again = false;
    let stopped = false;
    const watcher = watch(paths.events, { persistent: true, ignoreInitial: true, usePolling: false });
    const timer = setInterval(() => kick(), config.pollSeconds * 1000);
    const stop = async (code: number, reason: string) => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await watcher.close().catch(() => undefined);
      // Never leave git half-way through a merge in the user's repository.
      await monitor.settle().catch(() => undefined);
      try {
        appendFor(paths, orch.status, { type: "monitor_stopped", pid: process.pid, reason });
        monitor.ingest();
        await monitor.writeStatus().catch(() => undefined);
      } finally {
        releasePid(paths.pid, process.pid);
      }
      log(`monitor stopped (${reason})`);
      resolveRun(code);
    };
    const kick = () => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      void (async () => {
        try {
          do {
            again = false;
            // Still ours? Another monitor took the pid file, or the orchestration was removed or
            // replaced under us (events.jsonl shorter than what we have read): stop, touch nothing.
            if (readPid(paths.pid) !== process.pid || monitor.replaced()) {
              log("this monitor no longer owns the orchestration (pid file or events.jsonl replaced); stopping");
              stopped = true;
              clearInterval(timer);
              await watcher.close().catch(() => undefined);
              resolveRun(1);
              return;
            }
            const r = await monitor.pass();
            if (r.done) {
              await finish(ctx, paths, true);
              await stop(r.code, r.code === 0 ? "orchestration complete" : "nothing more can run");
              return;
            }
          } while (again && !stopped);
        } catch (error) {
          log(`monitor pass failed: ${(error as Error).message}`);
          if (ctx.env.AUTORUN_DEBUG) log((error as Error).stack ?? "");
        } finally {
          running = false;
        }
      })();
    };
    watcher.on("change", kick).on("add", kick);
    kickNow = kick;
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => void stop(0, `received ${sig}`));
    process.on("SIGHUP", () => undefined);
    kick();
  });
}

async function finish(ctx: Ctx, paths: OrchPaths, done: boolean): Promise<void> {
  if (done) await writeReport(ctx, paths).catch(() => undefined);
}

function makeNotifier(config: Config, tmux: ReturnType<typeof createTmux>, log: (m: string) => void) {
  return async (event: AutorunEvent) => {
    const what = `autorun ${event.plan_name}${event.stage ? ` stage ${event.stage}` : ""}: ${event.type.replace(/_/g, " ")}`;
    await tmux.displayMessage(what).catch(() => undefined);
    if (config.notifyCommand) {
      const r = await runNotify(config.notifyCommand, JSON.stringify(event));
      if (!r.ok) log(`notifyCommand failed: ${r.detail}`);
    }
  };
}

/** Starts the monitor in its own process group (or returns the pid of the one running). */
export async function startMonitorDetached(ctx: Ctx, paths: OrchPaths): Promise<number> {
  const existing = runningMonitor(paths);
  if (existing !== undefined) return existing;
  const cli = fileURLToPath(new URL("../cli.js", import.meta.url));
  const planName = paths.dir.split("/").pop()!;
  mkdirSync(dirname(paths.monitorLog), { recursive: true, mode: 0o700 });
  const env = { ...ctx.env, AUTORUN_HOME: paths.home, AUTORUN_MONITOR_DETACHED: "1" };
  const pid = spawnDetached([process.execPath, cli, "monitor", planName], paths.monitorLog, env, ctx.cwd);
  // Wait until it holds the pid file, so the summary is true when printed.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const held = runningMonitor(paths);
    if (held !== undefined) return held;
    if (!isAlive(pid)) throw new RuntimeError(`the monitor exited at start; see ${paths.monitorLog}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return pid;
}
