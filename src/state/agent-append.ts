/**
 * The agents' hot path into events.jsonl: `autorun phase` and `autorun hook` run on every step and
 * every turn of every agent, and loading the schemas costs each call about a quarter of a second
 * on a busy two-core machine (ten `autorun phase` calls: 390 ms each; ten `autorun event` calls,
 * which validate: 643 ms each). So the fixed-shape events they write are typed here at
 * compile time (each is an `EventBody` of an agent event type, its fields checked by the caller)
 * and written with the orchestration's identity and the time, without the schemas. Every other
 * writer validates (`appendFor` and the handle's `append`, src/state/orchestration.ts).
 */
import type { EventBody } from "../types/schemas.js";
import { appendLine, nowIso } from "./append.js";
import type { OrchPaths } from "./paths.js";

type Fixed = "phase_status" | "stage_idle" | "stage_needs_permission" | "permission_hook_answered" | "agent_stopped" | "agent_stop_failed" | "session_started" | "session_ended" | "prompt_submitted";

/** An event `phase` or `hook` writes: always about one stage. */
export type AgentEventBody = Extract<EventBody, { type: Fixed }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** The same before the stage it is about is added. */
export type AgentEventFields = DistributiveOmit<AgentEventBody, "stage">;

/** Appends `body` for stage `body.stage` of the orchestration at `paths`, with the identity of `who`. */
export function appendAgentEvent(paths: OrchPaths, who: { plan_name: string; project_slug: string }, body: AgentEventBody): void {
  appendLine(paths.events, { ts: nowIso(), ...body, orch_dir: paths.dir, plan_name: who.plan_name, project_slug: who.project_slug });
}
