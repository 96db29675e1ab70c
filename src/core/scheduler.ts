/** What may run next, and whether the orchestration is over. Pure, over a folded status. */
import { compareIds } from "./ids.js";
import type { Status } from "../state/schemas.js";

const ACTIVE = new Set(["in_progress", "merging"]);

/** Stages to launch now: all deps completed, within `max_parallel`, wave barriers when asked. */
export function stagesToLaunch(status: Status): string[] {
  const stages = status.stages;
  let running = Object.values(stages).filter((s) => ACTIVE.has(s.status)).length;
  const ready = Object.entries(stages)
    .filter(([, s]) => s.status === "pending" && s.depends_on.every((d) => stages[d]?.status === "completed"))
    .map(([id]) => id)
    .sort((a, b) => (stages[a]!.wave - stages[b]!.wave) || compareIds(a, b));
  const out: string[] = [];
  for (const id of ready) {
    if (running >= status.max_parallel) break;
    if (status.schedule === "waves") {
      const wave = stages[id]!.wave;
      const earlierOpen = Object.values(stages).some((s) => s.wave < wave && s.status !== "completed");
      if (earlierOpen) continue;
    }
    out.push(id);
    running++;
  }
  return out;
}

export type Outcome = { done: false } | { done: true; status: "completed" | "failed"; reason: string };

/** Completed when every stage is; failed when nothing runs and nothing more can start. */
export function outcome(status: Status): Outcome {
  const all = Object.values(status.stages);
  if (all.every((s) => s.status === "completed")) return { done: true, status: "completed", reason: "every stage merged" };
  if (all.some((s) => ACTIVE.has(s.status))) return { done: false };
  const launchable = all.some((s) => s.status === "pending" && s.depends_on.every((d) => status.stages[d]?.status === "completed"));
  if (launchable) return { done: false };
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
