import { describe, expect, it } from "vitest";
import { foldEvents } from "../../src/core/fold.js";
import type { AutorunEvent } from "../../src/types/schemas.js";
import { renderStatusTable } from "../../src/commands/status.js";
import { clipDisplay, cutAtWord, displayWidth, padDisplay } from "../../src/core/text-width.js";
import { startedEvent } from "../helpers/events.js";
import { tableCell } from "../../src/tui/views.js";

const ident = { orch_dir: "/h/orchestration/p", plan_name: "p", project_slug: "a-project-with-a-long-slug" };
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const names = ["数据库迁移和索引重建工作", "Refactor the authentication middleware and its tests", "Ünïcödé café ✔", "Release 🚀 notes"];

function run() {
  return foldEvents(events())!;
}

function events(): AutorunEvent[] {
  const started = startedEvent(names.map((name, i) => ({ id: String(i + 1), name })), { ident, ts: at(0) });
  for (const s of started.stages) {
    s.branch = `worktree-a-project-with-a-long-slug-stage-${s.id}`;
    s.session = `a-project-with-a-long-slug_stage-${s.id}`;
  }
  return [started, ...names.map((_, i) => ({ ...ident, ts: at(i + 1), type: "stage_launched", stage: String(i + 1), session: `x${i}`, session_id: `u${i}`, attempt: 1 }))] as AutorunEvent[];
}

describe("display width", () => {
  it.each([
    ["abc", 3],
    ["数据", 4],
    ["café", 4],
    ["e\u0301", 1],
    ["🚀", 2],
    ["✔", 1],
    ["한국어", 6],
  ])("%s takes %i columns", (text, w) => expect(displayWidth(text)).toBe(w));
  it("pads and clips by columns, never splitting a wide character", () => {
    expect(padDisplay("数据", 6)).toBe("数据  ");
    expect(clipDisplay("数据库迁移", 6)).toBe("数据…");
    expect(displayWidth(clipDisplay("数据库迁移", 6))).toBeLessThanOrEqual(6);
  });
});

describe("cut at a word's end", () => {
  it("keeps short text, cuts long text after its last whole word, and a giant word where it must", () => {
    expect(cutAtWord("short", 10)).toBe("short");
    expect(cutAtWord("Commit your work on worktree-box-stage-2 in your worktree, then run: autorun phase implement done", 80)).toBe("Commit your work on worktree-box-stage-2 in your worktree, then run: autorun…");
    expect(cutAtWord("x".repeat(30), 10)).toBe(`${"x".repeat(9)}…`);
    expect(cutAtWord("a bbbbbbbbbbbbbbbbbbbbbbbb", 10)).toBe("a bbbbbbb…");
  });
});

describe("status in a terminal's width", () => {
  const table = (lines: string[]) => lines.slice(lines.findIndex((l) => l.startsWith("STAGE")), lines.findIndex((l) => l.startsWith("STAGE")) + names.length + 1);
  it.each([80, 100, 120])("every table row fits in %i columns, and the columns line up with wide names", (width) => {
    const lines = renderStatusTable(run(), new Date(at(100)), true, { width });
    const rows = table(lines);
    expect(rows).toHaveLength(names.length + 1);
    for (const r of rows) expect(displayWidth(r), r).toBeLessThanOrEqual(width);
    // STATUS starts at the same column in every row (measured in terminal columns).
    const col = (r: string) => displayWidth(r.slice(0, r.indexOf(r.startsWith("STAGE") ? "STATUS" : "starting")));
    expect(new Set(rows.map(col)).size).toBe(1);
    expect(rows[0]).toMatch(/^STAGE\s+NAME\s+STATUS\s+ATTENTION/);
  });
  it("at 80 columns, what was left out is named with the way to see it; with no width, every column", () => {
    const narrow = renderStatusTable(run(), new Date(at(100)), true, { width: 80 });
    expect(narrow.join("\n")).toMatch(/\(.*session.* not shown at this width: autorun status p --wide\)/);
    const wide = renderStatusTable(run(), new Date(at(100)), true, {});
    expect(table(wide)[0]).toMatch(/BRANCH\/MERGE\s+SESSION$/);
    expect(wide.join("\n")).not.toContain("not shown at this width");
  });
  it("counts stages in the table's words, and a finished run's cost is not 'so far'", () => {
    const lines = renderStatusTable(run(), new Date(at(100)), true, {});
    expect(lines[0]).toContain("(4 running)");
    // A person ended the sessions: the stages wait for the run to go on, and say so.
    const stopped = foldEvents([...events(), { ...ident, ts: at(20), type: "orchestration_stopped", sessions: true }] as AutorunEvent[])!;
    const said = renderStatusTable(stopped, new Date(at(100)), false, {});
    expect(said[0]).toMatch(/^p: stopped {2}\(4 stopped\)/);
    expect(said.filter((l) => /^\d\s/.test(l)).every((l) => /\sstopped\s/.test(l))).toBe(true);
    const done = foldEvents([
      startedEvent([{ id: "1", name: "A" }], { ident, ts: at(0) }),
      { ...ident, ts: at(1), type: "stage_launched", stage: "1", session: "s", session_id: "u", attempt: 1 },
      { ...ident, ts: at(2), type: "usage_recorded", stage: "1", transcript: "t", offset: 0, usage: { input_tokens: 1000, output_tokens: 100, cache_creation_tokens: 0, cache_read_tokens: 0, usd: 0.5 } },
      { ...ident, ts: at(3), type: "merge_complete", stage: "1", branch: "b1", commit: "abcdef1234" },
      { ...ident, ts: at(4), type: "orchestration_complete", status: "completed" },
    ] as AutorunEvent[])!;
    const text = renderStatusTable(done, new Date(at(100)), false, {});
    expect(text[0]).toMatch(/^p: completed {2}\(1 merged\)/);
    expect(text.join("\n")).toMatch(/^cost: /m);
  });
});

describe("the dashboard's table cells", () => {
  it("draw each emoji as 〓 of the same width, drop joiners and selectors, keep the rest", () => {
    expect(tableCell("Release 🚀 notes")).toBe("Release 〓 notes");
    expect(tableCell("👩‍💻 coder")).toBe("〓〓 coder");
    expect(tableCell("Sunny ☀️")).toBe("Sunny ☀");
    expect(tableCell("数据库 ✔ café")).toBe("数据库 ✔ café");
    for (const name of [...names, "👩‍💻 coder", "Sunny ☀️", "𝔘 math"]) expect(displayWidth(tableCell(name))).toBe(displayWidth(name));
  });
});
