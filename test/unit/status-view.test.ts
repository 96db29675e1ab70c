import { describe, expect, it } from "vitest";
import { foldEvents } from "../../src/core/fold.js";
import type { AutorunEvent } from "../../src/types/schemas.js";
import { renderStatusTable } from "../../src/commands/status.js";
import { formatDuration } from "../../src/core/stage-cells.js";
import { lastWords, phaseOf, withoutFurniture } from "../../src/core/words.js";
import { startedEvent } from "../helpers/events.js";
import { dependencyLines, headerLine, keysLine } from "../../src/tui/views.js";

const ident = { orch_dir: "/h/orchestration/p", plan_name: "p", project_slug: "p" };
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

function run(extra: object[]) {
  const events = [
    startedEvent([{ id: "1", name: "A" }, { id: "2", name: "B" }, { id: "3", name: "C", deps: ["1"] }], { ident, ts: at(0) }),
    ...extra.map((e, i) => ({ ...ident, ts: at(i + 1), ...e })),
  ] as AutorunEvent[];
  return foldEvents(events)!;
}

describe("status for a person", () => {
  it.each([
    [45_000, "45s"],
    [5 * 60_000 + 3_000, "5m 03s"],
    [90 * 60_000, "1h 30m"],
    [26 * 3_600_000, "1d 2h"],
  ])("%i ms reads as %s", (ms, text) => expect(formatDuration(ms)).toBe(text));

  it("the dashboard's run time stops when the run ends", () => {
    const done = run([{ type: "orchestration_complete", status: "completed" }]);
    // Ended one second after it started, looked at a day later.
    // A run that is over has no monitor to miss; one that runs without it says so.
    expect(headerLine(done, false, new Date(Date.UTC(2026, 0, 2)))).toMatch(/ · 1 second$/);
    expect(headerLine(run([]), false, new Date(Date.UTC(2026, 0, 1, 0, 2)))).toMatch(/ · 2 minutes · monitor down$/);
    expect(dependencyLines(run([{ type: "wave_started", wave: 1 }, { type: "orchestration_complete", status: "completed" }]))).not.toContain("Wave 1 (current)");
    expect(dependencyLines(run([{ type: "wave_started", wave: 1 }]))).toContain("Wave 1 (current)");
    // A skipped stage is not shown as merged, on its line or where others wait on it.
    const skipped = dependencyLines(run([{ type: "stage_launched", stage: "1", session: "s1", session_id: "u", attempt: 1 }, { type: "stage_skipped", stage: "1", reason: "with autorun skip" }]));
    expect(skipped).toContain("  ↷ 1 A");
    expect(skipped.find((l) => l.includes(" 3 C"))).toMatch(/← 1↷$/);
    // Nor a monitor to stop.
    expect(keysLine(done)).not.toContain("s stop");
    expect(keysLine(run([]))).toContain("s stop");
  });

  it("cuts a long name to fit a width, and keeps it whole without one (--wide)", () => {
    const long = "A stage whose name goes on well beyond twenty-eight columns";
    const s = foldEvents([startedEvent([{ id: "1", name: long }], { ident, ts: at(0) })] as AutorunEvent[])!;
    const row = (lines: string[]) => lines.find((l) => l.startsWith("1 "))!;
    expect(row(renderStatusTable(s, new Date(at(5)), true, { width: 80 }))).toMatch(/^1 +A stage whose name goes …  /);
    expect(row(renderStatusTable(s, new Date(at(5)), true))).toContain(long);
  });

  it("a stage at work puts the run in its wave, with or without a monitor to record it", () => {
    const launched = run([{ type: "stage_launched", stage: "1", session: "s1", session_id: "u1", attempt: 1 }]);
    expect(renderStatusTable(launched, new Date(at(5)), false)[0]).toMatch(/ {2}wave 1\/2 {2}/);
    expect(renderStatusTable(run([]), new Date(at(5)), false)[0]).toMatch(/ {2}wave 0\/2 {2}/);
  });

  it("counts the stages that need attention in words that agree", () => {
    const launched = (id: string) => ({ type: "stage_launched", stage: id, session: `s${id}`, session_id: `u${id}`, attempt: 1 });
    const stuck = (id: string) => ({ type: "stage_attention", stage: id, attention: "idle" });
    const now = new Date(Date.UTC(2026, 0, 1, 0, 2));
    expect(headerLine(run([launched("1"), stuck("1")]), true, now)).toContain(" · 1 needs attention · ");
    expect(headerLine(run([launched("1"), stuck("1"), launched("2"), stuck("2")]), true, now)).toContain(" · 2 need attention · ");
  });

  it("shows the phase a stage is in, with the implementation step", () => {
    const s = run([
      { type: "stage_launched", stage: "1", session: "s1", session_id: "u1", attempt: 1 },
      { type: "phase_status", stage: "1", phase: "triage", status: "done" },
      { type: "phase_status", stage: "1", phase: "implement", status: "start", current_phase: 2, total_phases: 3 },
      { type: "stage_launched", stage: "2", session: "s2", session_id: "u2", attempt: 1 },
      { type: "phase_status", stage: "2", phase: "create_plan", status: "start" },
    ]);
    expect(phaseOf(s.stages["1"]!)).toBe("implementing 2/3");
    expect(phaseOf(s.stages["2"]!)).toBe("planning");
    expect(phaseOf(s.stages["3"]!)).toBe("—");
  });

  it("colours status and attention only when asked, and lists open reviews with the command that answers them", () => {
    const s = run([
      { type: "stage_launched", stage: "1", session: "s1", session_id: "u1", attempt: 1 },
      { type: "review_requested", stage: "1", file: "/h/review/q.md", title: "Which database?" },
    ]);
    const reviews = [{ file: "/h/review/q.md", title: "Which database?", stage: "1", plan_name: "p", state: "open" }];
    const plain = renderStatusTable(s, new Date(at(90)), false, { reviews });
    expect(plain.join("\n")).not.toContain("\x1b[");
    expect(plain).toContain("stage 1 asks: Which database?");
    expect(plain).toContain("  answer it: autorun review open /h/review/q.md");
    const coloured = renderStatusTable(s, new Date(at(90)), false, { color: true, reviews });
    expect(coloured.join("\n")).toContain("\x1b[36mstarting");
    // Colour never shifts the columns: without escapes, the two tables are the same.
    expect(coloured.map((l) => l.replace(/\x1b\[\d+m/g, ""))).toEqual(plain);
  });
});

describe("TRIES", () => {
  it("counts the sessions against the stage's attempts: a relaunch after a person's stop is free, a crash's is not, and a cap shows", async () => {
    const { STAGE_CELLS } = await import("../../src/core/stage-cells.js");
    const events = [
      startedEvent([{ id: "1", name: "A" }, { id: "2", name: "B", settings: { max_attempts: 2 } }], { ident, ts: at(0) }),
      ...[
        { type: "stage_launched", stage: "1", session: "s1", session_id: "u1", attempt: 1 },
        { type: "stage_launched", stage: "2", session: "s2", session_id: "u2", attempt: 1 },
        { type: "orchestration_stopped", sessions: true },
        { type: "orchestration_resumed", relaunch: ["1", "2"] },
        { type: "stage_relaunched", stage: "1", session: "s1", session_id: "u1", attempt: 2 },
        { type: "stage_relaunched", stage: "2", session: "s2", session_id: "u2", attempt: 2 },
        { type: "session_dead", stage: "2", session: "s2" },
        { type: "stage_relaunched", stage: "2", session: "s2", session_id: "u2", attempt: 3 },
      ].map((e, i) => ({ ...ident, ts: at(i + 1), ...e })),
    ] as AutorunEvent[];
    const s = foldEvents(events)!;
    expect(STAGE_CELLS.TRIES("1", s.stages["1"]!)).toBe("1");
    expect(STAGE_CELLS.TRIES("2", s.stages["2"]!)).toBe("2/2");
    // The report's JSON gives them as numbers, its table as status does.
    const { buildReport, renderReportMarkdown } = await import("../../src/core/report.js");
    const report = buildReport(s, events);
    expect(report.stages.map((r) => [r.tries, r.max_attempts])).toEqual([[1, null], [2, 2]]);
    expect(renderReportMarkdown(report)).toMatch(/\| 2 \| B \| [^|]+ \| 2\/2 \|/);
    // A person's retry starts the count again, and says so.
    const failed = [
      { type: "stage_failed", stage: "2", reason: "agent_failed" },
      { type: "stage_retried", stage: "2", fresh_worktree: false },
      { type: "stage_launched", stage: "2", session: "s2", session_id: "u3", attempt: 1 },
    ].map((e, i) => ({ ...ident, ts: at(20 + i), ...e })) as AutorunEvent[];
    const retried = foldEvents([...events, ...failed])!;
    expect(STAGE_CELLS.TRIES("2", retried.stages["2"]!)).toBe("1/2 (retried 1)");
  });
});

describe("the dashboard's stage table", () => {
  it("keeps the first columns and the name at 80 columns, adds the rest as they fit, and never overflows", async () => {
    const { stageTable } = await import("../../src/tui/views.js");
    const s = run([{ type: "stage_launched", stage: "1", session: "s1", session_id: "u", attempt: 1 }]);
    const now = new Date(Date.parse(at(90)));
    const narrow = stageTable(s, now, 40);
    expect(narrow.header).toEqual(["STAGE", "NAME", "STATUS", "ATTENTION"]);
    const mid = stageTable(s, now, 77);
    expect(mid.header.slice(0, 6)).toEqual(["STAGE", "NAME", "STATUS", "ATTENTION", "ELAPSED", "COST"]);
    expect(mid.header).not.toContain("BRANCH/MERGE");
    const wide = stageTable(s, now, 196);
    expect(wide.header).toContain("BRANCH/MERGE");
    for (const t of [mid, wide]) {
      const widths = t.header.map((h, i) => Math.max(h.length, ...t.rows.map((r) => r[i]!.length)));
      expect(widths.reduce((a, b) => a + b + 2, 0)).toBeLessThanOrEqual(t === mid ? 77 : 196);
    }
    expect(mid.rows.find((r) => r[0] === "1")!.slice(0, 3)).toEqual(["1", "A", "starting"]);
  });
});

describe("who waits on what", () => {
  it("shows a ready stage waiting for an exclusive resource and who holds it, and a run on hold first", async () => {
    const { dependencyLines } = await import("../../src/tui/views.js");
    const events = [
      startedEvent([{ id: "1", name: "Migrate", settings: { exclusive_resources: ["database"] } }, { id: "2", name: "Seed", settings: { exclusive_resources: ["database"] } }], { ident, ts: at(0) }),
      { ...ident, ts: at(1), type: "stage_launched", stage: "1", session: "s1", session_id: "u", attempt: 1 },
      { ...ident, ts: at(2), type: "circuit_open", failed: ["7", "8", "9"] },
    ] as AutorunEvent[];
    const lines = dependencyLines(foldEvents(events)!);
    expect(lines.slice(0, 2)).toEqual(["ON HOLD: 3 stages failed in a row (7, 8, 9)", "  autorun resume p"]);
    expect(lines).toContain("      waits for database (stage 1 has it)");
    const table = renderStatusTable(foldEvents(events)!, new Date(Date.parse(at(5))), true);
    expect(table).toContain("stage 2 waits for database (held by stage 1)");
    expect(table).toContain("on hold: 3 stages failed in a row (7, 8, 9); nothing new is launched. once you have looked: autorun resume p (or answer its review)");
  });
});

describe("the next step, and an agent's last words", () => {
  it("a run with no monitor says how to go on; failed stages say how to run them again", () => {
    const s = run([
      { type: "stage_launched", stage: "1", session: "s1", session_id: "u1", attempt: 1 },
      { type: "stage_failed", stage: "1", reason: "died twice" },
    ]);
    const lines = renderStatusTable(s, new Date(at(10)), false);
    expect(lines).toContain("nothing moves this run while no monitor runs; to go on: autorun resume p");
    expect(lines).toContain("to run it again: autorun retry p 1 (or let what waits go on without: autorun skip p 1)");
    expect(renderStatusTable(s, new Date(at(10)), true).join("\n")).not.toContain("autorun resume");
  });

  it("Claude Code's input box and hints are not part of what the agent said", () => {
    const screen = [
      "⏺ Error: the config file is missing",
      "╭──────────────────────────────────────╮",
      "│ ❯                                    │",
      "╰──────────────────────────────────────╯",
      "  ? for shortcuts",
      "────────────────",
    ];
    expect(withoutFurniture(screen)).toEqual(["⏺ Error: the config file is missing"]);
    const s = run([
      { type: "stage_launched", stage: "1", session: "s1", session_id: "u1", attempt: 1 },
      { type: "session_dead", stage: "1", session: "s1", exit_status: 1, last_lines: screen },
    ]);
    expect(renderStatusTable(s, new Date(at(10)), true)).toContain("stage 1's agent exited 1: ⏺ Error: the config file is missing");
  });

  it("a program's crash is said by its error, not by the last lines of its stack", () => {
    // Node's own words for a script that is not there, as its pane shows them.
    const screen = [
      "node:internal/modules/cjs/loader:1210",
      "  throw err;",
      "  ^",
      "",
      "Error: Cannot find module '/nonexistent.js'",
      "    at Module._resolveFilename (node:internal/modules/cjs/loader:1207:15)",
      "    at Module._load (node:internal/modules/cjs/loader:1038:27)",
      "    at Function.executeUserEntryPoint [as runMain] (node:internal/modules/run_main:164:12)",
      "    at node:internal/main/run_main_module:28:49 {",
      "  code: 'MODULE_NOT_FOUND',",
      "  requireStack: []",
      "}",
      "",
      "Node.js v20.20.2",
    ];
    expect(lastWords(screen, 3)).toBe("Error: Cannot find module '/nonexistent.js' | code: 'MODULE_NOT_FOUND', | requireStack: []");
    const s = run([
      { type: "stage_launched", stage: "1", session: "s1", session_id: "u1", attempt: 1 },
      { type: "session_dead", stage: "1", session: "s1", exit_status: 1, last_lines: screen },
    ]);
    expect(renderStatusTable(s, new Date(at(10)), true)).toContain("stage 1's agent exited 1: Error: Cannot find module '/nonexistent.js' | code: 'MODULE_NOT_FOUND', | requireStack: []");
    // Without an error line, the last lines as they are.
    expect(lastWords(["working", "step 2", "step 3", "bye"], 3)).toBe("step 2 | step 3 | bye");
  });
});
