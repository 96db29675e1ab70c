/** What may run next, and whether the orchestration is over. Pure, over a folded status. */
import { compareIds } from "./ids.js";
import type { Status } from "../types/schemas.js";

const ACTIVE = new Set(["in_progress", "merging"]);

/**
 * Stages to launch now: all deps completed, within `max_parallel`, wave barriers when asked, no
 * exclusive resource held by a running stage, and nothing at all while the run is on hold (its
 * budget spent, or the circuit breaker open).
 */
export function stagesToLaunch(status: Status): string[] {
  if (status.hold) return [];
  const stages = status.stages;
  let running = Object.values(stages).filter((s) => ACTIVE.has(s.status)).length;
  const held = new Set(resourceHolders(status).keys());
  const out: string[] = [];
  for (const id of readyStages(status)) {
    if (running >= status.max_parallel) break;
    if (status.schedule === "waves") {
      const wave = stages[id]!.wave;
      const earlierOpen = Object.values(stages).some((s) => s.wave < wave && s.status !== "completed");
      if (earlierOpen) continue;
    }
    const needs = stages[id]!.settings.exclusive_resources ?? [];
    if (needs.some((r) => held.has(r))) continue;
    for (const r of needs) held.add(r);
    out.push(id);
    running++;
  }
  return out;
}

/** Pending stages whose dependencies have all merged, in launch order (wave, then id). */
function readyStages(status: Status): string[] {
  const stages = status.stages;
  const done = finishedFor(status);
  return Object.entries(stages)
    .filter(([, s]) => s.status === "pending" && s.depends_on.every(done))
    .map(([id]) => id)
    .sort((a, b) => (stages[a]!.wave - stages[b]!.wave) || compareIds(a, b));
}

/**
 * Whether a stage counts as finished for those that depend on it: completed and, when a person
 * finished or skipped it (perhaps before it ever ran), its own dependencies too. So a stage marked
 * done while the stage before it still works does not let the stage after it start early: that
 * one builds on the whole chain its plan wrote.
 */
function finishedFor(status: Status): (id: string) => boolean {
  const known = new Map<string, boolean>();
  const done = (id: string): boolean => {
    const s = status.stages[id];
    if (!s) return false;
    let answer = known.get(id);
    if (answer === undefined) {
      known.set(id, false); // a cycle (never in a checked plan) counts as not finished
      answer = s.status === "completed" && (s.finished_by === null || s.depends_on.every(done));
      known.set(id, answer);
    }
    return answer;
  };
  return done;
}

/** The exclusive resources running (or merging) stages hold, and which stage holds each. */
function resourceHolders(status: Status): Map<string, string> {
  const holders = new Map<string, string>();
  for (const [id, s] of Object.entries(status.stages)) if (ACTIVE.has(s.status)) for (const r of s.settings.exclusive_resources ?? []) holders.set(r, id);
  return holders;
}

/** Why a ready stage is not running: the resources running stages hold that it needs. */
export function waitingForResources(status: Status): Map<string, { resource: string; holder: string }> {
  const holders = resourceHolders(status);
  const out = new Map<string, { resource: string; holder: string }>();
  for (const id of readyStages(status)) {
    const r = (status.stages[id]!.settings.exclusive_resources ?? []).find((x) => holders.has(x));
    if (r) out.set(id, { resource: r, holder: holders.get(r)! });
  }
  return out;
}

/** Why a pending stage pinned to a host is not running: that host's last launch failed (the run's `host_refusals`). */
export function waitingForHosts(status: Status): Map<string, { host: string; reason: string }> {
  const out = new Map<string, { host: string; reason: string }>();
  for (const [id, s] of Object.entries(status.stages)) {
    const host = s.settings.host;
    const refused = s.status === "pending" && host !== undefined ? status.host_refusals[host] : undefined;
    if (refused) out.set(id, { host: host!, reason: refused.reason });
  }
  return out;
}

export type Outcome = { done: false } | { done: true; status: "completed" | "failed"; reason: string };

/** Completed when every stage is; failed when nothing runs and nothing more can start. */
export function outcome(status: Status): Outcome {
  const all = Object.values(status.stages);
  if (all.every((s) => s.status === "completed")) {
    const skipped = Object.entries(status.stages).filter(([, s]) => s.finished_by === "skipped").map(([id]) => id);
    return { done: true, status: "completed", reason: skipped.length ? `every stage merged but ${skipped.join(", ")}, skipped by a person` : "every stage merged" };
  }
  if (all.some((s) => ACTIVE.has(s.status))) return { done: false };
  // A run on hold waits for a person (a raised budget, a closed circuit), not for nothing.
  if (readyStages(status).length > 0) return { done: false };
  const failed = Object.entries(status.stages).filter(([, s]) => s.status === "failed").map(([id]) => id);
  const blocked = Object.entries(status.stages).filter(([, s]) => s.status === "blocked" || s.status === "pending").map(([id]) => id);
  return { done: true, status: "failed", reason: `nothing more can run: failed ${failed.join(", ") || "none"}; blocked ${blocked.join(", ") || "none"}` };
}

/** Waves that have started (a stage left pending) and waves whose stages all completed. */
export function waveProgress(status: Status): { started: number[]; complete: number[] } {
  const started: number[] = [];
  const complete: number[] = [];
  status.waves.forEach((ids, i) => {
    const ss = ids.map((id) => status.stages[id]).filter((s) => s !== undefined);
    if (ss.some((s) => s.status !== "pending" && s.status !== "blocked")) started.push(i + 1);
    if (ss.length > 0 && ss.every((s) => s.status === "completed")) complete.push(i + 1);
  });
  return { started, complete };
}
