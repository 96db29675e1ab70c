/**
 * What a person does to a running orchestration from `autorun stop` / `autorun nudge` and from the
 * dashboard's keys: one implementation for both, so both record the same events.
 */
import { createTmux } from "../adapters/tmux.js";
import { openRunHost } from "../host/remote-host.js";
import { isAlive, signal } from "../adapters/process.js";
import type { Clock } from "../core/clock.js";
import { RuntimeError } from "../errors.js";
import { rebuildStatus } from "../state/status.js";
import { appendFor, type LoadedOrchestration } from "../state/orchestration.js";
import { runningMonitor } from "./monitor-pid.js";
import { verifiedNudge, type NudgeResult } from "./nudge.js";

export interface Stopped {
  /** The monitor that was stopped, if one was running. */
  monitorPid?: number;
  /** The stages whose sessions were ended (with `sessions`), here and on hosts. */
  ended: string[];
  /** A line for each host whose sessions could not be ended. */
  unreached: string[];
}

/**
 * Stops the orchestration's monitor (SIGTERM, then up to 15 s for it to go), with `sessions` ends
 * the running stages' sessions too, and records `orchestration_stopped`.
 */
export async function stopRun(orch: LoadedOrchestration, opts: { sessions?: boolean }, clock: Clock): Promise<Stopped> {
  const pid = runningMonitor(orch.paths);
  if (pid !== undefined) {
    signal(pid, "SIGTERM");
    const deadline = clock.now() + 15_000;
    while (isAlive(pid) && clock.now() < deadline) await clock.sleep(100);
    if (isAlive(pid)) throw new RuntimeError(`the monitor (pid ${pid}) did not stop within 15 s; kill it with: kill ${pid}`);
  }
  const ended: string[] = [];
  const unreached: string[] = [];
  if (opts.sessions) {
    const tmux = createTmux(orch.config.tmuxSocket);
    const elsewhere = new Map<string, string>();
    for (const [id, s] of Object.entries(orch.status.stages)) {
      if (s.status !== "in_progress" && s.status !== "merging") continue;
      if (s.host !== undefined) elsewhere.set(id, s.host);
      else if (await tmux.killSession(s.session)) ended.push(id);
    }
    if (elsewhere.size > 0) {
      const there = await endOnHosts(orch, elsewhere);
      ended.push(...there.ended);
      unreached.push(...there.unreached);
    }
  }
  appendFor(orch.paths, orch.status, { type: "orchestration_stopped", sessions: opts.sessions === true });
  await rebuildStatus(orch.paths);
  return { ...(pid !== undefined ? { monitorPid: pid } : {}), ended, unreached };
}

/** Ends the sessions of `stages` (id → host) on their hosts, over each host's shared connection. */
async function endOnHosts(orch: LoadedOrchestration, stages: ReadonlyMap<string, string>): Promise<{ ended: string[]; unreached: string[] }> {
  const ended: string[] = [];
  const unreached: string[] = [];
  for (const host of new Set(stages.values())) {
    try {
      const there = await openRunHost({ home: orch.paths.home, projectSlug: orch.status.project_slug, config: orch.config }, host);
      if (!there) throw new Error("not configured");
      for (const [id, h] of stages) if (h === host && (await there.tmux.killSession(orch.status.stages[id]!.session))) ended.push(id);
    } catch (error) {
      unreached.push(`host ${host}: ${(error as Error).message}`);
    }
  }
  return { ended, unreached };
}

/**
 * Types `text` into stage `id`'s session, verified, and records it (`stall_continue_sent`, its
 * evidence marked `manual:`) when it was typed.
 */
export async function nudgeStage(orch: LoadedOrchestration, id: string, text: string, clock: Clock): Promise<NudgeResult> {
  const stage = orch.status.stages[id]!;
  const result = await verifiedNudge(createTmux(orch.config.tmuxSocket), stage.session, text, { clock });
  if (!result.sent) return result;
  appendFor(orch.paths, orch.status, {
    type: "stall_continue_sent",
    stage: id,
    message: text.slice(0, 500),
    verified: result.verified,
    attempt: stage.nudges + 1,
    evidence: `manual: ${result.evidence}`,
  });
  return result;
}
