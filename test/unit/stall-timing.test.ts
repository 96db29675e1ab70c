/**
 * When a stall falls due, over a fake tmux and clock: the hook path's timer runs from when the
 * agent's turn ended (its event's time), not from when the monitor read the event; the screen path
 * reads a screen again once an event restarted its timer, so a silent stall is timed from about
 * when it began. Never sooner than `stallSeconds`.
 */
import { rmSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Monitor } from "../../src/monitor/controller.js";
import { DEFAULT_CONFIG } from "../../src/state/config.js";
import { appendEvent, readAllEvents } from "../../src/state/events.js";
import type { OrchPaths } from "../../src/state/paths.js";
import type { Clock } from "../../src/core/clock.js";
import { fakeTmux } from "../helpers/fake-tmux.js";
import { identOf, oneStageDir, startOneStage, T0 } from "../helpers/one-stage.js";

let dir: string;
let paths: OrchPaths;
let now: number;
const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) };

beforeEach(() => {
  ({ dir, paths } = oneStageDir("autorun-stall-timing-"));
  now = T0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const nudges = () => readAllEvents(paths.events).filter((e) => e.type === "stall_continue_sent");

/** The monitor over a stage idle at its prompt, after its first pass. */
async function idleStage(stallSeconds: number): Promise<{ m: Monitor; t: ReturnType<typeof fakeTmux> }> {
  const t = fakeTmux();
  t.sessions.set("p_stage-1", t.agent("Shall I go on?"));
  startOneStage(dir, paths);
  const m = Monitor.open({ paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"], stallSeconds }, tmux: t.tmux, clock, log: () => undefined })!;
  await step(m);
  return { m, t };
}

async function step(m: Monitor): Promise<void> {
  await m.pass();
  await m.settle();
}

/** What `autorun hook Stop` writes, stamped `ago` ms before now. */
function stopped(ago: number): void {
  appendEvent(paths.events, { ...identOf(paths), stage: "1", type: "agent_stopped", ts: new Date(now - ago).toISOString() });
}

describe("stall timing", () => {
  it("the hook path counts stallSeconds from the Stop hook's event, read late or not", async () => {
    const { m } = await idleStage(10);
    now += 1_000;
    // The monitor reads the hook's event 4 s after it was written (a busy machine, a long pass).
    stopped(4_000);
    await step(m);
    expect(nudges()).toHaveLength(0);
    now += 5_500;
    await step(m);
    expect(nudges()).toHaveLength(0);
    // 10 s after the turn ended (6 s after the monitor read it), not 10 s after the read.
    now += 600;
    await step(m);
    expect(nudges()).toMatchObject([{ verified: true }]);
  });

  it("an event's time counts for no more than stallSeconds back, and never ahead of the monitor's clock", async () => {
    const { m } = await idleStage(10);
    now += 1_000;
    // Written an hour ago by its own account: counted as written stallSeconds ago, so due now.
    stopped(3_600_000);
    await step(m);
    expect(nudges()).toHaveLength(1);
    // A time in the future counts as now: not due before stallSeconds from now.
    now += 1_000;
    appendEvent(paths.events, { ...identOf(paths), stage: "1", type: "phase_status", phase: "implement", status: "start" });
    stopped(-60_000);
    await step(m);
    now += 9_000;
    await step(m);
    expect(nudges()).toHaveLength(1);
    now += 1_100;
    await step(m);
    expect(nudges()).toHaveLength(2);
  });

  it("the screen path reads a screen again after an event restarted its timer, and nudges stallSeconds after", async () => {
    const { m, t } = await idleStage(4);
    // The agent reports a phase, then shows a new idle screen (no hooks): read at the next pass,
    // though its last look is younger than the regular interval (3 s here).
    now += 1_000;
    appendEvent(paths.events, { ...identOf(paths), stage: "1", type: "phase_status", phase: "create_plan", status: "done" });
    t.sessions.get("p_stage-1")!.said.push("I have a plan. Shall I go on?");
    await step(m);
    now += 3_900;
    await step(m);
    expect(nudges()).toHaveLength(0);
    // stallSeconds after the screen that followed the event was first seen: nudged, once.
    now += 200;
    await step(m);
    expect(nudges()).toMatchObject([{ verified: true }]);
  });
});
