/** `autorun monitor <plan>` (foreground; the background monitor is this same command, detached). */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { constants } from "node:os";
import { watch } from "chokidar";
import { createTmux } from "../adapters/tmux.js";
import { isAlive, onStopSignal, processStartTime, runNotify, spawnDetached } from "../adapters/process.js";
import { packageRoot } from "../adapters/agent.js";
import { appendFor } from "../state/orchestration.js";
import { monitorLogger } from "../state/monitor-log.js";
import { acquirePid, readPid, releasePid } from "../state/pidfile.js";
import type { OrchPaths } from "../state/paths.js";
import type { Config } from "../state/config.js";
import type { AutorunEvent } from "../types/schemas.js";
import { Monitor } from "../monitor/controller.js";
import { MonitorLoop } from "../monitor/loop.js";
import type { Ctx } from "./ctx.js";
import { resolveOrchestration } from "../state/orchestration.js";
import { isMonitorOf, runningMonitor } from "../monitor/monitor-pid.js";
import { RuntimeError, UserError } from "../errors.js";
import { eventText } from "../core/words.js";

export interface MonitorOptions {
  once?: boolean;
}

export async function runMonitor(ctx: Ctx, plan: string, opts: MonitorOptions): Promise<number> {
  const orch = resolveOrchestration(ctx, plan);
  const { paths, config } = orch;
  const detached = ctx.env.AUTORUN_MONITOR_DETACHED === "1";
  const log = monitorLogger(paths, detached ? undefined : { out: ctx.out, stamped: true });
  const tmux = createTmux(config.tmuxSocket);
  const notify = makeNotifier(config, tmux, log);
  // A pass may ask for another one (a merge finished, a stall falls due); the loop comes later.
  const loopRef: { current?: MonitorLoop } = {};
  const wake = (afterMs?: number): void => {
    if (afterMs === undefined) loopRef.current?.kick();
    else setTimeout(() => loopRef.current?.kick(), afterMs).unref();
  };
  const monitor = Monitor.open({ paths, config, tmux, clock: ctx.clock, log, notify, wake });
  if (!monitor) throw new RuntimeError(`${paths.events} has no start event; start the plan again with autorun orchestrate.`);

  if (opts.once) {
    const held = runningMonitor(paths);
    if (held !== undefined && held !== process.pid) throw new UserError(`a monitor (pid ${held}) is running for ${orch.status.plan_name}; --once would race it. Stop it first: autorun stop ${orch.status.plan_name}`);
    const r = await monitor.pass();
    await monitor.settle();
    await finish(ctx, paths, r.done);
    return r.done ? r.code : 0;
  }

  const got = await acquirePid(paths.pid, process.pid, (pid) => isMonitorOf(paths, pid), processStartTime(process.pid));
  if (!got.ok) {
    ctx.out(`A monitor (pid ${got.holder}) is already running for ${orch.status.plan_name}.`);
    return 0;
  }
  // The monitor before this one started and never said it stopped: killed (SIGKILL, the OOM
  // killer) or its machine went down. Said, so the log shows the gap; the events lose nothing.
  const before = monitor.status.monitor_pid;
  if (before !== null && before !== process.pid) log(`the monitor before this one (pid ${before}) ended without stopping: killed, or its machine went down; this one goes on from the events`);
  appendFor(paths, orch.status, { type: "monitor_started", pid: process.pid });
  log(`monitor started (pid ${process.pid}) for ${orch.status.plan_name}; watching ${paths.events}`);
  // A monitor that ends any other way than through the loop's stop says so (it left no
  // monitor_stopped): the next person reading the log knows it did not stop by choice.
  let stopped = false;
  process.once("exit", (code) => {
    if (!stopped) log(`monitor exiting (code ${code}) without stopping cleanly; \`autorun resume ${orch.status.plan_name}\` starts a new one`);
  });

  const loop = (loopRef.current = new MonitorLoop({
    monitor,
    watch: (onChange) => watch(paths.events, { persistent: true, ignoreInitial: true, usePolling: false }).on("change", onChange).on("add", onChange),
    every: (ms, fn) => {
      const timer = setInterval(fn, ms);
      return () => clearInterval(timer);
    },
    pollMs: config.pollSeconds * 1000,
    owned: () => readPid(paths.pid) === process.pid && !monitor.replaced(),
    finished: () => finish(ctx, paths, true),
    release: async (reason) => {
      try {
        appendFor(paths, orch.status, { type: "monitor_stopped", pid: process.pid, reason });
        monitor.ingest();
        await monitor.writeStatus().catch(() => undefined);
      } finally {
        // Logged before the pid file goes: whoever sees no monitor (logs -f) has its last line.
        log(`monitor stopped (${reason})`);
        releasePid(paths.pid, process.pid);
      }
    },
    log,
    debug: Boolean(ctx.env.AUTORUN_DEBUG),
  }));
  // A signal stops it the same way, and the exit status says which (128 + the signal's number).
  onStopSignal(["SIGTERM", "SIGINT"], (sig) => {
    // In a terminal, say what Ctrl-C leaves running and how to go on or end it.
    if (sig === "SIGINT" && !detached) {
      const name = orch.status.plan_name;
      ctx.err(`autorun: the monitor stops; the stage sessions keep running. Go on in the background: autorun resume ${name}; end them too: autorun stop ${name} --sessions`);
    }
    void loop.stop(128 + constants.signals[sig], `received ${sig}`);
  });
  process.on("SIGHUP", () => undefined);
  const code = await loop.run();
  stopped = true;
  return code;
}

async function finish(ctx: Ctx, paths: OrchPaths, done: boolean): Promise<void> {
  // The report's module is loaded only at the end: a monitor that runs for hours does not carry it.
  if (done) await (await import("./report.js")).writeReport(ctx, paths).catch(() => undefined);
}

/** The notice in attached tmux clients: what happened in the log's words ("nothing to merge", not "merge conflict"). */
export function noticeText(event: AutorunEvent): string {
  return `autorun ${event.plan_name}${event.stage ? ` stage ${event.stage}` : ""}: ${eventText(event)}`;
}

function makeNotifier(config: Config, tmux: ReturnType<typeof createTmux>, log: (m: string) => void) {
  return async (event: AutorunEvent) => {
    const what = noticeText(event);
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
  const cli = join(packageRoot(), "dist", "src", "cli.js");
  const planName = paths.dir.split("/").pop()!;
  mkdirSync(dirname(paths.monitorLog), { recursive: true, mode: 0o700 });
  const env = { ...ctx.env, AUTORUN_HOME: paths.home, AUTORUN_MONITOR_DETACHED: "1" };
  // A daemon with a small working set: a small young generation keeps its memory small too
  // (V8's default lets it grow to tens of MiB between collections).
  const pid = spawnDetached([process.execPath, "--max-semi-space-size=1", cli, "monitor", planName], paths.monitorLog, env, ctx.cwd);
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
