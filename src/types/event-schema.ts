/**
 * The events of events.jsonl, each a zod schema: every writer appends one of these, every reader
 * folds them. The status and the configuration are in status-schema.ts and config-schema.ts.
 */
import "./zod-setup.js";
import * as z from "zod";
import { ATTENTION, PHASES } from "./constants.js";

export const isoTs = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, "ISO-8601 UTC with milliseconds");
export const stageId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "a stage id like 3 or 2.1");

export const base = z.object({
  ts: isoTs,
  orch_dir: z.string().min(1),
  plan_name: z.string().min(1),
  project_slug: z.string().min(1),
  stage: stageId.optional(),
  /**
   * Written on another host (its name in the configuration) and forwarded by the controller's
   * follower of that host; `host_offset`: where the line ended in the host's copy of the file.
   */
  host: z.string().min(1).optional(),
  host_offset: z.number().int().nonnegative().optional(),
});

const withStage = base.extend({ stage: stageId });

/** What a plan sets for one stage (every key optional; absent means the configuration's). */
export const stageSettingsSchema = z
  .object({
    model: z.string().min(1).optional(),
    max_attempts: z.number().int().positive().optional(),
    exclusive_resources: z.array(z.string().min(1)).optional(),
    budget_usd: z.number().positive().optional(),
    validate: z.array(z.array(z.string().min(1)).min(1)).optional(),
    status: z.literal("completed").optional(),
    /** The host the stage must run on (`Host:`), and the host labels it needs (`Needs:`). */
    host: z.string().min(1).optional(),
    needs: z.array(z.string().min(1)).optional(),
  })
  .strict();

export const planStageSchema = z.object({
  id: stageId,
  name: z.string(),
  depends_on: z.array(stageId),
  wave: z.number().int().positive(),
  context_file: z.string(),
  branch: z.string(),
  worktree: z.string(),
  session: z.string(),
  settings: stageSettingsSchema.optional(),
});

export const eventSchema = z.discriminatedUnion("type", [
  base.extend({
    type: z.literal("orchestration_started"),
    plan_path: z.string(),
    project_root: z.string(),
    base_branch: z.string(),
    stages: z.array(planStageSchema),
    waves: z.array(z.array(stageId)),
    max_parallel: z.number().int().positive(),
    schedule: z.enum(["eager", "waves"]),
  }),
  withStage.extend({
    type: z.literal("stage_launched"),
    session: z.string(),
    session_id: z.string(),
    attempt: z.number().int().positive(),
    adopted: z.boolean().optional(),
    /** On another host (`host`, from the base): its events file's length when the session started. */
    events_offset: z.number().int().nonnegative().optional(),
  }),
  withStage.extend({
    type: z.literal("phase_status"),
    phase: z.enum(PHASES),
    status: z.enum(["start", "done"]),
    current_phase: z.number().int().nonnegative().optional(),
    total_phases: z.number().int().nonnegative().optional(),
    plan_file: z.string().optional(),
    complexity: z.enum(["QUICK", "MEDIUM", "LARGE"]).optional(),
  }),
  withStage.extend({ type: z.literal("stage_idle"), source: z.enum(["hook", "screen"]), reason: z.string() }),
  withStage.extend({ type: z.literal("stage_needs_permission"), source: z.enum(["hook", "screen"]), message: z.string(), command: z.string().optional() }),
  withStage.extend({ type: z.literal("stall_detected"), source: z.enum(["hook", "screen"]), idle_seconds: z.number() }),
  withStage.extend({
    type: z.literal("stall_continue_sent"),
    message: z.string(),
    verified: z.boolean(),
    attempt: z.number().int().positive(),
    evidence: z.string(),
  }),
  base.extend({ type: z.literal("rate_limited"), resets_at: isoTs, parsed: z.boolean(), raw: z.string() }),
  base.extend({ type: z.literal("rate_limit_cleared") }),
  withStage.extend({
    type: z.literal("session_dead"),
    session: z.string(),
    /** The agent's exit status and signal, and the last lines it printed (kept by remain-on-exit). */
    exit_status: z.number().int().optional(),
    signal: z.number().int().optional(),
    last_lines: z.array(z.string()).optional(),
    /** True when the whole tmux server was gone, not just this session. */
    server_gone: z.boolean().optional(),
    /**
     * `host_lost`: the stage's host stopped answering (its session may still run there).
     * `worktree_gone`: its worktree was removed while it ran, so nothing it did could be committed:
     * the monitor ended the session, to relaunch it in a worktree made again from the stage's branch.
     */
    reason: z.enum(["host_lost", "worktree_gone"]).optional(),
  }),
  withStage.extend({ type: z.literal("stage_relaunched"), session: z.string(), session_id: z.string(), attempt: z.number().int().positive(), events_offset: z.number().int().nonnegative().optional() }),
  withStage.extend({ type: z.literal("stage_attention"), attention: z.enum(ATTENTION).nullable(), reason: z.string() }),
  withStage.extend({ type: z.literal("merge_started"), branch: z.string() }),
  withStage.extend({
    type: z.literal("merge_conflict"),
    /** dirty_root, wrong_branch and untracked_overwrite are from older runs; checkout_overlap replaced them. */
    reason: z.enum(["conflict", "validate_failed", "no_commits", "checkout_overlap", "dirty_root", "wrong_branch", "untracked_overwrite", "guarded_files"]),
    files: z.array(z.string()),
    detail: z.string(),
    /** The stage branch's tip that was sent back (a send-back of the same tip repeats nothing new). */
    commit: z.string().optional(),
  }),
  withStage.extend({
    type: z.literal("merge_complete"),
    branch: z.string(),
    commit: z.string().regex(/^[0-9a-f]{7,64}$/, "a commit id"),
    /** True when `validate` passed on this merge commit itself. */
    validated: z.boolean().optional(),
  }),
  /** A message for the agent (a merge sent back, a failed check): delivered at its next idle moment. */
  withStage.extend({ type: z.literal("message_queued"), id: z.string().min(1), message: z.string().min(1), reason: z.string() }),
  withStage.extend({ type: z.literal("message_delivered"), id: z.string().min(1), verified: z.boolean(), evidence: z.string() }),
  /**
   * A person says the stage is finished: its work is in the base branch, merged by their own hand
   * (`commit`: the merge that brought its own commits in; absent when there is none). `how`: `command` (`autorun done`), `review` (a review
   * answered `merged`) or `detected` (the monitor found the stage branch's own commits in the base).
   */
  withStage.extend({ type: z.literal("stage_done_by_person"), how: z.enum(["command", "detected", "review"]), commit: z.string().regex(/^[0-9a-f]{7,64}$/, "a commit id").optional(), detail: z.string() }),
  /** A person let the stage's dependants go on without it (`autorun skip`); its worktree and branch are kept. */
  withStage.extend({ type: z.literal("stage_skipped"), reason: z.string() }),
  /** A person asked for a failed or blocked stage to run again (`autorun retry`). */
  /**
   * `name`, `settings`: the stage as the plan file now gives it, when retry read a changed plan;
   * `changed`: what changed, for people.
   */
  withStage.extend({
    type: z.literal("stage_retried"),
    fresh_worktree: z.boolean(),
    name: z.string().optional(),
    settings: z.lazy(() => stageSettingsSchema).optional(),
    changed: z.array(z.string()).optional(),
  }),
  withStage.extend({ type: z.literal("stage_files_kept"), dir: z.string(), files: z.number().int().nonnegative(), plan_file: z.string().optional(), dropped: z.array(z.string()).optional() }),
  /** A person's "don't ask again" answers in a merged stage's session, kept for the stages launched after it. */
  /** Rules allowed for good in a merged stage's session, asked about before they are kept (`permissions_learned`). */
  withStage.extend({ type: z.literal("permissions_proposed"), rules: z.array(z.string().min(1)).min(1) }),
  withStage.extend({ type: z.literal("permissions_learned"), rules: z.array(z.string().min(1)).min(1) }),
  /**
   * A budget was spent: the run's (`stage` absent: nothing new is launched) or one stage's (no more
   * nudges). `stopped`: its sessions were ended (`onBudget: stop`); worktrees and commits are kept.
   */
  base.extend({ type: z.literal("budget_exceeded"), limit_usd: z.number().nonnegative(), spent_usd: z.number().nonnegative(), stopped: z.boolean() }),
  /** A person raised a budget (`autorun resume --budget`, `--stage-budget`). */
  base.extend({ type: z.literal("budget_raised"), scope: z.enum(["run", "stage"]), limit_usd: z.number().positive() }),
  /** `circuitBreaker` stages failed in a row: nothing new is launched until a person closes it. */
  base.extend({ type: z.literal("circuit_open"), failed: z.array(stageId).min(1) }),
  base.extend({ type: z.literal("circuit_closed"), reason: z.string() }),
  /**
   * A launch on another host failed (`reason`: its first line; `stages`: those it was to launch).
   * The monitor leaves the host out of placement a while and tries it again; recorded when the
   * reason is new.
   */
  base.extend({ type: z.literal("host_launch_failed"), host: z.string().min(1), reason: z.string(), stages: z.array(stageId).min(1) }),
  /** A stage that failed runs again with the next model of `escalation`. */
  withStage.extend({ type: z.literal("stage_escalated"), model: z.string().min(1), from: z.string().nullable(), reason: z.string() }),
  base.extend({ type: z.literal("wave_started"), wave: z.number().int().positive() }),
  base.extend({ type: z.literal("wave_complete"), wave: z.number().int().positive() }),
  base.extend({
    type: z.literal("review_requested"),
    file: z.string(),
    title: z.string(),
    /** What a monitor-filed review is about (`permission`, `refused:…`, `stuck:…`, `idle`): one per condition. */
    key: z.string().optional(),
  }),
  /** A review was answered; for one the monitor filed, the action the answer asked for and what it did. */
  base.extend({ type: z.literal("review_answered"), file: z.string(), action: z.string().optional(), effect: z.string().optional() }),
  /** The condition a monitor-filed review was about has cleared; the file says so. */
  base.extend({ type: z.literal("review_resolved"), file: z.string(), reason: z.string() }),
  withStage.extend({ type: z.literal("stage_failed"), reason: z.string() }),
  base.extend({ type: z.literal("monitor_started"), pid: z.number().int() }),
  base.extend({ type: z.literal("monitor_stopped"), pid: z.number().int(), reason: z.string() }),
  base.extend({ type: z.literal("orchestration_stopped"), sessions: z.boolean() }),
  /** `autorun resume`: the running stages whose sessions were gone get a relaunch of their own. */
  base.extend({ type: z.literal("orchestration_resumed"), relaunch: z.array(z.string()) }),
  base.extend({ type: z.literal("orchestration_complete"), status: z.enum(["completed", "failed"]) }),
  withStage.extend({ type: z.literal("session_started"), source: z.string().optional(), transcript: z.string().optional() }),
  withStage.extend({ type: z.literal("session_ended"), reason: z.string().optional() }),
  withStage.extend({ type: z.literal("prompt_submitted") }),
  withStage.extend({ type: z.literal("agent_stopped"), transcript: z.string().optional() }),
  /**
   * The monitor answered a Bash permission dialog from `permissionAnswers` (`key`: the key that
   * named the command), or a person's `yes`/`no` in its review (`key`: "(a person's answer to its
   * review)", `command`: as the dialog shows it); the option, and whether the dialog then closed.
   */
  withStage.extend({ type: z.literal("permission_answered"), command: z.string(), key: z.string(), answer: z.string(), verified: z.boolean() }),
  /**
   * The stage's PermissionRequest hook answered a Bash call from `permissionAnswers` (a plain
   * "yes" or "no" for the exact command), and its dialog went. Written from the agent's side:
   * the monitor logs it only when its own `permissionAnswers` gives that answer to that command.
   */
  withStage.extend({ type: z.literal("permission_hook_answered"), command: z.string(), key: z.string(), answer: z.enum(["yes", "no"]) }),
  /**
   * The agent's turn ended on an API error (Claude Code's StopFailure hook, which fires instead of
   * Stop): `error` is Claude Code's kind (`rate_limit`, `authentication_failed`, `server_error`, …),
   * `message` its text (printable, at most 300 characters). The monitor pauses the run, asks for
   * a login or files a review.
   */
  withStage.extend({
    type: z.literal("agent_stop_failed"),
    error: z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, "a Claude Code error kind like rate_limit"),
    message: z.string().max(300),
    transcript: z.string().optional(),
  }),
  /**
   * What a stage's agent has used so far (totals over its transcripts), read incrementally from the
   * transcript Claude Code names in its hooks: `offset` is how far `transcript` was read;
   * `last_message` the message at that point, whose lines may continue past it.
   */
  withStage.extend({
    type: z.literal("usage_recorded"),
    transcript: z.string(),
    offset: z.number().int().nonnegative(),
    usage: z.lazy(() => usageSchema),
    last_message: z.object({ id: z.string(), usage: z.lazy(() => usageSchema) }).optional(),
  }),
]);

export type AutorunEvent = z.infer<typeof eventSchema>;
export type EventType = AutorunEvent["type"];
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event as a writer builds it: the store adds `ts`, the orchestration adds its identity. */
export type Usage = z.infer<typeof usageSchema>;
export type EventBody = DistributiveOmit<AutorunEvent, "ts" | "orch_dir" | "plan_name" | "project_slug">;
export type EventWithoutTs = DistributiveOmit<AutorunEvent, "ts">;
export type EventOf<T extends EventType> = Extract<AutorunEvent, { type: T }>;
export const EVENT_TYPES = eventSchema.options.map((o) => o.shape.type.value) as EventType[];

/** Tokens by kind and their price in USD (`usd` null when a model is not in the price table). */
export const usageSchema = z.object({
  input_tokens: z.number().nonnegative(),
  output_tokens: z.number().nonnegative(),
  cache_creation_tokens: z.number().nonnegative(),
  cache_read_tokens: z.number().nonnegative(),
  usd: z.number().nonnegative().nullable(),
});
