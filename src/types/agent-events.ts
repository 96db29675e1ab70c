/** The events an agent may write: `autorun event` and a host's event follower both hold to this list. */
import type { EventType } from "./schemas.js";

/**
 * Events an agent (or its hooks) may write, always about its own stage. Everything else (launches,
 * merges, failures, completion, and attention: the monitor's judgement, whose "dialog closed"
 * resolves a person's review) is written by autorun's own monitor and commands only.
 */
export const AGENT_EVENT_TYPES: readonly EventType[] = [
  "phase_status",
  "stage_idle",
  "stage_needs_permission",
  "permission_hook_answered",
  "agent_stopped",
  "agent_stop_failed",
  "session_started",
  "session_ended",
  "prompt_submitted",
  "review_requested",
  "review_answered",
];
