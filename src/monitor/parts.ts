/**
 * What the monitor's parts (attention, stalls, liveness, controls, reviews, merges, usage) are
 * given: the monitor's injected dependencies and a narrow view of the run. This module sits below
 * every part and below the controller, so no part imports its caller. The controller builds the
 * view from closures; a part keeps its own per-stage memory and is handed only what it uses.
 */
import type { Tmux } from "../adapters/tmux.js";
import type { OrchPaths } from "../state/paths.js";
import type { Config } from "../state/config.js";
import type { AutorunEvent, EventBody, Status } from "../types/schemas.js";
import type { Clock } from "../core/clock.js";
import type { RunHosts } from "./run-hosts.js";

export interface MonitorDeps {
  paths: OrchPaths;
  config: Config;
  tmux: Tmux;
  clock: Clock;
  log: (msg: string) => void;
  /** Called for events people should hear about (notifyCommand, tmux message). */
  notify?: (event: AutorunEvent) => Promise<void>;
  /**
   * Asks for another pass now, or after `afterMs` (a background merge finished, a stall falls due),
   * instead of at the next safety-net tick. The timer must not keep a stopping monitor alive.
   */
  wake?: (afterMs?: number) => void;
  /** A run that uses other hosts (set by the monitor itself; `tmux` then routes to each stage's host). */
  hosts?: RunHosts;
  /** Claude Code's config dir for the agents started here (their transcripts are under its projects/); default from the environment. */
  claudeDir?: string;
}

export type StageRecord = Status["stages"][string];

/** The run as a part sees it: the folded status, and the one way to record what it did. */
export interface RunView {
  readonly deps: MonitorDeps;
  /** The folded status as of the last read of events.jsonl. */
  readonly status: Status;
  /** Stages in progress, in plan order. */
  inProgress(): [string, StageRecord][];
  /** Folds in events written since the last read (merges append their own, in the background). */
  ingest(): void;
  /** Appends an event (with the orchestration's identity) and folds it in at once. */
  emit(event: EventBody): void;
}

export interface ReviewQuestion {
  topic: string;
  question: string;
}

/** The monitor's own reviews, as the parts that file them see them. */
export interface ReviewDesk {
  /** A review about condition `key` of stage `id`, or (undefined) of the whole run. */
  file(on: { id: string | undefined; key?: string; about?: string }, title: string, context: string, questions: ReviewQuestion[]): Promise<void>;
  /** What the open review about `key` of stage `id` was filed about (`about`), if anything. */
  aboutOf(id: string, key: string): string | undefined;
  /** Resolves the open review about `key` of stage `id` now, saying why, so a new one can be filed. */
  replace(id: string, key: string, reason: string): Promise<void>;
  /** A review about `key` of stage `id` was filed and is not to be filed again. */
  filed(id: string, key: string): boolean;
  /** Marks `key` of stage `id` as filed before its review is written (one review per condition). */
  claim(id: string, key: string): void;
  /** Forgets that `key` of stage `id` was filed, so it may be filed again (its review stays open until resolved). */
  release(id: string, key: string): void;
  /** A review about `key` of stage `id` is open. */
  isOpen(id: string, key: string): boolean;
  /** The open reviews about `keys` of stage `id` (undefined: the run) are to be marked resolved at the next pass. */
  resolveLater(id: string | undefined, keys: (key: string) => boolean, reason: string): void;
}

/** What a part keeps of stage `id` in `memory`, made by `fresh` the first time it is asked for. */
export function memoryOf<T>(memory: Map<string, T>, id: string, fresh: () => T): T {
  let m = memory.get(id);
  if (!m) memory.set(id, (m = fresh()));
  return m;
}
