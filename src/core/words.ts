/**
 * One vocabulary for people, shared by `status`, the dashboard, the demo and the report: where a
 * stage is in its work, and what an event means, in words rather than field names. Pure.
 */
import type { AutorunEvent, StageStatus, Status } from "../types/schemas.js";
import { dollars, formatCost } from "./usage.js";

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
 * running stage is in its work (`implementing 2/3`, `handed over`, `merging`), else `merged`,
 * `done before`, `pending`, `blocked` or `failed`. (status.json keeps the status field itself.)
 */
export function stageState(stage: StageStatus): string {
  return stage.status === "pending" || stage.status === "blocked" || stage.status === "failed" ? stage.status : phaseOf(stage);
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

/** What an event means, in a few words (`merged as 1a2b3c4d5e`, `asks: Pick one`, `nudged "continue"`). */
export function eventText(e: AutorunEvent): string {
  switch (e.type) {
    case "orchestration_started":
      return `run started (${e.stages.length} stages)`;
    case "stage_launched":
      return e.adopted ? "its session was adopted" : "launched";
    case "stage_relaunched":
      return `relaunched (attempt ${e.attempt})`;
    case "phase_status":
      if (e.phase === "implement" && e.current_phase !== undefined) return `${e.status === "start" ? "implementing" : "implemented"} ${e.current_phase}/${e.total_phases ?? "?"}`;
      return e.status === "start" ? phaseWord(e.phase) : phaseWord(e.phase, true);
    case "stage_idle":
      return "idle at its prompt";
    case "stage_needs_permission":
      return `asks permission: ${e.message}`;
    case "stall_detected":
      return `stalled (${Math.round(e.idle_seconds)} s idle)`;
    case "stall_continue_sent":
      return `nudged ${JSON.stringify(e.message.slice(0, 30))}${e.verified ? "" : " (not confirmed)"}`;
    case "rate_limited":
      return `usage limit: paused until ${e.resets_at.slice(11, 16)} UTC`;
    case "rate_limit_cleared":
      return "usage limit over";
    case "session_dead":
      return e.server_gone ? "tmux server gone" : `session ended${e.exit_status !== undefined ? ` (exit ${e.exit_status})` : e.signal !== undefined ? ` (signal ${e.signal})` : ""}`;
    case "stage_attention":
      return e.attention ? `needs attention: ${e.attention.replace(/_/g, " ")}` : "attention cleared";
    case "merge_started":
      return "merging";
    case "merge_conflict":
      return `${MERGE_REFUSAL[e.reason] ?? e.reason}${e.files.length ? ` (${e.files.slice(0, 4).join(", ")}${e.files.length > 4 ? ", …" : ""})` : ""}`;
    case "merge_complete":
      return `merged as ${e.commit.slice(0, 10)}${e.validated ? ", checks passed" : ""}`;
    case "message_queued":
      return `message queued (${e.reason.replace(/_/g, " ")})`;
    case "message_delivered":
      return `message delivered${e.verified ? "" : " (not confirmed)"}`;
    case "stage_retried":
      return `retried${e.fresh_worktree ? " in a fresh worktree" : ""}${e.changed?.length ? ` with the plan read again (${e.changed.join("; ")})` : ""}`;
    case "stage_done_by_person":
      return e.how === "detected" ? `merged by hand${e.commit ? ` (in the base at ${e.commit.slice(0, 10)})` : ""}` : `marked done by a person${e.commit ? ` (in the base at ${e.commit.slice(0, 10)})` : ""}`;
    case "stage_skipped":
      return `skipped: ${e.reason}`;
    case "stage_files_kept":
      return "notes and plan kept";
    case "permissions_learned":
      return `allowed for later stages: ${e.rules.join(", ")}`;
    case "budget_exceeded":
      return `over budget: ${dollars(e.spent_usd)} of ${dollars(e.limit_usd)}${e.stopped ? ", sessions ended" : ""}`;
    case "budget_raised":
      return `${e.scope === "run" ? "run" : "stage"} budget raised to ${dollars(e.limit_usd)}`;
    case "circuit_open":
      return `circuit breaker open (${e.failed.join(", ")} failed in a row)`;
    case "circuit_closed":
      return "circuit breaker closed";
    case "stage_escalated":
      return `trying again with ${e.model}`;
    case "wave_started":
      return `wave ${e.wave} started`;
    case "wave_complete":
      return `wave ${e.wave} complete`;
    case "review_requested":
      return `asks: ${e.title}`;
    case "review_answered":
      return "review answered";
    case "review_resolved":
      return `review resolved (${e.reason})`;
    case "stage_failed":
      return `failed: ${e.reason}`;
    case "monitor_started":
      return "monitor started";
    case "monitor_stopped":
      return `monitor stopped (${e.reason})`;
    case "orchestration_stopped":
      return `run stopped${e.sessions ? " with its sessions" : ""}`;
    case "orchestration_complete":
      return `run ${e.status}`;
    case "session_started":
      return "session started";
    case "session_ended":
      return "session ended";
    case "prompt_submitted":
      return "prompt submitted";
    case "agent_stopped":
      return "turn ended";
    case "permission_answered":
      return `answered ${JSON.stringify(e.answer)} to ${JSON.stringify(e.command.slice(0, 60))}${e.verified ? "" : " (not confirmed)"}`;
    case "agent_stop_failed":
      return `turn ended on an error (${e.error.replace(/_/g, " ")})`;
    case "usage_recorded":
      return `has used ${formatCost(e.usage)}`;
  }
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
