import { describe, expect, it } from "vitest";
import { hookToEvent } from "../../src/commands/agent-report.js";

describe("Claude Code hook payloads → events", () => {
  it.each([
    ["Notification", { notification_type: "idle_prompt", message: "Claude is waiting for your input" }, { type: "stage_idle", source: "hook" }],
    ["Notification", { notification_type: "permission_prompt", message: "Claude needs your permission to use Bash" }, { type: "stage_needs_permission", source: "hook" }],
    ["Notification", { notification_type: "elicitation_dialog", message: "An MCP server asks" }, { type: "stage_needs_permission", source: "hook" }],
    ["Notification", { message: "Claude is waiting for your input" }, { type: "stage_idle" }],
    // What a sender wrote reaches events, logs and reviews as one printable line.
    ["Notification", { notification_type: "permission_prompt", message: "Claude needs\u001b[2J\u0007 your permission\n to use Bash" }, { type: "stage_needs_permission", message: "permission_prompt: Claude needs your permission to use Bash" }],
    ["Stop", { stop_hook_active: false }, { type: "agent_stopped" }],
    ["SessionStart", { source: "resume" }, { type: "session_started", source: "resume" }],
    ["SessionEnd", { reason: "logout" }, { type: "session_ended", reason: "logout" }],
    ["SessionEnd", { exit_reason: "prompt_input_exit" }, { type: "session_ended", reason: "prompt_input_exit" }],
    ["UserPromptSubmit", { prompt: "continue" }, { type: "prompt_submitted" }],
  ])("%s %j", (name, payload, want) => expect(hookToEvent(name, payload as never)).toMatchObject(want));
  it.each([
    ["Notification", { notification_type: "auth_success", message: "Logged in" }],
    ["PreToolUse", {}],
  ])("%s %j carries nothing for the monitor", (name, payload) => expect(hookToEvent(name, payload as never)).toBeUndefined());
});
