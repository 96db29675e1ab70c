/** status.json: the fold of events.jsonl, one record per stage. */
import "./zod-setup.js";
import * as z from "zod";
import { ATTENTION, STAGE_STATUS } from "./constants.js";
import { stageSettingsSchema, usageSchema } from "./event-schema.js";

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
  /** Relaunches made that do not count toward failure (after a person's stop, resume or a budget's stop). */
  free_relaunches: z.number(),
  /** The stage's next relaunch is one of those: a person ended its session or asked for it (one, however many times asked). */
  relaunch_free: z.boolean().default(false),
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
  /** Rules a person allowed for good in this stage's session, not yet kept for later stages (its review asks). */
  proposed_rules: z.array(z.string()).default([]),
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
  /**
   * Hosts whose last launch failed, since when and why: stages pinned there wait, others go
   * elsewhere. Cleared by the next launch there.
   */
  host_refusals: z.record(z.string(), z.object({ since: z.string(), reason: z.string() })).default({}),
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
