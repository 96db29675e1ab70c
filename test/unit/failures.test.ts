/**
 * Turns that end on an API error (Claude Code's StopFailure hook) over a fake tmux and clock: a
 * rate limit pauses the run and nothing is typed; a refused login asks a person and an idle-looking
 * screen clears nothing; any other error files a review with its text.
 */
import { readFileSync, rmSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Monitor } from "../../src/monitor/controller.js";
import { DEFAULT_CONFIG } from "../../src/state/config.js";
import { appendEvent, readAllEvents } from "../../src/state/events.js";
import type { OrchPaths } from "../../src/state/paths.js";
import type { Clock } from "../../src/core/clock.js";
import { hookToEvent } from "../../src/commands/agent-report.js";
import { fakeTmux } from "../helpers/fake-tmux.js";
import { identOf, oneStageDir, startOneStage, T0 } from "../helpers/one-stage.js";

let dir: string;
let paths: OrchPaths;
let now: number;
const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) };
const ident = () => identOf(paths);

beforeEach(() => {
  ({ dir, paths } = oneStageDir("autorun-failures-"));
  now = T0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function started(): void {
  startOneStage(dir, paths);
}

/** What `autorun hook StopFailure` writes for this payload. */
function hook(payload: Record<string, unknown>): void {
  appendEvent(paths.events, { ...ident(), stage: "1", ...(hookToEvent("StopFailure", payload) as { type: "agent_stop_failed"; error: string; message: string }) });
}

const events = () => readAllEvents(paths.events);
const types = () => events().map((e) => e.type);

/** Passes over `seconds`, one every 3 s, each with what it started beside it. */
async function run(m: Monitor, seconds: number): Promise<void> {
  for (let t = 0; t < seconds; t += 3) {
    now += 3_000;
    await m.pass();
    await m.settle();
  }
}

describe("StopFailure: a turn that ended on an API error", () => {
  it("maps the hook's payload to an event: known kinds kept, anything else unknown, the text printable and cut", () => {
    expect(hookToEvent("StopFailure", { error: "rate_limit", last_assistant_message: "API Error: Request rejected (429)", transcript_path: "/t/s.jsonl" })).toEqual({ type: "agent_stop_failed", error: "rate_limit", message: "API Error: Request rejected (429)", transcript: "/t/s.jsonl" });
    expect(hookToEvent("StopFailure", { error: "Rate Limit; rm -rf /", error_details: "x\u001b[2J\u0007 y\n z" } as never)).toEqual({ type: "agent_stop_failed", error: "unknown", message: "x y z" });
    expect(hookToEvent("StopFailure", { error: 42, last_assistant_message: { a: 1 }, error_details: "d".repeat(1000) } as never)).toEqual({ type: "agent_stop_failed", error: "unknown", message: "d".repeat(300) });
  });

  it("a rate limit pauses the run (5 minutes when its text names no reset) and nothing is typed into the idle screen", async () => {
    const t = fakeTmux();
    const a = t.agent("API Error: Request rejected (429)");
    t.sessions.set("p_stage-1", a);
    started();
    const m = Monitor.open({ paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"], stallSeconds: 5 }, tmux: t.tmux, clock, log: () => undefined })!;
    hook({ error: "rate_limit", last_assistant_message: "API Error: Request rejected (429) · This request would exceed your account's rate limit." });
    await run(m, 3);
    const limited = events().find((e) => e.type === "rate_limited");
    expect(limited).toMatchObject({ parsed: false });
    expect(Date.parse((limited as { resets_at: string }).resets_at) - now).toBeGreaterThan(290_000);
    // Idle on screen for a minute: the run is paused, nothing typed, and one pause only.
    await run(m, 60);
    expect(a.keys).toEqual([]);
    expect(types().filter((x) => x === "rate_limited")).toHaveLength(1);
    // A restarted monitor replays the hook and the pause: no second pause.
    const again = Monitor.open({ paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"], stallSeconds: 5 }, tmux: t.tmux, clock, log: () => undefined })!;
    await run(again, 3);
    expect(types().filter((x) => x === "rate_limited")).toHaveLength(1);
  });

  it("a refused login raises login attention and a review; a screen that looks idle clears nothing; the agent at work again does", async () => {
    const t = fakeTmux();
    // A screen the classifier reads as idle at its prompt (as 2.1.332's login error did).
    const a = t.agent("API Error: 401 · authentication_error");
    t.sessions.set("p_stage-1", a);
    started();
    const m = Monitor.open({ paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"], stallSeconds: 5 }, tmux: t.tmux, clock, log: () => undefined })!;
    hook({ error: "authentication_failed", last_assistant_message: "Invalid API key · Fix external API key" });
    await run(m, 60);
    expect(m.status.stages["1"]!.attention).toBe("login");
    const reviews = events().filter((e) => e.type === "review_requested");
    expect(reviews).toHaveLength(1);
    expect(readFileSync((reviews[0] as { file: string }).file, "utf8")).toContain("Invalid API key · Fix external API key");
    expect(a.keys).toEqual([]);
    expect(types()).not.toContain("stall_detected");
    // A person fixed it and told it to go on: the prompt was taken, the attention clears and the review is resolved.
    appendEvent(paths.events, { ...ident(), stage: "1", type: "prompt_submitted" });
    await run(m, 6);
    expect(m.status.stages["1"]!.attention).toBeNull();
    expect(types()).toContain("review_resolved");
  });

  it("any other error files a review with its text, and nothing is typed", async () => {
    const t = fakeTmux();
    const a = t.agent("API Error: 500 Internal server error");
    t.sessions.set("p_stage-1", a);
    started();
    const m = Monitor.open({ paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"], stallSeconds: 5 }, tmux: t.tmux, clock, log: () => undefined })!;
    hook({ error: "server_error", last_assistant_message: "API Error: 500 {\"type\":\"api_error\"}" });
    await run(m, 60);
    const reviews = events().filter((e) => e.type === "review_requested");
    expect(reviews).toHaveLength(1);
    expect(reviews[0]).toMatchObject({ key: "stop_failure", title: "Stage 1 stopped on an API error (server error)" });
    expect(readFileSync((reviews[0] as { file: string }).file, "utf8")).toContain('API Error: 500 {"type":"api_error"}');
    expect(m.status.stages["1"]!.attention).toBe("review");
    expect(a.keys).toEqual([]);
    // Its turn ends normally later: the review is resolved.
    appendEvent(paths.events, { ...ident(), stage: "1", type: "agent_stopped" });
    await run(m, 6);
    expect(types()).toContain("review_resolved");
    expect(m.status.stages["1"]!.attention).toBeNull();
  });

  it("a stage retried by a person leaves none of its old reviews open", async () => {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", t.agent("API Error: 500 Internal server error"));
    started();
    const m = Monitor.open({ paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"], stallSeconds: 5 }, tmux: t.tmux, clock, log: () => undefined })!;
    hook({ error: "server_error", last_assistant_message: "API Error: 500" });
    await run(m, 6);
    const [review] = events().filter((e) => e.type === "review_requested") as { file: string }[];
    expect(review).toBeDefined();
    // The person gives up on this attempt, then runs it again.
    t.sessions.delete("p_stage-1");
    appendEvent(paths.events, { ...ident(), stage: "1", type: "stage_failed", reason: "ended by a person" });
    appendEvent(paths.events, { ...ident(), stage: "1", type: "stage_retried", fresh_worktree: false });
    await run(m, 6);
    expect(events().filter((e) => e.type === "review_resolved")).toEqual([expect.objectContaining({ stage: "1", file: review!.file, reason: "stage 1 was retried" })]);
    expect(readFileSync(review!.file, "utf8")).toContain("stage 1 was retried");
  });
});
