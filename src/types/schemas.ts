/** Every file autorun writes is a zod schema: events, status.json, configuration. */
import { z } from "zod";

const isoTs = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, "ISO-8601 UTC with milliseconds");
const stageId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "a stage id like 3 or 2.1");

import { ATTENTION, PHASES, STAGE_STATUS } from "./constants.js";
import { hostsSchema, sshOptionsSchema } from "./hosts-schema.js";

export { ATTENTION, PHASES, STAGE_STATUS };

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
    /** `host_lost`: the stage's host stopped answering (its session may still run there). */
    reason: z.enum(["host_lost"]).optional(),
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
   * A person says the stage is finished: its work is in the base branch (`commit`: the base tip
   * holding it), merged by their own hand. `how`: `command` (`autorun done`), `review` (a review
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
  base.extend({ type: z.literal("orchestration_complete"), status: z.enum(["completed", "failed"]) }),
  withStage.extend({ type: z.literal("session_started"), source: z.string().optional(), transcript: z.string().optional() }),
  withStage.extend({ type: z.literal("session_ended"), reason: z.string().optional() }),
  withStage.extend({ type: z.literal("prompt_submitted") }),
  withStage.extend({ type: z.literal("agent_stopped"), transcript: z.string().optional() }),
  /** The monitor answered a Bash permission dialog from `permissionAnswers`: the command, the option, and whether the dialog then closed. */
  withStage.extend({ type: z.literal("permission_answered"), command: z.string(), key: z.string(), answer: z.string(), verified: z.boolean() }),
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

const phaseTimes = z.object({
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  current_phase: z.number().optional(),
  total_phases: z.number().optional(),
});

export const stageStatusSchema = z.object({
  status: z.enum(STAGE_STATUS),
  name: z.string(),
  depends_on: z.array(z.string()),
  wave: z.number(),
  branch: z.string(),
  context_file: z.string(),
  plan_file: z.string().nullable(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  session: z.string(),
  session_id: z.string().nullable(),
  worktree: z.string(),
  /** The host its current session runs on (absent: this machine). */
  host: z.string().optional(),
  attempts: z.number(),
  /** Relaunches that do not count toward failure (sessions ended by `stop --sessions`). */
  free_relaunches: z.number(),
  attention: z.enum(ATTENTION).nullable(),
  nudges: z.number(),
  implement_done: z.boolean(),
  merge_commit: z.string().nullable(),
  /** Whether the merge commit passed `validate` (null: not merged, or no validate configured). */
  merge_validated: z.boolean().nullable().default(null),
  /** Stage tips sent back by the merge queue (conflict, failed check, nothing to merge). */
  send_backs: z.array(z.string()).default([]),
  /** How many times a person retried this stage (each retry gets new session ids). */
  retries: z.number().default(0),
  /** How the agent's session last ended: exit status and its last lines. */
  last_exit: z.object({ at: z.string(), exit_status: z.number().nullable(), signal: z.number().nullable(), last_lines: z.array(z.string()) }).nullable().default(null),
  /** Messages queued for the agent and not yet delivered, oldest first. */
  pending_messages: z.array(z.object({ id: z.string(), message: z.string(), reason: z.string(), queued_at: z.string() })).default([]),
  /** What the stage's agent used, from its Claude Code transcripts; null for agents that report none. */
  usage: z.lazy(() => usageSchema).nullable().default(null),
  /** What the plan set for this stage. */
  settings: z.lazy(() => stageSettingsSchema).default({}),
  /** The model the stage runs with when not the configured one (its own, or an escalation's). */
  model: z.string().nullable().default(null),
  /** Sessions started for the stage in all (launches, relaunches, escalations), against `max_attempts`. */
  sessions: z.number().default(0),
  /** The stage spent its budget (attention `budget`); cleared when a person raises it. */
  over_budget: z.boolean().default(false),
  /** Done before the run (the plan said so): never launched. */
  done_in_plan: z.boolean().default(false),
  /** Completed without autorun's merge: `person` (merged by hand, `autorun done`), `skipped` (`autorun skip`). */
  finished_by: z.enum(["person", "skipped"]).nullable().default(null),
  /** Where the agent's uncommitted notes and plan were kept when its worktree was removed. */
  kept_files: z.string().nullable().default(null),
  /** What was left out of `kept_files` (dependencies, build output, ignored files over the cap), each with why. */
  kept_dropped: z.array(z.string()).default([]),
  failure_reason: z.string().nullable(),
  last_event_at: z.string().nullable(),
  phases: z.record(z.string(), phaseTimes),
});

export const statusSchema = z.object({
  plan_path: z.string(),
  plan_name: z.string(),
  project_slug: z.string(),
  project_root: z.string(),
  base_branch: z.string(),
  created_at: z.string(),
  status: z.enum(["running", "completed", "failed", "stopped"]),
  completed_at: z.string().nullable(),
  current_wave: z.number(),
  waves: z.array(z.array(z.string())),
  max_parallel: z.number(),
  schedule: z.enum(["eager", "waves"]),
  paused_until: z.string().nullable(),
  /** Permission rules a person allowed for good in one stage ("don't ask again"), given to every later session. */
  allowed_tools: z.array(z.string()).default([]),
  /** Why nothing new is launched: the run's budget is spent, or the circuit breaker is open. */
  hold: z.object({ kind: z.enum(["budget", "circuit"]), since: z.string(), reason: z.string() }).nullable().default(null),
  /** Stages failed since the last merge (the circuit breaker counts them). */
  failed_in_row: z.array(z.string()).default([]),
  /** Budgets a person raised during the run (over the configuration's). */
  budget_usd: z.number().nullable().default(null),
  stage_budget_usd: z.number().nullable().default(null),
  monitor_pid: z.number().nullable(),
  updated_at: z.string(),
  event_count: z.number(),
  stages: z.record(z.string(), stageStatusSchema),
});

export type StageStatus = z.infer<typeof stageStatusSchema>;
export type Status = z.infer<typeof statusSchema>;

const argList = z.array(z.string().min(1)).min(1);

/** What a `permissionAnswers` value may name: the option's meaning (a digit is checked against the option's text). */
export const NAMED_ANSWERS = { yes: "yes", "yes, don't ask again": "yes_always", "yes, and don't ask again": "yes_always", no: "no" } as const;

/** Why a `permissionAnswers` value is not accepted, or undefined when it is. */
export function permissionAnswerProblem(value: string): string | undefined {
  const v = value.toLowerCase().replace(/[’‘`]/g, "'").replace(/\s+/g, " ").trim();
  if (/^[1-9]$/.test(v) || v in NAMED_ANSWERS) return undefined;
  const named = '"yes", "yes, don\'t ask again" or "no"';
  if (/mode|allow all|session|bypass/.test(v)) return `${JSON.stringify(value)} would switch the session's permission mode, which autorun never does; answer ${named}`;
  return `${JSON.stringify(value)} is not an answer autorun gives; answer ${named} (or an option's number, checked against its text on screen)`;
}

/** Every configuration key (README, Configuration). Files and flags give any subset; settings.json holds them resolved. */
/** USD per million tokens. */
const price = z.number().min(0).max(100_000);

export const configFields = z.object({
  agentCommand: z.array(z.string().min(1)).min(1),
  model: z.string().min(1),
  permissionMode: z.string().min(1),
  maxParallel: z.number().int().min(1).max(64, "at most 64 sessions at once"),
  schedule: z.enum(["eager", "waves"]),
  stallSeconds: z.number().min(1, "at least 1 second").max(86_400, "at most 86400 seconds (a day)"),
  nudgeMessage: z.string().min(1),
  maxNudges: z.number().int().min(0).max(1_000),
  /** The monitor's safety-net tick: below 0.2 s an idle monitor spins the CPU. */
  pollSeconds: z.number().min(0.2, "at least 0.2 seconds (a faster tick only burns CPU)").max(3_600, "at most 3600 seconds"),
  tmuxSocket: z.string().regex(/^[A-Za-z0-9._-]+$/, "letters, digits, . _ -"),
  validate: z.array(argList),
  notifyCommand: argList,
  /** Answers to Claude Code's Bash permission dialog, by the exact command (or `prefix:*`): "yes", "yes, don't ask again", "no". */
  permissionAnswers: z.record(
    z.string().min(1),
    z.string().superRefine((value, ctx) => {
      const problem = permissionAnswerProblem(value);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
  ),
  /** Claude Code permission rules added to every session's allow-list (`Bash(npm test:*)`, `WebFetch`). */
  allowedTools: z.array(z.string().min(1)),
  /** Claude Code's Bash sandbox for every session where it is available (false: off). */
  sandbox: z.boolean(),
  /** Network domains sandboxed commands may reach (`registry.npmjs.org`, `*.github.com`). */
  sandboxDomains: z.array(z.string().regex(/^[A-Za-z0-9*.-]+$/, "a domain name, * allowed")),
  /** Names of variables (beyond a minimal PATH, HOME, LANG…) the validate commands get from the monitor's environment. */
  validateEnv: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a variable name")),
  /** Dollars the whole run may spend, and each stage (a plan's `budget_usd` for a stage wins). */
  budgetUsd: z.number().positive().max(1_000_000),
  stageBudgetUsd: z.number().positive().max(1_000_000),
  /** What crossing a budget does: `pause` (no more nudges, nothing new launched) or `stop` (sessions ended too). */
  onBudget: z.enum(["pause", "stop"]),
  /** Stages failed in a row that stop new launches (0: never). */
  circuitBreaker: z.number().int().min(0).max(1_000),
  /** Models a failed stage is tried with in turn (`["sonnet", "opus"]`). */
  escalation: z.array(z.string().min(1)),
  /** USD per million tokens by model (a part of its name: "opus", "claude-sonnet-4-5"), over the built-in table. */
  prices: z.record(z.string().min(1), z.object({ input: price, output: price, cache_write: price.optional(), cache_read: price.optional() }).strict()),
  /** Machines stages may run on (docs/HOSTS.md), and ssh arguments for every one of them. */
  hosts: hostsSchema,
  sshOptions: sshOptionsSchema,
  /** Seconds a stage waits for its lost host to come back before it is relaunched on another. */
  hostGraceSeconds: z.number().min(0).max(86_400, "at most 86400 seconds (a day)"),
});

export const configSchema = configFields.partial().strict();

export type ConfigFile = z.infer<typeof configSchema>;
