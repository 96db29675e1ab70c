/**
 * What each column of a stage table shows, the same in `status` and the dashboard, and the order
 * stages are listed in (attention first). Pure.
 */
import { compareIds } from "./ids.js";
import { formatCost } from "./usage.js";
import { stageState } from "./words.js";
import type { Status, StageStatus } from "../types/schemas.js";

const ORDER: Record<string, number> = { merging: 1, in_progress: 1, pending: 2, blocked: 3, failed: 3, completed: 4 };

export function sortStages(status: Status): [string, StageStatus][] {
  return Object.entries(status.stages).sort(([a, x], [b, y]) => {
    const ax = x.attention ? 0 : (ORDER[x.status] ?? 5);
    const by = y.attention ? 0 : (ORDER[y.status] ?? 5);
    return ax - by || compareIds(a, b);
  });
}

/** A duration as people read it: `45s`, `12m 05s`, `1h 30m`, `2d 3h` (90 minutes is not "2 hours"). */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function elapsed(stage: StageStatus, now: Date): string {
  if (!stage.started_at) return "—";
  const end = stage.completed_at ? new Date(stage.completed_at) : now;
  return formatDuration(end.getTime() - new Date(stage.started_at).getTime());
}

/** Where the stage runs (or ran); before its launch, the host it is pinned to, if any. */
export function hostCell(s: StageStatus): string {
  return s.host ?? (s.started_at ? "local" : (s.settings.host ?? ""));
}

/** The run uses other hosts (a stage ran on one, or is pinned to one): only then is there a HOST column. */
export function usesHosts(stages: Readonly<Record<string, StageStatus>>): boolean {
  return Object.values(stages).some((s) => s.host !== undefined || (s.settings.host ?? "local") !== "local");
}

/** The sessions that count against a stage's attempts: every one less the free relaunches. */
export function triesUsed(s: StageStatus): number {
  return Math.max(0, s.sessions - s.free_relaunches);
}

/**
 * The sessions that count against the stage's attempts: relaunches after a person's stop or a
 * dead tmux server are free, and an adopted session is not one the run started. With `/cap` when
 * the plan sets `Max attempts`, so "2/2" says the next failure fails the stage; a person's
 * `autorun retry` starts the count again, so how often it was retried is said too.
 */
export function tries(s: StageStatus): string {
  const cap = s.settings.max_attempts;
  const used = cap === undefined ? String(triesUsed(s)) : `${triesUsed(s)}/${cap}`;
  return s.retries > 0 ? `${used} (retried ${s.retries})` : used;
}

/** Each column's cell for a stage, by its header. */
export const STAGE_CELLS = {
  STAGE: (id: string) => id,
  NAME: (_id: string, s: StageStatus) => s.name,
  STATUS: (_id: string, s: StageStatus) => stageState(s),
  ATTENTION: (_id: string, s: StageStatus) => s.attention?.replace(/_/g, " ") ?? "",
  WAVE: (_id: string, s: StageStatus) => String(s.wave),
  DEPS: (_id: string, s: StageStatus) => s.depends_on.join(",") || "-",
  ELAPSED: (_id: string, s: StageStatus, now: Date) => elapsed(s, now),
  NUDGES: (_id: string, s: StageStatus) => String(s.nudges),
  TRIES: (_id: string, s: StageStatus) => tries(s),
  COST: (_id: string, s: StageStatus) => formatCost(s.usage),
  "BRANCH/MERGE": (_id: string, s: StageStatus) => (s.status === "completed" ? (s.merge_commit?.slice(0, 10) ?? "") : s.branch),
  SESSION: (_id: string, s: StageStatus) => (s.status === "in_progress" || s.status === "merging" ? s.session : ""),
  HOST: (_id: string, s: StageStatus) => hostCell(s),
} satisfies Record<string, (id: string, s: StageStatus, now: Date) => string>;

export type StageColumn = keyof typeof STAGE_CELLS;
