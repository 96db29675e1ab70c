/**
 * What each event does to the status being folded (src/core/fold.ts): one reducer per event type,
 * and how a stage's end lets its dependants go on or blocks them. Pure.
 */
import type { AutorunEvent, StageStatus, Status } from "../types/schemas.js";
import { MERGE_ATTENTION } from "../types/constants.js";
import { dollars } from "./usage.js";

type PhaseTimes = StageStatus["phases"][string];

function emptyPhase(): PhaseTimes {
  return { started_at: null, completed_at: null };
}

export type Edit = (id: string) => StageStatus;
export type EventType = Exclude<AutorunEvent["type"], "orchestration_started">;
export type EventOf<T extends EventType> = Extract<AutorunEvent, { type: T }>;

/** What a reducer changes: the status being built, the event's stage record (already made editable), and any other stage's through `edit`. */
export interface Change<E> {
  status: Status;
  stage: StageStatus | undefined;
  edit: Edit;
  event: E;
}

/** One reducer per event type: a new type of event does not compile until the fold decides what it does. */
export type Reducers = { [T in EventType]: (change: Change<EventOf<T>>) => void };

/** An event that changes nothing but the status's last update and count (recorded for the log and the monitor). */
const nothing = (): void => undefined;

function launched({ status, stage, event }: Change<EventOf<"stage_launched">>): void {
  if (!stage) return;
  if (!event.adopted) stage.sessions += 1;
  stage.status = "in_progress";
  stage.started_at ??= event.ts;
  stage.session = event.session;
  stage.session_id = event.session_id;
  stage.attempts = Math.max(stage.attempts, event.attempt);
  stage.attention = null;
  placeOn(stage, event.host);
  launchedOn(status, event.host);
  if (status.status === "stopped") status.status = "running";
  // A stage at work is in its wave, whether or not a monitor has recorded the wave (`--no-monitor`).
  status.current_wave = Math.max(status.current_wave, stage.wave);
}

function relaunched({ status, stage, event }: Change<EventOf<"stage_relaunched">>): void {
  if (!stage) return;
  stage.sessions += 1;
  if (stage.relaunch_free) Object.assign(stage, { free_relaunches: stage.free_relaunches + 1, relaunch_free: false });
  stage.status = "in_progress";
  stage.attempts = Math.max(stage.attempts, event.attempt);
  stage.session_id = event.session_id;
  stage.attention = null;
  placeOn(stage, event.host);
  launchedOn(status, event.host);
  if (status.status === "stopped") status.status = "running";
}

/** A launch on a host that had refused one: it launches again. */
function launchedOn(status: Status, host: string | undefined): void {
  if (host === undefined || !(host in status.host_refusals)) return;
  const { [host]: _cleared, ...others } = status.host_refusals;
  status.host_refusals = others;
}

function phaseReported({ stage, event }: Change<EventOf<"phase_status">>): void {
  if (!stage) return;
  const phase: PhaseTimes = { ...(stage.phases[event.phase] ?? emptyPhase()) };
  stage.phases = { ...stage.phases, [event.phase]: phase };
  if (event.status === "start") phase.started_at ??= event.ts;
  else phase.completed_at = event.ts;
  if (event.current_phase !== undefined) phase.current_phase = event.current_phase;
  if (event.total_phases !== undefined) phase.total_phases = event.total_phases;
  if (event.plan_file) stage.plan_file = event.plan_file;
  if (event.phase === "implement" && event.status === "done") stage.implement_done = true;
  if (stage.attention === "idle" || stage.attention === "crashed" || stage.attention === "host_lost" || (stage.attention !== null && (Object.values(MERGE_ATTENTION) as string[]).includes(stage.attention))) stage.attention = null;
}

function sessionDead({ stage, event }: Change<EventOf<"session_dead">>): void {
  if (!stage || stage.status === "completed") return;
  // A lost host's session may still run there: not a crash, and `status` says what comes next.
  stage.attention = event.reason === "host_lost" ? "host_lost" : "crashed";
  if (event.exit_status !== undefined || event.last_lines !== undefined || event.signal !== undefined) {
    // Keep the last words we have: a pane can die before tmux has drawn what it printed.
    const lines = event.last_lines?.length ? event.last_lines : (stage.last_exit?.last_lines ?? []);
    stage.last_exit = { at: event.ts, exit_status: event.exit_status ?? null, signal: event.signal ?? null, last_lines: lines };
  }
}

function mergeStarted({ stage, event }: Change<EventOf<"merge_started">>): void {
  if (!stage) return;
  stage.status = "merging";
  stage.phases = { ...stage.phases, merge: { ...(stage.phases.merge ?? emptyPhase()) } };
  stage.phases.merge!.started_at ??= event.ts;
}

function mergeConflict({ stage, event }: Change<EventOf<"merge_conflict">>): void {
  if (!stage || stage.status === "completed") return;
  stage.status = "in_progress";
  stage.implement_done = false;
  stage.attention = MERGE_ATTENTION[event.reason];
  if (event.commit !== undefined && event.reason !== "checkout_overlap") stage.send_backs = [...stage.send_backs, event.commit];
}

function mergeComplete({ status, stage, event }: Change<EventOf<"merge_complete">>): void {
  if (!stage) return;
  stage.status = "completed";
  stage.completed_at = event.ts;
  stage.merge_commit = event.commit;
  stage.merge_validated = event.validated ?? null;
  stage.pending_messages = [];
  stage.attention = null;
  stage.phases = { ...stage.phases, merge: { ...(stage.phases.merge ?? emptyPhase()), completed_at: event.ts } };
  status.failed_in_row = [];
}

function messageQueued({ stage, event }: Change<EventOf<"message_queued">>): void {
  if (!stage || stage.status === "completed" || stage.pending_messages.some((m) => m.id === event.id)) return;
  stage.pending_messages = [...stage.pending_messages, { id: event.id, message: event.message, reason: event.reason, queued_at: event.ts }];
}

function retried({ status, stage, edit, event }: Change<EventOf<"stage_retried">>): void {
  if (!stage || (stage.status !== "failed" && stage.status !== "blocked")) return;
  // The plan was read again: the stage runs with its section as it is now. Its time (ELAPSED, the
  // report's duration) runs from its next launch, not across the time it sat failed.
  if (event.name !== undefined) stage.name = event.name;
  if (event.settings) stage.settings = event.settings;
  Object.assign(stage, { status: "pending", attempts: 0, sessions: 0, free_relaunches: 0, relaunch_free: false, failure_reason: null, attention: null, started_at: null, completed_at: null, implement_done: false, nudges: 0, session_id: null, send_backs: [], retries: stage.retries + 1, model: stage.settings.model ?? null, over_budget: false });
  // In a fresh worktree the agent starts over: what it reported of its phases and plan is gone with the old one.
  if (event.fresh_worktree) Object.assign(stage, { phases: {}, plan_file: null });
  goesOn(status, event.stage, edit);
}

/** Finished by a person: its dependants go on (with its work in the base, or without it). */
function finishedByPerson({ status, stage, edit, event }: Change<EventOf<"stage_done_by_person" | "stage_skipped">>): void {
  if (!stage || stage.status === "completed") return;
  const done = event.type === "stage_done_by_person";
  Object.assign(stage, { status: "completed", completed_at: event.ts, finished_by: done ? "person" : "skipped", merge_commit: done ? (event.commit ?? null) : null, attention: null, pending_messages: [], failure_reason: null, implement_done: false });
  goesOn(status, event.stage, edit);
}

function filesKept({ stage, event }: Change<EventOf<"stage_files_kept">>): void {
  if (!stage) return;
  stage.kept_files = event.dir;
  stage.kept_dropped = event.dropped ?? [];
  if (event.plan_file) stage.plan_file = event.plan_file;
}

function failed({ status, stage, edit, event }: Change<EventOf<"stage_failed">>): void {
  // A merged stage stays merged, whatever a confused writer says afterwards.
  if (!stage || stage.status === "completed") return;
  stage.status = "failed";
  stage.failure_reason = event.reason;
  stage.completed_at = event.ts;
  status.failed_in_row = [...status.failed_in_row.filter((id) => id !== event.stage), event.stage];
  blockDependants(status, event.stage, edit);
}

function escalated({ stage, event }: Change<EventOf<"stage_escalated">>): void {
  if (!stage || stage.status === "completed") return;
  // A new start with the next model: its own relaunch budget, and whatever it was waiting on is moot.
  Object.assign(stage, { model: event.model, attempts: 0, attention: null, nudges: 0, status: stage.status === "failed" ? "in_progress" : stage.status, failure_reason: null, completed_at: null });
}

function budgetExceeded({ status, stage, edit, event }: Change<EventOf<"budget_exceeded">>): void {
  if (stage) {
    stage.over_budget = true;
    if (stage.status === "in_progress" || stage.status === "merging") stage.attention = "budget";
    if (event.stopped && stage.status === "in_progress") stage.relaunch_free = true;
    return;
  }
  status.hold = { kind: "budget", since: event.ts, reason: `the run spent ${dollars(event.spent_usd)} of its ${dollars(event.limit_usd)} budget` };
  for (const [id, s] of Object.entries(status.stages)) {
    if (s.status !== "in_progress") continue;
    const e = edit(id);
    if (e.attention === null || e.attention === "idle") e.attention = "budget";
    if (event.stopped) e.relaunch_free = true;
  }
}

function budgetRaised({ status, edit, event }: Change<EventOf<"budget_raised">>): void {
  if (event.scope === "run") {
    status.budget_usd = event.limit_usd;
    if (status.hold?.kind === "budget") status.hold = null;
    for (const [id, s] of Object.entries(status.stages)) if (s.attention === "budget" && !s.over_budget) edit(id).attention = null;
  } else {
    status.stage_budget_usd = event.limit_usd;
    for (const [id, s] of Object.entries(status.stages)) {
      // A finished stage stays reported over budget: raising the limit lets nothing go on there.
      if (!s.over_budget || s.status === "completed" || s.status === "failed") continue;
      const e = edit(id);
      e.over_budget = false;
      if (e.attention === "budget" && status.hold?.kind !== "budget") e.attention = null;
    }
  }
  if (status.status === "failed" || status.status === "stopped") status.status = "running";
}

export const REDUCERS: Reducers = {
  stage_launched: launched,
  stage_relaunched: relaunched,
  phase_status: phaseReported,
  stage_needs_permission: ({ stage }) => {
    if (stage) stage.attention = "permission";
  },
  stall_continue_sent: ({ stage }) => {
    if (stage) stage.nudges += 1;
  },
  stage_attention: ({ stage, event }) => {
    if (stage) stage.attention = event.attention;
  },
  prompt_submitted: ({ stage }) => {
    if (stage && (stage.attention === "idle" || stage.attention === "permission" || stage.attention === "question")) stage.attention = null;
  },
  rate_limited: ({ status, edit, event }) => {
    status.paused_until = event.resets_at;
    for (const [id, s] of Object.entries(status.stages)) if (s.status === "in_progress" && s.attention === null) edit(id).attention = "rate_limited";
  },
  rate_limit_cleared: ({ status, edit }) => {
    status.paused_until = null;
    for (const [id, s] of Object.entries(status.stages)) if (s.attention === "rate_limited") edit(id).attention = null;
  },
  session_dead: sessionDead,
  merge_started: mergeStarted,
  merge_conflict: mergeConflict,
  merge_complete: mergeComplete,
  message_queued: messageQueued,
  message_delivered: ({ stage, event }) => {
    if (stage) stage.pending_messages = stage.pending_messages.filter((m) => m.id !== event.id);
  },
  stage_retried: retried,
  stage_done_by_person: finishedByPerson,
  stage_skipped: finishedByPerson,
  usage_recorded: ({ stage, event }) => {
    if (stage) stage.usage = event.usage;
  },
  permissions_proposed: ({ stage, event }) => {
    if (stage) stage.proposed_rules = event.rules;
  },
  permissions_learned: ({ status, stage, event }) => {
    status.allowed_tools = [...new Set([...status.allowed_tools, ...event.rules])];
    if (stage) stage.proposed_rules = [];
  },
  stage_files_kept: filesKept,
  stage_failed: failed,
  stage_escalated: escalated,
  budget_exceeded: budgetExceeded,
  budget_raised: budgetRaised,
  host_launch_failed: ({ status, event }) => {
    const since = status.host_refusals[event.host]?.since ?? event.ts;
    status.host_refusals = { ...status.host_refusals, [event.host]: { since, reason: event.reason } };
  },
  circuit_open: ({ status, event }) => {
    status.hold = { kind: "circuit", since: event.ts, reason: `${event.failed.length} stage${event.failed.length === 1 ? "" : "s"} failed in a row (${event.failed.join(", ")})` };
  },
  circuit_closed: ({ status }) => {
    if (status.hold?.kind === "circuit") status.hold = null;
    status.failed_in_row = [];
  },
  wave_started: ({ status, event }) => {
    status.current_wave = Math.max(status.current_wave, event.wave);
  },
  // A review filed about a specific problem (a refused merge, a permission prompt) keeps that attention.
  review_requested: ({ stage }) => {
    if (stage && stage.attention === null) stage.attention = "review";
  },
  review_answered: ({ stage, event }) => {
    if (stage && stage.attention === "review") stage.attention = null;
    // The answer to a permissions review that kept none of them (`keep` records permissions_learned).
    if (stage && event.action === "drop") stage.proposed_rules = [];
  },
  review_resolved: ({ stage }) => {
    if (stage && stage.attention === "review") stage.attention = null;
  },
  monitor_started: ({ status, event }) => {
    status.monitor_pid = event.pid;
    if (status.status === "stopped") status.status = "running";
  },
  monitor_stopped: ({ status, event }) => {
    if (status.monitor_pid === event.pid) status.monitor_pid = null;
  },
  orchestration_stopped: ({ status, edit, event }) => {
    if (status.status === "running") status.status = "stopped";
    if (event.sessions) for (const [id, s] of Object.entries(status.stages)) if (s.status === "in_progress") edit(id).relaunch_free = true;
  },
  orchestration_resumed: ({ status, edit, event }) => {
    for (const id of event.relaunch) if (status.stages[id]?.status === "in_progress") edit(id).relaunch_free = true;
  },
  orchestration_complete: ({ status, event }) => {
    status.status = event.status;
    status.completed_at = event.ts;
  },
  agent_stop_failed: nothing,
  agent_stopped: nothing,
  permission_answered: nothing,
  permission_hook_answered: nothing,
  session_ended: nothing,
  session_started: nothing,
  stage_idle: nothing,
  stall_detected: nothing,
  wave_complete: nothing,
};

/** Stage `id` no longer counts as failed (retried, or finished by a person): its dependants and a failed run go on. */
function goesOn(status: Status, id: string, edit: Edit): void {
  status.failed_in_row = status.failed_in_row.filter((f) => f !== id);
  unblock(status, edit);
  if (status.status === "failed") {
    status.status = "running";
    status.completed_at = null;
  }
}

/** Blocked stages none of whose dependencies (transitively) has failed any more go back to pending. */
function unblock(status: Status, edit: Edit): void {
  const failedBelow = (id: string, seen = new Set<string>()): boolean => {
    if (seen.has(id)) return false;
    seen.add(id);
    const s = status.stages[id];
    return !!s && (s.status === "failed" || s.depends_on.some((d) => failedBelow(d, seen)));
  };
  for (const [id, s] of Object.entries(status.stages)) {
    if (s.status === "blocked" && !s.depends_on.some((d) => failedBelow(d))) {
      const e = edit(id);
      e.status = "pending";
      e.failure_reason = null;
    }
  }
}

function blockDependants(status: Status, failed: string, edit: Edit): void {
  const queue = [failed];
  while (queue.length > 0) {
    const id = queue.shift()!;
    for (const [otherId, other] of Object.entries(status.stages)) {
      if (other.depends_on.includes(id) && other.status === "pending") {
        const e = edit(otherId);
        e.status = "blocked";
        e.failure_reason = `dependency ${failed} failed`;
        queue.push(otherId);
      }
    }
  }
}

/** The host a (re)launch put the stage on; none: this machine. */
function placeOn(stage: Status["stages"][string], host: string | undefined): void {
  if (host === undefined) delete stage.host;
  else stage.host = host;
}
