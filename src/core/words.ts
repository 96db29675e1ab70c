/**
 * One vocabulary for people, shared by `status`, the dashboard, the demo and the report: where a
 * stage is in its work, and what an event means, in words rather than field names. Pure.
 */
import type { AutorunEvent, StageStatus, Status } from "../types/schemas.js";
import { dollars, formatCost } from "./usage.js";
import { stagesList } from "./printable.js";

const DOING: Record<string, string> = { triage: "triage", research: "researching", create_plan: "planning", implement: "implementing", merge: "merging" };
const DONE: Record<string, string> = { triage: "triaged", research: "researched", create_plan: "planned", implement: "implemented", merge: "merged" };

/** A phase as work under way (`planning`) or finished (`planned`). */
function phaseWord(phase: string, done = false): string {
  return (done ? DONE : DOING)[phase] ?? phase.replace(/_/g, " ");
}

/** Where a stage is in its work: `implementing 2/3`, `planning`, `planned`, `handed over`, `merging`, `merged`, `—`. */
export function phaseOf(stage: StageStatus): string {
  if (stage.status === "completed") return stage.finished_by === "skipped" ? "skipped" : stage.finished_by === "person" ? "done by hand" : stage.done_in_plan ? "done before" : "merged";
  if (stage.status === "merging") return "merging";
  if (stage.status !== "in_progress") return "—";
  if (stage.implement_done) return "handed over";
  // Its session was ended (`stop --sessions`, a budget's stop), to be relaunched when the run goes on.
  if (stage.relaunch_free) return "stopped";
  let latest: [string, StageStatus["phases"][string]] | undefined;
  for (const entry of Object.entries(stage.phases)) {
    if (entry[0] === "merge" || !entry[1].started_at) continue;
    if (!latest || entry[1].started_at >= latest[1].started_at!) latest = entry;
  }
  if (!latest) return "starting";
  const [name, p] = latest;
  if (name === "implement") return `implementing${p.current_phase !== undefined ? ` ${p.current_phase}/${p.total_phases ?? "?"}` : ""}`;
  return phaseWord(name, p.completed_at !== null && p.completed_at >= p.started_at!);
}

/**
 * A stage's state in one word or two, the same in `status`, the dashboard and the report: where a
 * running stage is in its work (`implementing 2/3`, `handed over`, `merging`; `stopped` when its
 * session was ended, to be relaunched when the run goes on), else `merged`,
 * `done before`, `pending`, `blocked` or `failed`. (status.json keeps the status field itself.)
 */
export function stageState(stage: StageStatus): string {
  return stage.status === "pending" || stage.status === "blocked" || stage.status === "failed" ? stage.status : phaseOf(stage);
}

/** "1 needs attention", "3 need attention". */
export function needAttention(count: number): string {
  return `${count} ${count === 1 ? "needs" : "need"} attention`;
}

/** The command that lifts a run's hold: a spent budget needs a new one; a person who looked resumes. */
export function liftHoldCommand(hold: NonNullable<Status["hold"]>, name: string): string {
  return `autorun resume ${name}${hold.kind === "budget" ? " --budget <dollars>" : ""}`;
}

const MERGE_REFUSAL: Record<string, string> = {
  conflict: "merge conflict",
  validate_failed: "check failed on the merge",
  no_commits: "nothing to merge",
  checkout_overlap: "merge waits on your checkout",
  dirty_root: "merge waits on your checkout",
  wrong_branch: "merge waits on your checkout",
  untracked_overwrite: "merge waits on your checkout",
  guarded_files: "changes the run's checks or rights: a person merges it",
};

/** Each event type's few words; a new event type does not compile until it has them. */
const EVENT_WORDS: { [T in AutorunEvent["type"]]: (e: Extract<AutorunEvent, { type: T }>) => string } = {
  orchestration_started: (e) => `run started (${e.stages.length} stages)`,
  stage_launched: (e) => e.adopted ? "its session was adopted" : "launched",
  stage_relaunched: (e) => `relaunched (attempt ${e.attempt})`,
  phase_status: (e) => {
    if (e.phase === "implement" && e.current_phase !== undefined) return `${e.status === "start" ? "implementing" : "implemented"} ${e.current_phase}/${e.total_phases ?? "?"}`;
    return e.status === "start" ? phaseWord(e.phase) : phaseWord(e.phase, true);
  },
  stage_idle: () => "idle at its prompt",
  stage_needs_permission: (e) => `asks permission: ${e.message}`,
  stall_detected: (e) => `stalled (${Math.round(e.idle_seconds)} s idle)`,
  stall_continue_sent: (e) => `nudged ${JSON.stringify(e.message.slice(0, 30))}${e.verified ? "" : " (not confirmed)"}`,
  rate_limited: (e) => `usage limit: paused until ${e.resets_at.slice(11, 16)} UTC`,
  rate_limit_cleared: () => "usage limit over",
  session_dead: (e) => e.reason === "worktree_gone" ? "its worktree was removed: session ended, to run again in a new one" : e.reason === "host_lost" ? "its host stopped answering" : e.server_gone ? "tmux server gone" : `session ended${e.exit_status !== undefined ? ` (exit ${e.exit_status})` : e.signal !== undefined ? ` (signal ${e.signal})` : ""}`,
  stage_attention: (e) => e.attention ? `needs attention: ${e.attention.replace(/_/g, " ")}` : "attention cleared",
  merge_started: () => "merging",
  merge_conflict: (e) => `${MERGE_REFUSAL[e.reason] ?? e.reason}${e.files.length ? ` (${e.files.slice(0, 4).join(", ")}${e.files.length > 4 ? ", …" : ""})` : ""}`,
  merge_complete: (e) => `merged as ${e.commit.slice(0, 10)}${e.validated ? ", checks passed" : ""}`,
  message_queued: (e) => `message queued (${e.reason.replace(/_/g, " ")})`,
  message_delivered: (e) => `message delivered${e.verified ? "" : " (not confirmed)"}`,
  stage_retried: (e) => `retried${e.fresh_worktree ? " in a fresh worktree" : ""}${e.changed?.length ? ` with the plan read again (${e.changed.join("; ")})` : ""}`,
  stage_done_by_person: (e) => e.how === "detected" ? `merged by hand${e.commit ? ` (in the base at ${e.commit.slice(0, 10)})` : ""}` : `marked done by a person${e.commit ? ` (in the base at ${e.commit.slice(0, 10)})` : ""}`,
  stage_skipped: (e) => `skipped: ${e.reason}`,
  stage_files_kept: () => "notes and plan kept",
  permissions_proposed: (e) => `allowed for good in its session, a person is asked whether later stages keep: ${e.rules.join(", ")}`,
  permissions_learned: (e) => `allowed for later stages: ${e.rules.join(", ")}`,
  budget_exceeded: (e) => `over budget: ${dollars(e.spent_usd)} of ${dollars(e.limit_usd)}${e.stopped ? ", sessions ended" : ""}`,
  budget_raised: (e) => `${e.scope === "run" ? "run" : "stage"} budget raised to ${dollars(e.limit_usd)}`,
  host_launch_failed: (e) => `host ${e.host} could not launch ${stagesList(e.stages)}: ${e.reason}`,
  circuit_open: (e) => `circuit breaker open (${e.failed.join(", ")} failed in a row)`,
  circuit_closed: () => "circuit breaker closed",
  stage_escalated: (e) => `trying again with ${e.model}`,
  wave_started: (e) => `wave ${e.wave} started`,
  wave_complete: (e) => `wave ${e.wave} complete`,
  review_requested: (e) => `asks: ${e.title}`,
  review_answered: () => "review answered",
  review_resolved: (e) => `review resolved (${e.reason})`,
  stage_failed: (e) => `failed: ${e.reason}`,
  monitor_started: () => "monitor started",
  monitor_stopped: (e) => `monitor stopped (${e.reason})`,
  orchestration_stopped: (e) => `run stopped${e.sessions ? " with its sessions" : ""}`,
  orchestration_resumed: (e) => `run resumed by a person${e.relaunch.length ? `; relaunched without counting against their attempts: stages ${e.relaunch.join(", ")}` : ""}`,
  orchestration_complete: (e) => `run ${e.status}`,
  session_started: () => "session started",
  session_ended: () => "session ended",
  prompt_submitted: () => "prompt submitted",
  agent_stopped: () => "turn ended",
  permission_hook_answered: (e) => `answered ${JSON.stringify(e.answer)} to ${JSON.stringify(e.command.slice(0, 60))} through its hook`,
  permission_answered: (e) => `answered ${JSON.stringify(e.answer)} to ${JSON.stringify(e.command.slice(0, 60))}${e.verified ? "" : " (not confirmed)"}`,
  agent_stop_failed: (e) => `turn ended on an error (${e.error.replace(/_/g, " ")})`,
  usage_recorded: (e) => `has used ${formatCost(e.usage)}`,
};

/** What an event means, in a few words (`merged as 1a2b3c4d5e`, `asks: Pick one`, `nudged "continue"`). */
export function eventText(e: AutorunEvent): string {
  // The table's entry for e.type takes exactly that member of the union.
  return (EVENT_WORDS[e.type] as (e: AutorunEvent) => string)(e);
}

/**
 * An agent's last lines without Claude Code's screen furniture: the input box's borders (`╭──╮`,
 * `╰──╯`), its side bars and empty prompt (`│ ❯ │`), rules and the hints under it (`? for
 * shortcuts`), so a failure reason says what the agent said.
 */
export function withoutFurniture(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of lines) {
    let line = raw.trim();
    if (/^[╭╰┌└][─━═\s]*[╮╯┐┘]?$/.test(line) || /^[─━═\s]+$/.test(line)) continue;
    line = line.replace(/^│\s?/, "").replace(/\s?│$/, "").trim();
    if (line === "" || /^[❯>]\s*$/.test(line)) continue;
    if (/^\?\s+for shortcuts\b/.test(line) || /^⏵⏵|shift\+tab to cycle|esc to interrupt\)?$/.test(line)) continue;
    out.push(line);
  }
  return out;
}

/**
 * What an exited agent said last, as one line of up to `count` of its lines: without screen
 * furniture, stack frames or Node's version trailer, and starting at the last line naming an error
 * when that is further up (a missing script's "Error: Cannot find module …" comes before its
 * details).
 */
export function lastWords(lines: readonly string[], count: number): string {
  const said = withoutFurniture(lines).filter((l) => !/^at \S.*:\d+:\d+\)?( \{)?$/.test(l) && !/^Node\.js v\d/.test(l) && !/^\^+$/.test(l));
  let from = Math.max(0, said.length - count);
  for (let i = said.length - 1; i >= 0; i--) {
    if (!/^(\w*(Error|Exception)\b|error\b|fatal\b)/i.test(said[i]!)) continue;
    from = Math.min(from, i);
    break;
  }
  return said.slice(from, from + count).join(" | ");
}
