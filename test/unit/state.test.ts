import { mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appendEvent, appendEvents, readEventsFrom } from "../../src/state/events.js";
import { orchPaths } from "../../src/state/paths.js";
import { rebuildStatus, readStatusFile } from "../../src/state/status.js";
import { foldEvents } from "../../src/core/fold.js";
import { renderContextFile } from "../../src/core/context-file.js";
import { UserError } from "../../src/errors.js";
import { startedEvent } from "../helpers/events.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "autorun-state-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ident = (paths: { dir: string }) => ({ orch_dir: paths.dir, plan_name: "p", project_slug: "p" });

function started(paths: ReturnType<typeof orchPaths>) {
  mkdirSync(paths.dir, { recursive: true });
  // Written as `orchestrate` writes it: the store stamps the time.
  const { ts: _ts, ...body } = startedEvent([{ id: "1", name: "A" }, { id: "2", name: "B", deps: ["1"] }], { ident: ident(paths) });
  appendEvent(paths.events, body);
}

describe("events", () => {
  it("rejects an invalid event with a clear error and appends nothing", () => {
    const paths = orchPaths(dir, "p", "p");
    started(paths);
    const before = readFileSync(paths.events, "utf8");
    expect(() => appendEvent(paths.events, { ...ident(paths), type: "phase_status", stage: "1", phase: "dance", status: "start" } as never)).toThrow(UserError);
    expect(() => appendEvent(paths.events, { ...ident(paths), type: "no_such_type" } as never)).toThrow(/invalid/);
    expect(readFileSync(paths.events, "utf8")).toBe(before);
  });

  it("appends several events in one go, one line each with one time, or none of them when one is invalid", () => {
    const paths = orchPaths(dir, "p", "p");
    started(paths);
    const before = readFileSync(paths.events, "utf8");
    const launched = (stage: string) => ({ ...ident(paths), type: "stage_launched" as const, stage, session: `s${stage}`, session_id: "u", attempt: 1 });
    expect(() => appendEvents(paths.events, [launched("1"), { ...launched("2"), attempt: "one" } as never])).toThrow(/invalid stage_launched event: attempt/);
    expect(readFileSync(paths.events, "utf8")).toBe(before);
    const written = appendEvents(paths.events, [launched("1"), launched("2"), launched("3")]);
    const read = readEventsFrom(paths.events, Buffer.byteLength(before)).events;
    expect(read).toEqual(written);
    expect(read.map((e) => ("stage" in e ? e.stage : ""))).toEqual(["1", "2", "3"]);
    expect(new Set(read.map((e) => e.ts)).size).toBe(1);
    expect(appendEvents(paths.events, [])).toEqual([]);
  });

  it("reads only complete lines, from a byte offset", () => {
    const paths = orchPaths(dir, "p", "p");
    started(paths);
    const first = readEventsFrom(paths.events, 0);
    expect(first.events).toHaveLength(1);
    appendEvent(paths.events, { ...ident(paths), type: "wave_started", wave: 1 });
    const next = readEventsFrom(paths.events, first.offset);
    expect(next.events.map((e) => e.type)).toEqual(["wave_started"]);
  });
});

describe("status", () => {
  it("is a fold of the events, written atomically", async () => {
    const paths = orchPaths(dir, "p", "p");
    started(paths);
    appendEvent(paths.events, { ...ident(paths), type: "stage_launched", stage: "1", session: "s1", session_id: "u", attempt: 1 });
    appendEvent(paths.events, { ...ident(paths), type: "phase_status", stage: "1", phase: "implement", status: "start", current_phase: 1, total_phases: 2 });
    appendEvent(paths.events, { ...ident(paths), type: "stage_failed", stage: "1", reason: "x" });
    const status = await rebuildStatus(paths);
    expect(readStatusFile(paths.status)).toEqual(status);
    expect(status!.stages["1"]!.phases.implement).toMatchObject({ current_phase: 1, total_phases: 2 });
    expect(status!.stages["1"]!.status).toBe("failed");
    expect(status!.stages["2"]!.status).toBe("blocked");
  });

  it("keeps a merged stage merged", () => {
    const paths = orchPaths(dir, "p", "p");
    started(paths);
    const ts = "2026-01-01T00:00:00.000Z";
    const s = foldEvents([
      ...readEventsFrom(paths.events).events,
      { ...ident(paths), ts, type: "stage_launched", stage: "1", session: "s1", session_id: "u", attempt: 1 },
      { ...ident(paths), ts, type: "merge_complete", stage: "1", branch: "b1", commit: "abc" },
      { ...ident(paths), ts, type: "session_dead", stage: "1", session: "s1" },
      { ...ident(paths), ts, type: "stage_failed", stage: "1", reason: "late" },
    ])!;
    expect(s.stages["1"]).toMatchObject({ status: "completed", merge_commit: "abc", attention: null });
    expect(s.stages["2"]!.status).toBe("pending");
  });

  it("folds launches, merges and attention", () => {
    const paths = orchPaths(dir, "p", "p");
    started(paths);
    const base = readEventsFrom(paths.events).events;
    const ts = "2026-01-01T00:00:00.000Z";
    const s = foldEvents([
      ...base,
      { ...ident(paths), ts, type: "stage_launched", stage: "1", session: "s1", session_id: "u", attempt: 1 },
      { ...ident(paths), ts, type: "stage_needs_permission", stage: "1", source: "hook", message: "m" },
      { ...ident(paths), ts, type: "merge_conflict", stage: "1", reason: "conflict", files: ["a"], detail: "d" },
    ])!;
    expect(s.stages["1"]).toMatchObject({ status: "in_progress", attention: "merge_conflict", attempts: 1 });
  });

  it("forgets a retried stage's phases and plan only when it starts over in a fresh worktree", () => {
    const paths = orchPaths(dir, "p", "p");
    started(paths);
    const ts = "2026-01-01T00:00:00.000Z";
    const before = [
      ...readEventsFrom(paths.events).events,
      { ...ident(paths), ts, type: "stage_launched" as const, stage: "1", session: "s1", session_id: "u", attempt: 1 },
      { ...ident(paths), ts, type: "phase_status" as const, stage: "1", phase: "create_plan" as const, status: "done" as const, plan_file: "/w/plan.md" },
      { ...ident(paths), ts, type: "phase_status" as const, stage: "1", phase: "implement" as const, status: "start" as const, current_phase: 2, total_phases: 2 },
      { ...ident(paths), ts, type: "stage_failed" as const, stage: "1", reason: "crashed" },
    ];
    const retry = (fresh: boolean) => foldEvents([...before, { ...ident(paths), ts, type: "stage_retried" as const, stage: "1", fresh_worktree: fresh }])!.stages["1"]!;
    expect(retry(false)).toMatchObject({ status: "pending", plan_file: "/w/plan.md", phases: { implement: { current_phase: 2, total_phases: 2 } } });
    expect(retry(true)).toMatchObject({ status: "pending", plan_file: null, phases: {} });
    // Its time runs from its next launch: the hours it sat failed are not the retry's.
    expect(retry(false).started_at).toBeNull();
    const later = "2026-01-01T05:00:00.000Z";
    const relaunched = foldEvents([...before, { ...ident(paths), ts, type: "stage_retried" as const, stage: "1", fresh_worktree: false }, { ...ident(paths), ts: later, type: "stage_launched" as const, stage: "1", session: "s1", session_id: "u2", attempt: 1 }])!.stages["1"]!;
    expect(relaunched.started_at).toBe(later);
  });

  it.each([
    ["conflict", "merge_conflict"],
    ["validate_failed", "check_failed"],
    ["no_commits", "no_commits"],
    ["checkout_overlap", "merge_waiting"],
  ] as const)("a merge refused for %s raises attention %s, cleared when the agent reports again", (reason, attention) => {
    const paths = orchPaths(dir, "p", "p");
    started(paths);
    const base = readEventsFrom(paths.events).events;
    const ts = "2026-01-01T00:00:00.000Z";
    const events = [
      ...base,
      { ...ident(paths), ts, type: "stage_launched" as const, stage: "1", session: "s1", session_id: "u", attempt: 1 },
      { ...ident(paths), ts, type: "merge_conflict" as const, stage: "1", reason, files: [], detail: "d" },
    ];
    expect(foldEvents(events)!.stages["1"]!.attention).toBe(attention);
    const again = foldEvents([...events, { ...ident(paths), ts, type: "phase_status" as const, stage: "1", phase: "implement" as const, status: "done" as const }])!;
    expect(again.stages["1"]!.attention).toBeNull();
  });
});

describe("context file", () => {
  it("has exactly the documented status.json shape", () => {
    expect(renderContextFile({ id: "3", name: "API", scope: "Do it.", depends_on: ["1", "2"], orchDir: "/o", statusFile: "/o/status.json", baseBranch: "main" })).toBe(
      "# Stage 3: API\n## Scope\nDo it.\n## Dependencies\n- Depends on: Stage 1, Stage 2\n## Orchestration\norchestration_dir: /o\nstage_number: 3\nstatus_file: /o/status.json\nbase_branch: main\n",
    );
    expect(renderContextFile({ id: "1", name: "A", scope: "", depends_on: [], orchDir: "/o", statusFile: "/o/s", baseBranch: "dev" })).toContain("- Depends on: None\n");
  });
});
