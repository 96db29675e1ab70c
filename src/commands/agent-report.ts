/**
 * What agents and hooks call from inside a stage: `autorun phase`, `autorun event`, `autorun hook`.
 * Hooks run on every turn of every agent, so `phase` and `hook` build their (fixed-shape) events
 * without loading the schemas; `event`, which takes arbitrary fields, validates them.
 */
import { appendAgentEvent, type AgentEventFields } from "../state/agent-append.js";
import { HOOK_EVENTS, PHASES } from "../types/constants.js";
import type { EventBody, EventType } from "../types/schemas.js";
import { AGENT_EVENT_TYPES } from "../types/agent-events.js";
import { UserError } from "../errors.js";
import { stageSession } from "../adapters/stage-session.js";
import { printable } from "../core/printable.js";
import { hookAnswer } from "../core/permissions.js";
import type { Ctx } from "./ctx.js";
import type { Stdin } from "./command-spec.js";
import { stageIdentity } from "./agent-identity.js";

/** Agent event types a stage's own `autorun event` may not write (see runEvent). */
const STAGE_REFUSED: readonly EventType[] = ["review_requested", "review_answered", "agent_stop_failed"];

export interface PhaseOptions {
  current?: string;
  total?: string;
  planFile?: string;
  complexity?: string;
  orchDir?: string;
  stage?: string;
}

function intOpt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UserError(`--${name} must be a whole number, not "${v}".`);
  return Number(v);
}

function isPhase(p: string): p is (typeof PHASES)[number] {
  return (PHASES as readonly string[]).includes(p);
}

export function runPhase(ctx: Ctx, phase: string, state: string, opts: PhaseOptions): number {
  if (!isPhase(phase)) throw new UserError(`unknown phase "${phase}"; use one of ${PHASES.join(", ")}.`);
  if (state !== "start" && state !== "done") throw new UserError(`phase state must be start or done, not "${state}".`);
  const id = stageIdentity(ctx, opts, true);
  const complexity = opts.complexity?.toUpperCase();
  if (complexity !== undefined && complexity !== "QUICK" && complexity !== "MEDIUM" && complexity !== "LARGE") throw new UserError(`--complexity must be QUICK, MEDIUM or LARGE, not "${opts.complexity}".`);
  // Every field is checked above, so the event is written as built (see the module comment).
  appendAgentEvent(id.paths, id, {
    stage: id.stage!,
    type: "phase_status",
    phase,
    status: state,
    ...(opts.current !== undefined ? { current_phase: intOpt("current", opts.current)! } : {}),
    ...(opts.total !== undefined ? { total_phases: intOpt("total", opts.total)! } : {}),
    ...(opts.planFile ? { plan_file: opts.planFile } : {}),
    ...(complexity ? { complexity } : {}),
  });
  ctx.out(`recorded ${phase} ${state} for stage ${id.stage}${phase === "implement" && state === "done" ? "; the monitor will check and merge it" : ""}`);
  return 0;
}

export async function runEvent(ctx: Ctx, type: string, pairs: string[], opts: { data?: string; orchDir?: string; stage?: string }): Promise<number> {
  const { appendFor } = await import("../state/orchestration.js");
  const { EVENT_TYPES } = await import("../types/schemas.js");
  if (!(EVENT_TYPES as string[]).includes(type)) throw new UserError(`unknown event type "${type}"; known: ${EVENT_TYPES.join(", ")}.`);
  if (!AGENT_EVENT_TYPES.includes(type as EventType)) {
    throw new UserError(`${type} events are written by autorun itself, not by agents; agents may write: ${AGENT_EVENT_TYPES.join(", ")}.`);
  }
  // Inside a stage's session only what its hooks report: a review is filed and answered through
  // `autorun review` (which writes its own file), and a turn's API error comes from Claude Code's
  // StopFailure hook (`autorun hook StopFailure`), never from a command the agent typed.
  if (STAGE_REFUSED.includes(type as EventType) && stageSession(ctx.env)) {
    throw new UserError(`${type} is not written with autorun event from a stage's session; a review is asked with autorun review new.`);
  }
  const id = stageIdentity(ctx, opts, true);
  let fields: Record<string, unknown> = {};
  if (opts.data) {
    try {
      fields = JSON.parse(opts.data) as Record<string, unknown>;
    } catch {
      throw new UserError(`--data is not valid JSON: ${opts.data.slice(0, 80)}`);
    }
    if (typeof fields !== "object" || fields === null || Array.isArray(fields)) throw new UserError("--data must be a JSON object.");
  }
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UserError(`"${pair}" is not key=value.`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    fields[key] = /^(true|false|-?\d+(\.\d+)?|null|\[.*\]|\{.*\})$/.test(raw) ? (JSON.parse(raw) as unknown) : raw;
  }
  // Only the monitor reads screens: a dialog "seen on the screen" is what lets a person's answer
  // outlive the stage (core/permissions.ts), so no agent may claim one.
  if (fields.source === "screen") throw new UserError("source=screen is for what the monitor itself saw on a stage's screen; an agent or hook writes source=hook.");
  // Which host a line came from, and where it ended there, are the monitor's to record (a
  // follower resumes from the largest offset it finds of its host).
  for (const key of ["host", "host_offset"]) if (key in fields) throw new UserError(`${key} is recorded by the monitor for lines it takes from a host; an agent does not set it.`);
  // The identity and the time are autorun's to set, never the caller's.
  for (const key of ["ts", "stage", "orch_dir", "plan_name", "project_slug"]) delete fields[key];
  // Checked by the schema as it is written (a field of the wrong shape is named, nothing written).
  appendFor(id.paths, id, { ...fields, type, stage: id.stage! } as EventBody);
  return 0;
}

export interface HookPayload {
  hook_event_name?: string;
  notification_type?: string;
  message?: string;
  source?: string;
  reason?: string;
  exit_reason?: string;
  /** Claude Code's transcript of the session (JSONL), where the monitor reads what the agent used. */
  transcript_path?: string;
  /** StopFailure: the kind of API error that ended the turn, and its text. */
  error?: string;
  error_details?: string;
  last_assistant_message?: string;
  /** PermissionRequest: the tool whose call waits for a permission, and the call's input. */
  tool_name?: string;
  tool_input?: unknown;
}

/**
 * A StopFailure payload as an event: the error kind if it is one (lower-case words, as Claude
 * Code names them; anything else is "unknown"), and the text — the error message Claude Code
 * showed, else its details — without escape sequences or control characters (it goes into
 * events, logs and review files), cut to 300 characters. Strings only.
 */
function stopFailureOf(payload: HookPayload): AgentEventFields {
  const kind = typeof payload.error === "string" && /^[a-z][a-z0-9_]{0,39}$/.test(payload.error) ? payload.error : "unknown";
  const texts = [payload.last_assistant_message, payload.error_details].filter((t): t is string => typeof t === "string");
  const message = texts.map((t) => printable(t).replace(/\s+/g, " ").trim()).find((t) => t !== "") ?? "";
  return { type: "agent_stop_failed", error: kind, message: message.slice(0, 300), ...transcriptOf(payload) };
}

/** The transcript path a hook names, if it is a plausible one (an absolute path to a .jsonl file). */
function transcriptOf(payload: HookPayload): { transcript: string } | Record<string, never> {
  const path = payload.transcript_path;
  return typeof path === "string" && path.startsWith("/") && path.endsWith(".jsonl") && path.length < 4096 && !path.includes("\0") ? { transcript: path } : {};
}

/** Maps a Claude Code hook payload to an event body, or undefined when it carries nothing for us. */
export function hookToEvent(name: string, payload: HookPayload): AgentEventFields | undefined {
  switch (name) {
    case "Notification": {
      // Payload fields are whatever the sender wrote: strings are made printable strings here.
      const kind = printable(String(payload.notification_type ?? "")).slice(0, 60);
      const message = printable(String(payload.message ?? "")).replace(/\s+/g, " ").trim().slice(0, 300);
      if (kind === "idle_prompt" || /waiting for your input/i.test(message)) return { type: "stage_idle", source: "hook", reason: message || kind };
      if (kind === "permission_prompt" || kind === "elicitation_dialog" || /permission/i.test(message)) {
        return { type: "stage_needs_permission", source: "hook", message: `${kind || "notification"}: ${message}`.slice(0, 300) };
      }
      return undefined;
    }
    case "Stop":
      return { type: "agent_stopped", ...transcriptOf(payload) };
    case "StopFailure":
      return stopFailureOf(payload);
    case "SessionStart":
      return { type: "session_started", ...(payload.source ? { source: String(payload.source) } : {}), ...transcriptOf(payload) };
    case "SessionEnd":
      return { type: "session_ended", ...((payload.reason ?? payload.exit_reason) ? { reason: String(payload.reason ?? payload.exit_reason) } : {}) };
    case "UserPromptSubmit":
      return { type: "prompt_submitted" };
    default:
      return undefined;
  }
}

/**
 * `autorun hook <Name>`: exits 0 or 1, never 2 — Claude Code reads exit 2 from a hook as "block
 * this action" (a Stop hook exiting 2 would keep the agent from stopping).
 */
export async function runHook(ctx: Ctx, name: string, input: Stdin): Promise<number> {
  if (!(HOOK_EVENTS as readonly string[]).includes(name)) {
    ctx.err(`autorun hook: unknown hook "${name}"; known: ${HOOK_EVENTS.join(", ")}.`);
    return 1;
  }
  if (!ctx.env.AUTORUN_ORCH_DIR || !ctx.env.AUTORUN_STAGE) return 0;
  let payload: HookPayload = {};
  if (!("text" in input)) {
    ctx.err(`autorun hook ${name}: the payload on stdin is over 8 MB, which no hook sends; nothing was recorded.`);
    return 1;
  }
  const stdin = input.text;
  if (stdin.trim() !== "") {
    try {
      payload = JSON.parse(stdin) as HookPayload;
    } catch {
      ctx.err(`autorun hook ${name}: stdin is not a JSON hook payload; nothing was recorded.`);
      return 1;
    }
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
      ctx.err(`autorun hook ${name}: the payload must be a JSON object; nothing was recorded.`);
      return 1;
    }
  }
  if (name === "PermissionRequest") return permissionRequest(ctx, payload);
  let body = hookToEvent(name, payload);
  if (!body) return 0;
  try {
    const id = stageIdentity(ctx, {}, true);
    // A session that starts outside its stage's worktree is ended before it acts (session-place.ts).
    const { misplaced, endOwnPane } = name === "SessionStart" ? await import("./session-place.js") : { misplaced: undefined, endOwnPane: undefined };
    const away = await misplaced?.(id.paths, id.stage!, (payload as { cwd?: unknown }).cwd, ctx.env.AUTORUN_HOST_WORKTREE);
    if (away) body = { type: "session_ended", reason: away.reason };
    appendAgentEvent(id.paths, id, { ...body, stage: id.stage! });
    if (away && endOwnPane) {
      ctx.err(`autorun: stage ${id.stage!}'s session ${away.reason}.`);
      await endOwnPane(away.session, ctx.env);
      return 1;
    }
  } catch (error) {
    ctx.err(`autorun hook ${name}: ${(error as Error).message}`);
    return 1;
  }
  return 0;
}

/**
 * PermissionRequest: a Bash call's permission dialog is being drawn. Where the run's
 * `permissionAnswers` gives the exact command a plain "yes" or "no", the hook answers it (Claude
 * Code reads the decision on stdout, and the dialog goes) after recording that it did; otherwise
 * it prints nothing and the dialog stays, for the monitor to answer on screen or leave to a
 * person. The command is Claude Code's own account of the call; the answers are the person's
 * configuration the run started with (a host keeps none: its stages' dialogs are answered on screen).
 */
async function permissionRequest(ctx: Ctx, payload: HookPayload): Promise<number> {
  const input = payload.tool_input;
  const command = payload.tool_name === "Bash" && typeof input === "object" && input !== null ? (input as { command?: unknown }).command : undefined;
  if (typeof command !== "string") return 0;
  try {
    const id = stageIdentity(ctx, {}, true);
    const { readSettings } = await import("../state/settings.js");
    const answers = readSettings(id.paths.dir)?.permissionAnswers;
    const found = answers ? hookAnswer(answers, command) : undefined;
    if (!found) return 0;
    appendAgentEvent(id.paths, id, { type: "permission_hook_answered", stage: id.stage!, command: command.slice(0, 2000), key: found.key.slice(0, 2000), answer: found.answer });
    const decision = found.answer === "yes" ? { behavior: "allow" } : { behavior: "deny", message: `The person's permissionAnswers say no to this command (${JSON.stringify(found.key)}); do not run it.` };
    ctx.out(JSON.stringify({ hookSpecificOutput: { hookEventName: "PermissionRequest", decision } }));
    return 0;
  } catch (error) {
    ctx.err(`autorun hook PermissionRequest: ${(error as Error).message}`);
    return 1;
  }
}
