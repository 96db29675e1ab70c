/**
 * The monitor's decisions over a fake tmux and a fake clock (the event log and reviews are real
 * files in a temp dir): a stall is nudged, nudges are capped and a person asked; a session that
 * dies is relaunched after a backoff and failed when it dies again at once. No tmux, no waiting.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Monitor } from "../../src/monitor/controller.js";
import { DEFAULT_CONFIG, type Config } from "../../src/state/config.js";
import { appendEvent, readAllEvents } from "../../src/state/events.js";
import type { OrchPaths } from "../../src/state/paths.js";
import type { PaneStatus, Tmux } from "../../src/adapters/tmux.js";
import type { Clock } from "../../src/core/clock.js";
import { renderReview, reviewEntries } from "../../src/state/review.js";
import { identOf, oneStageDir, startOneStage, T0 } from "../helpers/one-stage.js";

/** An agent at its prompt: what it said, its input box, and whether it is alive. */
interface FakeAgent {
  said: string[];
  input: string;
  pane: PaneStatus;
  /** What it does with a submitted line (default: says it, and stays at its prompt). */
  onSubmit?: (text: string) => void;
  /** A dialog drawn instead of its prompt. */
  dialog?: string;
  /** Enter presses it does not take (an input box that drops a fast Enter). */
  dropEnters?: number;
}

function fakeTmux() {
  const sessions = new Map<string, FakeAgent>();
  const launched: string[][] = [];
  const draw = (a: FakeAgent) => a.dialog ?? [...a.said.map((l) => `⏺ ${l}`), "", "╭" + "─".repeat(40) + "╮", `│ ❯ ${a.input.padEnd(37)}│`, "╰" + "─".repeat(40) + "╯", "  ? for shortcuts"].join("\n");
  const agent = (said: string): FakeAgent => ({ said: [said], input: "", pane: { state: "running" } });
  const tmux: Tmux = {
    socket: "fake",
    newSession: async (spec) => {
      launched.push([...spec.argv]);
      sessions.set(spec.name, agent("resumed"));
    },
    newSessions: async (specs) => {
      for (const spec of specs) await tmux.newSession(spec);
      return specs.map(() => true);
    },
    hasSession: async (name) => sessions.has(name),
    paneStatus: async (name) => sessions.get(name)?.pane ?? { state: "gone" },
    serverRunning: async () => true,
    listSessions: async () => [...sessions.keys()],
    capturePane: async (name) => {
      const a = sessions.get(name);
      return a && a.pane.state === "running" ? draw(a) : undefined;
    },
    paneStatuses: async () => new Map([...sessions].map(([name, a]) => [name, a.pane])),
    capturePanes: async (names) => new Map(names.map((name) => [name, sessions.get(name)?.pane.state === "running" ? draw(sessions.get(name)!) : undefined])),
    lastLines: async (name) => sessions.get(name)?.said.slice(-3) ?? [],
    cursorRow: async () => undefined,
    captureWithCursor: async (name) => {
      const a = sessions.get(name);
      return a && a.pane.state === "running" ? { screen: draw(a), row: undefined } : undefined;
    },
    sendLiteral: async (name, text) => {
      const a = sessions.get(name);
      if (a) a.input += text;
      return a !== undefined;
    },
    pasteText: async (name, text) => {
      const a = sessions.get(name);
      if (a) a.input += text;
      return a !== undefined;
    },
    enterAfterLook: async (name) => {
      const look = await tmux.captureWithCursor(name);
      if (look) await tmux.sendEnter(name);
      return look;
    },
    sendEnter: async (name) => {
      const a = sessions.get(name);
      if (!a) return false;
      if (a.dropEnters) {
        a.dropEnters--;
        return true;
      }
      const text = a.input;
      a.input = "";
      a.said.push(`> ${text}`);
      a.onSubmit?.(text);
      return true;
    },
    killSession: async (name) => sessions.delete(name),
    killServer: async () => sessions.clear(),
    displayMessage: async () => undefined,
    attachArgv: () => [],
    attach: async () => 0,
    version: async () => "3.3",
  };
  return { tmux, sessions, launched, agent };
}

let dir: string;
let paths: OrchPaths;
let now: number;
const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) };

beforeEach(() => {
  ({ dir, paths } = oneStageDir("autorun-monitor-"));
  now = T0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** One stage, already running in session `p_stage-1`, its worktree present. */
function started(): void {
  startOneStage(dir, paths);
}

function monitor(tmux: Tmux, config: Partial<Config> = {}): Monitor {
  return Monitor.open({ paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"], ...config }, tmux, clock, log: () => undefined })!;
}

/** One pass of the monitor and what it started beside it (a nudge being typed). */
async function step(m: Monitor): Promise<void> {
  await m.pass();
  await m.settle();
}

/** A clock whose sleeps (a nudge's wait before it looks again) end only when the test lets them. */
function heldClock() {
  const held: (() => void)[] = [];
  const clock: Clock = { now: () => now, sleep: (ms) => new Promise<void>((resolve) => held.push(() => ((now += ms), resolve()))) };
  return { clock, held };
}

/** Lets what runs beside the passes go on until `text` is in stage 1's input and a nudge waits on a held sleep. */
async function typed(t: ReturnType<typeof fakeTmux>, text: string, held: unknown[]): Promise<void> {
  for (let turn = 0; turn < 100 && (t.sessions.get("p_stage-1")!.input !== text || held.length === 0); turn++) await new Promise((r) => setImmediate(r));
}

/** Lets every held sleep end, waits for what runs beside the passes, and checks the one nudge went in. */
async function releaseAndCheckNudged(m: Monitor, t: ReturnType<typeof fakeTmux>, held: (() => void)[]): Promise<void> {
  while (held.length > 0) {
    held.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  await m.settle();
  expect(t.sessions.get("p_stage-1")!.said).toContain("> continue");
  expect(readAllEvents(paths.events).filter((e) => e.type === "stall_continue_sent")).toHaveLength(1);
}

const types = () => readAllEvents(paths.events).map((e) => e.type);

/**
 * A stage's worktree missing while its agent works on: not acted on at the first look; at the
 * next, 1.5 s later, its session is ended (`worktree_gone`).
 */
async function twoLooksEndIt(m: Monitor, t: ReturnType<typeof fakeTmux>): Promise<void> {
  await step(m);
  expect(types()).not.toContain("session_dead");
  now += 1_500;
  await step(m);
  expect(readAllEvents(paths.events).filter((e) => e.type === "session_dead")).toEqual([expect.objectContaining({ stage: "1", reason: "worktree_gone" })]);
  expect(t.sessions.has("p_stage-1")).toBe(false);
}

/** What `autorun resume` appends during a usage-limit pause, then three passes 5 s apart. */
async function resumedThenPasses(m: Monitor): Promise<void> {
  appendEvent(paths.events, { orch_dir: paths.dir, plan_name: "p", project_slug: "p", type: "rate_limit_cleared" });
  for (let i = 0; i < 3; i++) {
    now += 5_000;
    await step(m);
  }
}

describe("the monitor's decisions (fake tmux, fake clock)", () => {
  it("nudges a stage idle at its prompt for stallSeconds, verified; after maxNudges asks a person once", async () => {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", t.agent("Shall I go on?"));
    started();
    const m = monitor(t.tmux, { stallSeconds: 60, maxNudges: 2 });
    await step(m);
    now += 30_000;
    await step(m);
    expect(types()).not.toContain("stall_detected");
    for (let i = 0; i < 6; i++) {
      now += 61_000;
      await step(m);
    }
    const events = readAllEvents(paths.events);
    const nudges = events.filter((e) => e.type === "stall_continue_sent");
    expect(nudges).toHaveLength(2);
    expect(nudges.every((e) => e.type === "stall_continue_sent" && e.verified && e.message === "continue")).toBe(true);
    expect(t.sessions.get("p_stage-1")!.said.filter((l) => l === "> continue")).toHaveLength(2);
    const reviews = events.filter((e) => e.type === "review_requested");
    expect(reviews).toHaveLength(1);
    expect(readFileSync((reviews[0] as { file: string }).file, "utf8")).toContain("stayed idle after 2 nudges");
    expect(m.status.stages["1"]!.attention).toBe("idle");
    // A restarted monitor knows the review from the events and files none again.
    const again = monitor(t.tmux, { stallSeconds: 60, maxNudges: 2 });
    for (let i = 0; i < 3; i++) {
      now += 61_000;
      await step(again);
    }
    expect(readAllEvents(paths.events).filter((e) => e.type === "review_requested")).toHaveLength(1);
  });

  it("never nudges a busy agent, however long it works", async () => {
    const t = fakeTmux();
    const a = t.agent("Working");
    a.said.push("✻ Working… (esc to interrupt)");
    t.sessions.set("p_stage-1", a);
    started();
    const m = monitor(t.tmux, { stallSeconds: 60 });
    for (let i = 0; i < 5; i++) {
      now += 120_000;
      await step(m);
    }
    expect(types()).not.toContain("stall_detected");
    expect(a.input).toBe("");
  });

  it("looks at the panes once a second at most, however many passes events bring; at once after a session says it ended", async () => {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", t.agent("Working"));
    let looks = 0;
    const tmux: Tmux = { ...t.tmux, paneStatuses: async (of) => (looks++, t.tmux.paneStatuses(of)) };
    started();
    const m = monitor(tmux, { stallSeconds: 600 });
    await step(m);
    expect(looks).toBe(1);
    for (let i = 0; i < 4; i++) {
      now += 200;
      appendEvent(paths.events, { orch_dir: paths.dir, plan_name: "p", project_slug: "p", type: "prompt_submitted", stage: "1" });
      await step(m);
    }
    expect(looks).toBe(1);
    now += 200;
    await step(m);
    expect(looks).toBe(2);
    now += 100;
    appendEvent(paths.events, { orch_dir: paths.dir, plan_name: "p", project_slug: "p", type: "session_ended", stage: "1" });
    await step(m);
    expect(looks).toBe(3);
  });

  it("relaunches a stage whose agent died, after a backoff, with --resume; a second quick death fails it with its last words", async () => {
    const t = fakeTmux();
    const a = t.agent("starting");
    a.said.push("Error: cannot reach the API");
    a.pane = { state: "exited", status: 1, signal: undefined };
    t.sessions.set("p_stage-1", a);
    started();
    const m = monitor(t.tmux);
    await step(m);
    expect(types()).toContain("session_dead");
    expect(t.launched).toHaveLength(0);
    now += 1_500;
    await step(m);
    expect(types()).toContain("stage_relaunched");
    expect(t.launched[0]).toEqual(expect.arrayContaining(["--resume", "11111111-1111-4111-8111-111111111111"]));
    // The relaunched agent dies at once too.
    const b = t.sessions.get("p_stage-1")!;
    b.said.push("Error: cannot reach the API");
    b.pane = { state: "exited", status: 1, signal: undefined };
    now += 500;
    await step(m);
    const failed = readAllEvents(paths.events).find((e) => e.type === "stage_failed");
    expect(failed).toMatchObject({ stage: "1" });
    expect((failed as { reason: string }).reason).toMatch(/exited 1 within 10 s of its launch, twice: .*cannot reach the API/);
    expect(m.status.stages["1"]!.status).toBe("failed");
  });

  it("a killed session is one death, even when the dying agent's last event comes after it is recorded", async () => {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", t.agent("working"));
    started();
    const m = monitor(t.tmux);
    await step(m);
    // The session is ended under the agent (kill-session); the agent's last words are still on their way.
    t.sessions.delete("p_stage-1");
    now += 1_000;
    await step(m);
    expect(types().filter((x) => x === "session_dead")).toHaveLength(1);
    appendEvent(paths.events, { ...identOf(paths), type: "phase_status", stage: "1", phase: "create_plan", status: "start" });
    now += 300;
    await step(m);
    expect(types().filter((x) => x === "session_dead")).toHaveLength(1);
    now += 1_500;
    await step(m);
    expect(types()).toContain("stage_relaunched");
    expect(types()).not.toContain("stage_failed");
  });

  it("a dead pane whose exit status tmux never learns is reported within a second, however slow each look", async () => {
    const t = fakeTmux();
    const a = t.agent("starting");
    a.said.push("Error: cannot reach the API");
    a.pane = { state: "exited", status: undefined, signal: undefined };
    t.sessions.set("p_stage-1", a);
    started();
    // Each look at one pane costs 300 ms, as tmux's own wait for a status does.
    const looked = t.tmux.paneStatus;
    t.tmux.paneStatus = async (name) => {
      now += 300;
      return looked(name);
    };
    const m = monitor(t.tmux);
    const from = now;
    await step(m);
    expect(readAllEvents(paths.events).find((e) => e.type === "session_dead")).toMatchObject({ stage: "1", last_lines: ["starting", "Error: cannot reach the API"] });
    expect(now - from).toBeLessThanOrEqual(1_500);
  });

  it("a running stage whose worktree was removed has its session ended and runs again", async () => {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", t.agent("working"));
    started();
    const wt = join(dir, "wt");
    writeFileSync(join(wt, ".git"), "gitdir: somewhere\n");
    const m = monitor(t.tmux);
    await step(m);
    expect(types()).not.toContain("session_dead");
    // Removed by hand while its agent works on: missing at one look, then still at the next.
    rmSync(wt, { recursive: true, force: true });
    now += 1_500;
    await twoLooksEndIt(m, t);
    expect(m.status.stages["1"]).toMatchObject({ attention: "crashed" });
    // (Made again from its branch by the relaunch; here, by hand, since there is no repository.)
    mkdirSync(wt);
    writeFileSync(join(wt, ".git"), "gitdir: somewhere\n");
    now += 1_500;
    await step(m);
    expect(types()).toContain("stage_relaunched");
    expect(t.launched[0]).toEqual(expect.arrayContaining(["--resume", "11111111-1111-4111-8111-111111111111"]));
    expect(m.status.stages["1"]).toMatchObject({ status: "in_progress", sessions: 2, attempts: 2 });
    // A worktree that keeps going is no loop: that relaunch was one of the stage's sessions.
    now += 1_500;
    await step(m);
    rmSync(wt, { recursive: true, force: true });
    for (let look = 0; look < 2; look++) {
      now += 1_500;
      await step(m);
    }
    expect(m.status.stages["1"]).toMatchObject({ status: "failed", failure_reason: expect.stringMatching(/session ended 2 times/) });
  });

  it("a worktree removed before the monitor started is noticed too", async () => {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", t.agent("working"));
    started();
    // Launched in its worktree, which went while no monitor ran (or before its first look).
    rmSync(join(dir, "wt"), { recursive: true, force: true });
    await twoLooksEndIt(monitor(t.tmux), t);
  });

  it("a person's stop --sessions and resume give the stage one free relaunch, not one for each", async () => {
    // Events carry the time they are written: here the fake clock's, so deaths 20 s apart are not quick.
    vi.useFakeTimers({ toFake: ["Date"] });
    const at = (ms: number) => vi.setSystemTime((now += ms));
    try {
      const t = fakeTmux();
      at(0);
      started();
      const ident = { orch_dir: paths.dir, plan_name: "p", project_slug: "p" };
      // What `autorun stop --sessions` and then `autorun resume` append, the session gone between them.
      appendEvent(paths.events, { ...ident, type: "orchestration_stopped", sessions: true });
      appendEvent(paths.events, { ...ident, type: "orchestration_resumed", relaunch: ["1"] });
      const m = monitor(t.tmux);
      await step(m);
      at(1_500);
      await step(m);
      expect(m.status.stages["1"]).toMatchObject({ sessions: 2, free_relaunches: 1, relaunch_free: false });
      // Deaths well into their sessions: the first is relaunched, the second is the stage's last.
      const relaunches = () => types().filter((x) => x === "stage_relaunched").length;
      for (const expected of [2, 2]) {
        at(20_000);
        t.sessions.get("p_stage-1")!.pane = { state: "exited", status: 1, signal: undefined };
        await step(m);
        at(4_000);
        await step(m);
        expect(relaunches()).toBe(expected);
      }
      expect(m.status.stages["1"]).toMatchObject({ status: "failed", failure_reason: expect.stringMatching(/session ended 3 times/) });
    } finally {
      vi.useRealTimers();
    }
  });

  it("with escalation, a stage out of sessions runs again with the next model instead of failing", async () => {
    const t = fakeTmux();
    const a = t.agent("starting");
    a.pane = { state: "exited", status: 1, signal: undefined };
    t.sessions.set("p_stage-1", a);
    started();
    const m = monitor(t.tmux, { model: "sonnet", escalation: ["sonnet", "opus"] });
    await step(m);
    now += 1_500;
    await step(m);
    t.sessions.get("p_stage-1")!.pane = { state: "exited", status: 1, signal: undefined };
    now += 500;
    await step(m);
    expect(types()).not.toContain("stage_failed");
    expect(readAllEvents(paths.events).find((e) => e.type === "stage_escalated")).toMatchObject({ model: "opus", from: "sonnet" });
    const last = t.launched.at(-1)!;
    expect(last[last.indexOf("--model") + 1]).toBe("opus");
    expect(m.status.stages["1"]).toMatchObject({ model: "opus", status: "in_progress", sessions: 3 });
  });

  it("a pass does not wait for a nudge being typed: the next pass runs meanwhile and leaves that stage alone", async () => {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", { ...t.agent("Shall I go on?"), dropEnters: 1 });
    started();
    const { clock: slow, held } = heldClock();
    const m = Monitor.open({ paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"], stallSeconds: 60 }, tmux: t.tmux, clock: slow, log: () => undefined })!;
    await m.pass();
    now += 61_000;
    await m.pass();
    // The nudge is typed, its first Enter not taken: it waits to look again; the pass has returned,
    // and so does the next.
    await typed(t, "continue", held);
    expect(t.sessions.get("p_stage-1")!.input).toBe("continue");
    expect(held.length).toBeGreaterThan(0);
    now += 61_000;
    await m.pass();
    expect(t.sessions.get("p_stage-1")!.input).toBe("continue");
    await releaseAndCheckNudged(m, t, held);
  });

  it("when a usage limit is over, the waiting stage is nudged beside the pass, which does not wait for it", async () => {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", { ...t.agent("Usage limit reached."), dropEnters: 1 });
    started();
    appendEvent(paths.events, { orch_dir: paths.dir, plan_name: "p", project_slug: "p", type: "rate_limited", resets_at: new Date(now + 1_000).toISOString(), parsed: true, raw: "limit" });
    const { clock: slow, held } = heldClock();
    const m = Monitor.open({ paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"], stallSeconds: 600 }, tmux: t.tmux, clock: slow, log: () => undefined })!;
    now += 2_000;
    // The pass returns while the nudge waits to look again (before, it waited for every nudge).
    await m.pass();
    expect(types()).toContain("rate_limit_cleared");
    await typed(t, "continue", held);
    expect(t.sessions.get("p_stage-1")!.input).toBe("continue");
    expect(held.length).toBeGreaterThan(0);
    await releaseAndCheckNudged(m, t, held);
  });

  it("after a resume, no line of the limit that is over pauses the run again: the banner nor the agent's own words", async () => {
    const t = fakeTmux();
    // Claude Code's banner below the agent's own line about it: the banner is read first.
    t.sessions.set("p_stage-1", t.agent("Usage limit reached\n  ⎿  You've hit your limit · resets 3pm (Europe/Paris)"));
    started();
    const m = monitor(t.tmux, { stallSeconds: 600 });
    await step(m);
    expect(readAllEvents(paths.events).filter((e) => e.type === "rate_limited").map((e) => (e as { raw: string }).raw)).toEqual(["⎿  You've hit your limit · resets 3pm (Europe/Paris)"]);
    await resumedThenPasses(m);
    expect(types().filter((x) => x === "rate_limited")).toHaveLength(1);
    expect(readAllEvents(paths.events).filter((e) => e.type === "stall_continue_sent")).toHaveLength(1);
  });

  it("a person's resume ends the pause for good: the banner still on the screen pauses nothing, and the stage is nudged", async () => {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", t.agent("Usage limit reached · resets 11pm"));
    started();
    const m = monitor(t.tmux, { stallSeconds: 600 });
    await step(m);
    expect(types().filter((x) => x === "rate_limited")).toHaveLength(1);
    await resumedThenPasses(m);
    expect(types().filter((x) => x === "rate_limited")).toHaveLength(1);
    expect(t.sessions.get("p_stage-1")!.said).toContain("> continue");
    expect(readAllEvents(paths.events).filter((e) => e.type === "stall_continue_sent")).toHaveLength(1);
    // A monitor started again later knows that limit is over too.
    const again = monitor(t.tmux, { stallSeconds: 600 });
    now += 5_000;
    await step(again);
    expect(types().filter((x) => x === "rate_limited")).toHaveLength(1);
  });
});


/** Writes `answer` into the one question of the review filed last (as a person's editor would). */
function answerLastReview(answer: string): string {
  const file = (readAllEvents(paths.events).filter((e) => e.type === "review_requested").pop() as { file: string }).file;
  writeFileSync(file, readFileSync(file, "utf8").replace("**Your answer**:", `**Your answer**: ${answer}`));
  return file;
}

const answered = () => readAllEvents(paths.events).filter((e) => e.type === "review_answered") as { action?: string; effect?: string; file: string }[];

describe("a review the monitor filed does what its answer says", () => {
  /** A stage idle after its nudges, with the review that asks a person. */
  async function idleStage() {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", t.agent("Shall I go on?"));
    started();
    const m = monitor(t.tmux, { stallSeconds: 60, maxNudges: 1 });
    for (let i = 0; i < 4; i++) {
      now += 61_000;
      await step(m);
    }
    expect(types()).toContain("review_requested");
    return { t, m };
  }

  it("idle: the review lists its answers; `nudge <message>` types the message, is recorded, and resolves the review", async () => {
    const { t, m } = await idleStage();
    const file = answerLastReview("nudge please run the tests");
    expect(readFileSync(file, "utf8")).toContain("Answer `nudge [message]` to type the rest of your answer");
    // One sentence of answers, each between commas: none of them ends it early.
    expect(readFileSync(file, "utf8")).toMatch(/Answer `nudge \[message\]` to [^;]*, `merged` to [^;]*, or `skip` to [^;]*\./);
    await step(m);
    expect(t.sessions.get("p_stage-1")!.said).toContain("> please run the tests");
    expect(answered()).toMatchObject([{ action: "nudge", file }]);
    expect(answered()[0]!.effect).toContain("typed \"please run the tests\"");
    expect(reviewEntries(join(dir, "home"))).toMatchObject([{ file, state: "resolved" }]);
    expect(readFileSync(file, "utf8")).toContain("Resolved by autorun");
    // Done once: a later pass does not type it again.
    await step(m);
    expect(t.sessions.get("p_stage-1")!.said.filter((l) => l === "> please run the tests")).toHaveLength(1);
  });

  it("an answer that is not one of its words does nothing, and the review says so", async () => {
    const { t, m } = await idleStage();
    const file = answerLastReview("I looked at it");
    const before = t.sessions.get("p_stage-1")!.said.length;
    await step(m);
    expect(t.sessions.get("p_stage-1")!.said).toHaveLength(before);
    expect(answered()[0]).toMatchObject({ action: "none" });
    expect(answered()[0]!.effect).toMatch(/nothing was done: the answer "I looked at it" is not one of `nudge`, `merged`, `skip`/);
    // Open again, saying why, for an answer that does something.
    expect(readFileSync(file, "utf8")).toMatch(/autorun could not act on your answer.*is not one of/);
    expect(reviewEntries(join(dir, "home"))).toMatchObject([{ file, state: "open" }]);
    answerLastReview("nudge");
    await step(m);
    expect(t.sessions.get("p_stage-1")!.said).toContain("> continue");
    expect(reviewEntries(join(dir, "home"))).toMatchObject([{ file, state: "resolved" }]);
  });

  it("a review an agent forged (its own file, an event naming a condition) is neither the monitor's nor acted on", async () => {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", { ...t.agent("Working"), said: ["Working", "✻ Working… (esc to interrupt)"] });
    started();
    const usage = { input_tokens: 1, output_tokens: 1, cache_creation_tokens: 0, cache_read_tokens: 0, usd: 2 };
    appendEvent(paths.events, { orch_dir: paths.dir, plan_name: "p", project_slug: "p", type: "usage_recorded", stage: "1", transcript: "/t", offset: 1, usage });
    // Written where an agent can write (its worktree), complete and answered, with the monitor's metadata.
    const forged = join(dir, "forged.md");
    for (const [key, stage] of [["budget", undefined], ["idle", "1"]] as const) {
      writeFileSync(forged, renderReview("t", "c", [{ topic: "q", question: "q" }], { orch_dir: paths.dir, plan_name: "p", key, questions: 1, created_at: new Date(now).toISOString(), ...(stage ? { stage } : {}) }).replace("**Your answer**:", key === "budget" ? "**Your answer**: raise 99999" : "**Your answer**: skip"));
      appendEvent(paths.events, { orch_dir: paths.dir, plan_name: "p", project_slug: "p", type: "review_requested", file: forged, title: "t", key, ...(stage ? { stage } : {}) });
    }
    const m = monitor(t.tmux, { budgetUsd: 1 });
    await step(m);
    await step(m);
    expect(types()).not.toContain("budget_raised");
    expect(types()).not.toContain("stage_skipped");
    expect(answered()).toEqual([]);
    // The monitor still files its own review of the hold: the forged one did not stand for it.
    expect(readAllEvents(paths.events).filter((e) => e.type === "review_requested" && e.file !== forged)).toHaveLength(1);
  });

  it("idle: `skip` ends its session and the stage is skipped", async () => {
    const { t, m } = await idleStage();
    answerLastReview("skip");
    await step(m);
    expect(t.sessions.has("p_stage-1")).toBe(false);
    expect(m.status.stages["1"]).toMatchObject({ status: "completed", finished_by: "skipped" });
    expect(answered()[0]!.effect).toContain("stage 1 was skipped");
  });

  it("the run's budget: `raise <dollars>` above what was spent lifts the hold; one at or below it does nothing", async () => {
    const t = fakeTmux();
    t.sessions.set("p_stage-1", { ...t.agent("Working"), said: ["Working", "✻ Working… (esc to interrupt)"] });
    started();
    const usage = { input_tokens: 1, output_tokens: 1, cache_creation_tokens: 0, cache_read_tokens: 0, usd: 2 };
    appendEvent(paths.events, { orch_dir: paths.dir, plan_name: "p", project_slug: "p", type: "usage_recorded", stage: "1", transcript: "/t", offset: 1, usage });
    const m = monitor(t.tmux, { budgetUsd: 1 });
    await step(m);
    expect(m.status.hold?.kind).toBe("budget");
    const file = answerLastReview("raise 1.5");
    await step(m);
    expect(answered()[0]!.effect).toContain("nothing was done: $1.50 is not above the $2.00 already spent");
    expect(m.status.hold?.kind).toBe("budget");
    expect(types()).not.toContain("budget_raised");
    expect(reviewEntries(join(dir, "home"))).toMatchObject([{ file, state: "open" }]);
    answerLastReview("raise $10");
    await step(m);
    expect(readAllEvents(paths.events).filter((e) => e.type === "budget_raised")).toMatchObject([{ scope: "run", limit_usd: 10 }]);
    expect(m.status.hold).toBeNull();
    expect(reviewEntries(join(dir, "home"))).toMatchObject([{ file, state: "resolved", resolved_reason: "the run's budget is now $10.00" }]);
  });
});
