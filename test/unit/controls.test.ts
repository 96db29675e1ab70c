/** Scheduling and the run controls over folded events: exclusive resources, holds, escalation, budgets. Pure. */
import { describe, expect, it } from "vitest";
import { applyEvent, foldEvents } from "../../src/core/fold.js";
import { outcome, stagesToLaunch, waitingForResources } from "../../src/core/scheduler.js";
import { nextModel } from "../../src/monitor/liveness.js";
import { budgetSpent, stageLimit } from "../../src/monitor/controls.js";
import type { AutorunEvent, EventBody, Status } from "../../src/types/schemas.js";
import type { StageSettings } from "../../src/core/stage-settings.js";
import { startedEvent, type StageSpec } from "../helpers/events.js";

const ident = { orch_dir: "/o", plan_name: "p", project_slug: "p" };
let clock = 0;
const tick = () => new Date(Date.UTC(2026, 0, 1) + ++clock * 1000).toISOString();
const ev = (body: EventBody): AutorunEvent => ({ ...ident, ts: tick(), ...body }) as AutorunEvent;

function start(stages: StageSpec[], maxParallel = 4): AutorunEvent[] {
  return [startedEvent(stages, { ident, ts: tick(), maxParallel })];
}

const launched = (id: string): AutorunEvent => ev({ type: "stage_launched", stage: id, session: `s${id}`, session_id: "u", attempt: 1 });
const merged = (id: string): AutorunEvent => ev({ type: "merge_complete", stage: id, branch: `b${id}`, commit: "abcdef1" });
const failed = (id: string): AutorunEvent => ev({ type: "stage_failed", stage: id, reason: "died" });

describe("exclusive resources", () => {
  const db: StageSettings = { exclusive_resources: ["database"] };
  it("never launches two stages that share one, and launches the next when the holder merges or fails", () => {
    const events = start([{ id: "1", settings: db }, { id: "2" }, { id: "3", settings: db }, { id: "4", settings: db }]);
    expect(stagesToLaunch(foldEvents(events)!)).toEqual(["1", "2"]);
    events.push(launched("1"), launched("2"));
    expect(stagesToLaunch(foldEvents(events)!)).toEqual([]);
    expect([...waitingForResources(foldEvents(events)!)]).toEqual([
      ["3", { resource: "database", holder: "1" }],
      ["4", { resource: "database", holder: "1" }],
    ]);
    events.push(merged("1"));
    expect(stagesToLaunch(foldEvents(events)!)).toEqual(["3"]);
    events.push(launched("3"), failed("3"));
    expect(stagesToLaunch(foldEvents(events)!)).toEqual(["4"]);
  });
  it("holds nothing back between stages naming different resources", () => {
    const events = start([{ id: "1", settings: db }, { id: "2", settings: { exclusive_resources: ["ports"] } }]);
    expect(stagesToLaunch(foldEvents(events)!)).toEqual(["1", "2"]);
  });
});

describe("holds: the circuit breaker and the run's budget", () => {
  it("counts failures in a row (a merge resets them); an open circuit launches nothing and the run waits, not fails", () => {
    const events = start([{ id: "1" }, { id: "2" }, { id: "3" }, { id: "4" }, { id: "5" }], 1);
    events.push(launched("1"), failed("1"), launched("2"), merged("2"), launched("3"), failed("3"), launched("4"), failed("4"));
    let s = foldEvents(events)!;
    expect(s.failed_in_row).toEqual(["3", "4"]);
    events.push(ev({ type: "circuit_open", failed: ["3", "4"] }));
    s = foldEvents(events)!;
    expect(s.hold).toMatchObject({ kind: "circuit", reason: "2 stages failed in a row (3, 4)" });
    expect(stagesToLaunch(s)).toEqual([]);
    expect(outcome(s)).toEqual({ done: false });
    events.push(ev({ type: "circuit_closed", reason: "autorun resume" }));
    s = foldEvents(events)!;
    expect(s.hold).toBeNull();
    expect(s.failed_in_row).toEqual([]);
    expect(stagesToLaunch(s)).toEqual(["5"]);
  });

  it("a crossed run budget holds launches and marks running stages; a raised one lifts both", () => {
    const events = start([{ id: "1" }, { id: "2" }], 1);
    events.push(launched("1"), ev({ type: "budget_exceeded", limit_usd: 1, spent_usd: 1.2, stopped: false }));
    let s = foldEvents(events)!;
    expect(s.hold).toMatchObject({ kind: "budget", reason: "the run spent $1.20 of its $1.00 budget" });
    expect(s.stages["1"]!.attention).toBe("budget");
    expect(budgetSpent(s, s.stages["1"]!)).toBe(true);
    events.push(merged("1"));
    expect(stagesToLaunch(foldEvents(events)!)).toEqual([]);
    events.push(ev({ type: "budget_raised", scope: "run", limit_usd: 5 }));
    s = foldEvents(events)!;
    expect(s.hold).toBeNull();
    expect(s.budget_usd).toBe(5);
    expect(stagesToLaunch(s)).toEqual(["2"]);
  });

  it("a stage's budget: a raise during the run wins over the plan's, the plan's over the configuration's", () => {
    const s = foldEvents(start([{ id: "1", settings: { budget_usd: 2 } }, { id: "2" }]))!;
    expect(stageLimit(s, { stageBudgetUsd: 3 }, s.stages["1"]!)).toBe(2);
    expect(stageLimit(s, { stageBudgetUsd: 3 }, s.stages["2"]!)).toBe(3);
    expect(stageLimit(s, {}, s.stages["2"]!)).toBeUndefined();
    const raised = applyEvent(s, ev({ type: "budget_raised", scope: "stage", limit_usd: 10 }))!;
    expect(stageLimit(raised, { stageBudgetUsd: 3 }, raised.stages["1"]!)).toBe(10);
  });
});

describe("escalation", () => {
  it("goes to the model after the current one, the first when the current is not on the list, none at the end", () => {
    expect(nextModel(["sonnet", "opus"], "sonnet")).toBe("opus");
    expect(nextModel(["sonnet", "opus"], undefined)).toBe("sonnet");
    expect(nextModel(["sonnet", "opus"], "haiku")).toBe("sonnet");
    expect(nextModel(["sonnet", "opus"], "opus")).toBeUndefined();
    expect(nextModel([], "sonnet")).toBeUndefined();
  });
  it("a stage escalated starts over with the new model and a fresh relaunch budget; its total sessions still count", () => {
    const events = start([{ id: "1", settings: { model: "sonnet" } }]);
    events.push(launched("1"), ev({ type: "session_dead", stage: "1", session: "s1" }), ev({ type: "stage_relaunched", stage: "1", session: "s1", session_id: "u", attempt: 2 }));
    events.push(ev({ type: "stage_escalated", stage: "1", model: "opus", from: "sonnet", reason: "died twice" }));
    const s = foldEvents(events)!;
    expect(s.stages["1"]).toMatchObject({ model: "opus", attempts: 0, sessions: 2, status: "in_progress", attention: null });
  });
});

describe("the fold", () => {
  it("never changes the status it is given (a caller may keep the previous one)", () => {
    const events = start([{ id: "1" }, { id: "2", deps: ["1"] }]);
    events.push(launched("1"), ev({ type: "phase_status", stage: "1", phase: "implement", status: "start", current_phase: 1, total_phases: 2 }), ev({ type: "rate_limited", resets_at: "2026-01-01T05:00:00.000Z", parsed: true, raw: "x" }));
    let status: Status | undefined;
    const seen: string[] = [];
    for (const e of [...events, ev({ type: "merge_started", stage: "1", branch: "b1" }), failed("1"), ev({ type: "stage_retried", stage: "1", fresh_worktree: false })]) {
      const before = status === undefined ? undefined : JSON.stringify(status);
      const next = applyEvent(status, e);
      if (before !== undefined) expect(JSON.stringify(status)).toBe(before);
      status = next;
      seen.push(status!.stages["1"]!.status);
    }
    expect(seen.slice(-3)).toEqual(["merging", "failed", "pending"]);
    // A whole fold (which builds one status in place) ends where applying each event does.
    const all = [...events, ev({ type: "merge_started", stage: "1", branch: "b1" }), failed("1"), ev({ type: "budget_exceeded", limit_usd: 1, spent_usd: 2, stopped: true }), ev({ type: "stage_retried", stage: "1", fresh_worktree: false })];
    expect(foldEvents(all)).toEqual(all.reduce<Status | undefined>(applyEvent, undefined));
  });
  it("starts a stage the plan marks done as completed, never to launch", () => {
    const s = foldEvents(start([{ id: "1", settings: { status: "completed" } }, { id: "2", deps: ["1"] }]))!;
    expect(s.stages["1"]).toMatchObject({ status: "completed", done_in_plan: true });
    expect(stagesToLaunch(s)).toEqual(["2"]);
  });
});

describe("stages a person finished", () => {
  it.each([
    ["stage_done_by_person", "person", "abcdef1"],
    ["stage_skipped", "skipped", null],
  ] as const)("%s: a failed stage counts as completed, its blocked dependants launch, the run goes on", (type, by, commit) => {
    const events = start([{ id: "1" }, { id: "2", deps: ["1"] }, { id: "3", deps: ["2"] }]);
    events.push(launched("1"), failed("1"), ev({ type: "orchestration_complete", status: "failed" }));
    const before = foldEvents(events)!;
    expect(before.stages["3"]!.status).toBe("blocked");
    expect(outcome(before)).toMatchObject({ done: true, status: "failed" });
    const body: EventBody = type === "stage_skipped" ? { type, stage: "1", reason: "not needed" } : { type, stage: "1", how: "command", commit: "abcdef1", detail: "b1 is in main" };
    const s = foldEvents([...events, ev(body)])!;
    expect(s.stages["1"]).toMatchObject({ status: "completed", finished_by: by, merge_commit: commit, failure_reason: null });
    expect(s.stages["3"]!.status).toBe("pending");
    expect(s.status).toBe("running");
    expect(s.failed_in_row).toEqual([]);
    expect(stagesToLaunch(s)).toEqual(["2"]);
    // A merged stage stays merged: a late word of a person changes nothing.
    const after = foldEvents([...events, ev(body), launched("2"), merged("2"), ev(body)])!;
    expect(after.stages["1"]!.finished_by).toBe(by);
  });
  it("the run ends completed, saying which stages were skipped", () => {
    const events = start([{ id: "1" }, { id: "2", deps: ["1"] }]);
    events.push(launched("1"), ev({ type: "stage_skipped", stage: "1", reason: "x" }), launched("2"), merged("2"));
    expect(outcome(foldEvents(events)!)).toEqual({ done: true, status: "completed", reason: "every stage merged but 1, skipped by a person" });
  });
  it("a stage done or skipped by a person before its own dependencies merged holds its dependants until they do", () => {
    for (const finish of [ev({ type: "stage_done_by_person", stage: "2", how: "command", commit: "abcdef1", detail: "d" }), ev({ type: "stage_skipped", stage: "2", reason: "r" })]) {
      const events = start([{ id: "1" }, { id: "2", deps: ["1"] }, { id: "3", deps: ["2"] }, { id: "4" }]);
      events.push(launched("1"), launched("4"), finish);
      expect(stagesToLaunch(foldEvents(events)!)).toEqual([]);
      events.push(merged("1"));
      expect(stagesToLaunch(foldEvents(events)!)).toEqual(["3"]);
    }
  });
  it("a stage a person finished after its dependencies lets its dependants go at once", () => {
    const events = start([{ id: "1" }, { id: "2", deps: ["1"] }, { id: "3", deps: ["2"] }]);
    events.push(launched("1"), merged("1"), launched("2"), ev({ type: "stage_done_by_person", stage: "2", how: "command", commit: "abcdef1", detail: "d" }));
    expect(stagesToLaunch(foldEvents(events)!)).toEqual(["3"]);
  });
});

describe("resume lifts holds", () => {
  it("closes an open circuit breaker, raises a budget above what was spent, refuses one at or below it", async () => {
    const { mkdtempSync, rmSync, mkdirSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { liftHolds } = await import("../../src/commands/control.js");
    const { orchPaths } = await import("../../src/state/paths.js");
    const { readAllEvents } = await import("../../src/state/events.js");
    const { DEFAULT_CONFIG } = await import("../../src/state/config.js");
    const dir = mkdtempSync(join(tmpdir(), "autorun-resume-"));
    try {
      const paths = orchPaths(join(dir, "home"), "p", "p");
      mkdirSync(paths.dir, { recursive: true });
      const events = [...start([{ id: "1" }, { id: "2" }], 1), launched("1"), ev({ type: "usage_recorded", stage: "1", transcript: "t", offset: 1, usage: { input_tokens: 1, output_tokens: 1, cache_creation_tokens: 0, cache_read_tokens: 0, usd: 2 } }), failed("1"), ev({ type: "circuit_open", failed: ["1"] })];
      const status = foldEvents(events)!;
      const out: string[] = [];
      const ctx = { cwd: dir, env: {}, home: paths.home, out: (l: string) => out.push(l), err: (l: string) => out.push(l), isTTY: false };
      const orch = { paths, status, config: DEFAULT_CONFIG };
      expect(() => liftHolds(ctx, orch, { budget: 2 })).toThrow("--budget 2: the run has already spent $2.00; give a budget above that.");
      expect(readAllEvents(paths.events)).toEqual([]);
      liftHolds(ctx, orch, { budget: 5 });
      expect(readAllEvents(paths.events).map((e) => e.type)).toEqual(["budget_raised", "circuit_closed"]);
      expect(out).toContain("Circuit breaker closed (1 stage failed in a row (1)): launches resume.");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
