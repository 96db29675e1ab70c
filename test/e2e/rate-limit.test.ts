import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { simAgentCmd, waitFor } from "../helpers/env.js";
import { eventsOf, statusOf } from "../helpers/orch.js";
import { Monitor } from "../../src/monitor/controller.js";
import { createTmux } from "../../src/adapters/tmux.js";
import { orchPaths } from "../../src/state/paths.js";
import { readSettings } from "../../src/state/settings.js";


describe("usage limits", () => {
  it("pauses launches and nudges until the parsed reset + 30 s, then resumes the waiting stage", async ({ sb }) => {
    // Stage 1 hits "resets 3pm (Europe/Paris)"; stage 2 finishes fast and frees a slot that stage 3
    // may not take while the orchestration is paused.
    const plan = sb.writePlan("limit.md", "## Stage 1: Limited\nsim: rate-limit\n## Stage 2: Fast\n## Stage 3: Waits\n");
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simAgentCmd, "--max-parallel", "2", "--no-monitor"]);
    expect(r.code).toBe(0);
    const paths = orchPaths(sb.home, "limit", "limit");
    // 10:00 UTC on a summer day = 12:00 in Paris; the reset is 15:00 Paris = 13:00 UTC.
    let now = Date.parse("2026-07-01T10:00:00.000Z");
    const clock = { now: () => now, sleep: async (ms: number) => { now += ms; await new Promise((res) => setTimeout(res, ms)); } };
    const log: string[] = [];
    const monitor = Monitor.open({ paths, config: readSettings(paths.dir)!, tmux: createTmux(sb.socket), clock, log: (m) => log.push(m) })!;
    // Each pass is `step` later on the monitor's clock: a screen nobody pushed about (this banner
    // comes with no hook) is read every quarter of stallSeconds of it, here 15 s.
    const drive = async (what: string, until: () => boolean, ms = 30_000, step = 1000) =>
      waitFor(what, async () => {
        await monitor.pass();
        now += step;
        return until();
      }, ms, 150);

    await drive("the usage limit to be seen", () => eventsOf(sb, "limit", "rate_limited").length === 1, 30_000, 15_000);
    const limited = eventsOf(sb, "limit", "rate_limited")[0]!;
    expect(limited.resets_at).toBe("2026-07-01T13:00:30.000Z");
    expect(limited.parsed).toBe(true);
    await drive("stage 2 to merge", () => eventsOf(sb, "limit", "merge_complete", "2").length === 1);
    for (let i = 0; i < 5; i++) await monitor.pass();
    expect(eventsOf(sb, "limit", "stage_launched", "3")).toHaveLength(0);
    expect(eventsOf(sb, "limit", "stall_continue_sent")).toHaveLength(0);
    expect(statusOf(sb, "limit")!.stages["1"]!.attention).toBe("rate_limited");

    now = Date.parse("2026-07-01T13:00:31.000Z");
    await drive("the orchestration to complete", () => eventsOf(sb, "limit", "orchestration_complete").length === 1, 60_000);
    const types = sb.events("limit").map((e) => e.type);
    expect(types.indexOf("rate_limit_cleared")).toBeLessThan(types.findIndex((t, i) => t === "stage_launched" && sb.events("limit")[i]!.stage === "3"));
    expect(eventsOf(sb, "limit", "stall_continue_sent", "1")[0]!.verified).toBe(true);
    expect(eventsOf(sb, "limit", "orchestration_complete")[0]!.status).toBe("completed");
  });

  it("waits an hour when the reset time cannot be read", async ({ sb }) => {
    const plan = sb.writePlan("vague.md", "## Stage 1: Vague\nsim: rate-limit-vague\n");
    expect((await sb.cli(["orchestrate", plan, "--agent-cmd", simAgentCmd, "--no-monitor"])).code).toBe(0);
    const paths = orchPaths(sb.home, "vague", "vague");
    let now = Date.parse("2026-07-01T10:00:00.000Z");
    const clock = { now: () => now, sleep: async (ms: number) => { now += ms; await new Promise((res) => setTimeout(res, ms)); } };
    const monitor = Monitor.open({ paths, config: readSettings(paths.dir)!, tmux: createTmux(sb.socket), clock, log: () => undefined })!;
    await waitFor("the usage limit", async () => {
      await monitor.pass();
      now += 1000;
      return eventsOf(sb, "vague", "rate_limited").length === 1;
    }, 30_000, 150);
    const limited = eventsOf(sb, "vague", "rate_limited")[0]!;
    expect(limited.parsed).toBe(false);
    expect(Date.parse(limited.resets_at as string) - now).toBeGreaterThan(59 * 60_000);
    expect(Date.parse(limited.resets_at as string) - now).toBeLessThanOrEqual(60 * 60_000);
  });

  it("a reset further off than a week is no limit's: the pause is capped, and autorun resume lifts it", async ({ sb }) => {
    // What an agent can write itself: a StopFailure payload naming a reset years away.
    const payload = JSON.stringify({ hook_event_name: "StopFailure", error: "rate_limit", last_assistant_message: "Usage limit reached · resets in 999999h" });
    const script = `printf '%s' '${payload}' | autorun hook StopFailure; exec sleep 120`;
    const plan = sb.writePlan("far.md", "## Stage 1: Claims\n## Stage 2: After\nDepends on: 1\n");
    expect((await sb.cli(["orchestrate", plan, "--agent-cmd", JSON.stringify(["sh", "-c", script, "{stage}"]), "--no-monitor"])).code).toBe(0);
    const paths = orchPaths(sb.home, "far", "far");
    await waitFor("the hook's event", () => eventsOf(sb, "far", "agent_stop_failed").length === 1);
    const now = Date.parse("2026-07-01T10:00:00.000Z");
    const monitor = Monitor.open({ paths, config: readSettings(paths.dir)!, tmux: createTmux(sb.socket), clock: { now: () => now, sleep: (ms: number) => new Promise((res) => setTimeout(res, ms)) }, log: () => undefined })!;
    await waitFor("the pause", async () => {
      await monitor.pass();
      return eventsOf(sb, "far", "rate_limited").length === 1;
    });
    await monitor.settle();
    const until = Date.parse(eventsOf(sb, "far", "rate_limited")[0]!.resets_at as string);
    expect(until - now).toBe(8 * 24 * 3_600_000);
    const r = await sb.cli(["resume", "far"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`The pause for a usage limit (until ${new Date(until).toISOString()}) is lifted: launches and nudges resume`);
    expect(eventsOf(sb, "far", "rate_limit_cleared")).toHaveLength(1);
    await waitFor("the status to show no pause", () => statusOf(sb, "far")!.paused_until === null);
    expect((await sb.cli(["stop", "far", "--sessions"])).code).toBe(0);
  });
});
