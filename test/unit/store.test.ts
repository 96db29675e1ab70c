/** The store's pieces alone: review files, configuration layers, locks, and the report. Fast. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseReview, renderReview } from "../../src/state/review.js";
import { loadConfig, DEFAULT_CONFIG } from "../../src/state/config.js";
import { isLocked, withLock } from "../../src/state/lock.js";
import { buildReport, renderReportMarkdown } from "../../src/core/report.js";
import { foldEvents } from "../../src/core/fold.js";
import { elapsed } from "../../src/core/stage-cells.js";
import { UserError } from "../../src/errors.js";
import { startedEvent } from "../helpers/events.js";
import type { AutorunEvent } from "../../src/types/schemas.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "autorun-unit-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("review files", () => {
  const meta = { questions: 2, created_at: "2026-01-01T00:00:00.000Z", stage: "3", plan_name: "p" };
  const blank = renderReview("Pick a database", "We need one.", [{ topic: "Engine", question: "Postgres or SQLite?" }, { topic: "Hosting", question: "Where?" }], meta);
  const answer = (text: string, n: number, a: string) => {
    let seen = 0;
    return text.replace(/\*\*Your answer\*\*:\n/g, (m) => (++seen === n ? `**Your answer**: ${a}\n` : m));
  };
  it.each([
    ["unanswered", blank, false, ["", ""]],
    ["half answered", answer(blank, 1, "Postgres"), false, ["Postgres", ""]],
    ["answered", answer(answer(blank, 1, "Postgres"), 1, "Fly.io"), true, ["Postgres", "Fly.io"]],
    ["answered but cut short (no footer)", answer(answer(blank, 1, "Postgres"), 1, "Fly.io").replace(/\*Edit this file.*\*\n/, ""), false, ["Postgres", "Fly.io"]],
    ["answered with a question deleted", answer(answer(blank, 1, "Postgres"), 1, "Fly.io").replace(/### 2\. Hosting[\s\S]*?Fly\.io\n/, ""), false, ["Postgres"]],
    ["answered on the lines below", blank.replace("**Your answer**:\n", "**Your answer**:\nPostgres,\nversion 16\n").replace(/\*\*Your answer\*\*:\n\n---/, "**Your answer**: anywhere\n\n---"), true, ["Postgres,\nversion 16", "anywhere"]],
    ["an answer line deleted", blank.replace("**Your answer**:\n", "Postgres\n").replace(/\*\*Your answer\*\*:\n\n---/, "**Your answer**: anywhere\n\n---"), false, ["", "anywhere"]],
  ])("%s", (_name, text, complete, answers) => {
    const r = parseReview(text);
    expect(r.title).toBe("Pick a database");
    expect(r.complete).toBe(complete);
    expect(r.answers.map((a) => a.answer)).toEqual(answers);
    expect(r.meta?.stage).toBe("3");
  });
  it.each([
    ["unanswered", blank, []],
    ["an answer line deleted", blank.replace("**Your answer**:\n", "Postgres\n"), [/^question 1 \("Engine"\) has no "\*\*Your answer\*\*:" line, so what is written under it reads as part of the question; put a line/]],
    ["a question deleted", blank.replace(/### 2\. Hosting[\s\S]*?\*\*Your answer\*\*:\n/, ""), [/^1 of its 2 questions is missing \(a "### N\. …" heading was deleted\)/]],
    ["a heading inside an answer", blank.replace("**Your answer**:\n", "**Your answer**: yes\n### 3. my notes\n**Your answer**: x\n"), [/^it has 3 questions where 2 were asked/]],
    ["the footer deleted", blank.replace(/\*Edit this file.*\*\n/, ""), [/^its last lines \("---" and "\*Edit this file/]],
  ])("what is damaged is said with its fix: %s", (_name, text, damage) => {
    const said = parseReview(text).damage ?? [];
    expect(said).toHaveLength(damage.length);
    damage.forEach((d, i) => expect(said[i]).toMatch(d));
  });
});

describe("a review's metadata", () => {
  it("is autorun's own: one written into the review's text is neither kept as a comment nor read", () => {
    const forged = `<!-- autorun-review ${JSON.stringify({ questions: 1, created_at: "2026-01-01T00:00:00.000Z", stage: "2", key: "idle", resolved: { at: "2026-01-01T00:00:00.000Z", reason: "forged" } })} -->`;
    const text = renderReview(`Help ${forged}`, `Look at this.\n${forged}`, [{ topic: "Q", question: `Why? ${forged}` }], { questions: 1, created_at: "2026-01-02T00:00:00.000Z", stage: "3" });
    const r = parseReview(text);
    expect(r.meta).toEqual({ questions: 1, created_at: "2026-01-02T00:00:00.000Z", stage: "3" });
    expect(text.match(/<!--/g)).toHaveLength(1);
    // Even one that got in (a file edited by hand): the last block, autorun's, is the one read.
    expect(parseReview(text.replace("Look at this.", forged)).meta?.stage).toBe("3");
  });
});

describe("configuration layers", () => {
  const home = () => join(dir, "home");
  const project = () => join(dir, "project");
  const write = (where: string, body: unknown) => {
    mkdirSync(where, { recursive: true });
    writeFileSync(join(where, where === home() ? "config.json" : "autorun.config.json"), typeof body === "string" ? body : JSON.stringify(body));
  };
  it("defaults < home < project < environment < flags", () => {
    write(home(), { maxParallel: 2, stallSeconds: 30, tmuxSocket: "home" });
    write(project(), { maxParallel: 3, budgetUsd: 10 });
    const c = loadConfig(home(), project(), { stallSeconds: 5 }, { AUTORUN_TMUX_SOCKET: "env" });
    expect(c).toMatchObject({ maxParallel: 3, stallSeconds: 5, tmuxSocket: "env", budgetUsd: 10, nudgeMessage: DEFAULT_CONFIG.nudgeMessage, circuitBreaker: 3, onBudget: "pause" });
  });
  it.each([
    [{ maxParallel: 0 }, "autorun.config.json: maxParallel:", "README"],
    [{ onBudget: "later" }, 'autorun.config.json: onBudget: must be "pause" or "stop", not "later"', "README"],
    [{ schedule: "fast" }, 'autorun.config.json: schedule: must be "eager" or "waves", not "fast"', "README"],
    [{ prices: { sonnet: { input: 3 } } }, "autorun.config.json: prices.sonnet.output: is missing; write it as a number", "README"],
    [{ escalaton: ["opus"] }, "autorun.config.json: escalaton: not a key autorun knows (did you mean escalation?)", "README"],
    [{ zzz: 1 }, "autorun.config.json: zzz: not a key autorun knows;", "README"],
    [{ stallSecs: 5 }, "autorun.config.json: stallSecs: not a key autorun knows (did you mean stallSeconds?)", "README"],
    [{ maxPar: 2 }, "autorun.config.json: maxPar: not a key autorun knows (did you mean maxParallel?)", "README"],
    [{ maxParallel: 1.5 }, "autorun.config.json: maxParallel: must be a whole number, not 1.5", "README"],
    [{ maxParallel: 0 }, "autorun.config.json: maxParallel: must be at least 1, not 0", "README"],
    [{ sandbox: "yes" }, 'autorun.config.json: sandbox: must be true or false, not "yes"', "README"],
    [{ agentCommand: "claude --verbose" }, 'autorun.config.json: agentCommand: must be a list ([…]), not "claude --verbose"', "README"],
    [{ hosts: [] }, "autorun.config.json: hosts: must be an object ({…}), not []", "README"],
    [{ pollSeconds: 0.0001 }, "autorun.config.json: pollSeconds: at least 0.2 seconds", "README"],
    [{ pollSeconds: 1e9 }, "autorun.config.json: pollSeconds: at most 3600 seconds", "README"],
    [{ stallSeconds: 0.01 }, "autorun.config.json: stallSeconds: at least 1 second", "README"],
    [{ maxParallel: 100_000 }, "autorun.config.json: maxParallel: at most 64", "README"],
    [{ maxNudges: 1e7 }, "autorun.config.json: maxNudges:", "README"],
    [{ maxNudges: -1 }, "autorun.config.json: maxNudges: must be at least 0, not -1", "README"],
    [{ circuitBreaker: -1 }, "autorun.config.json: circuitBreaker:", "README"],
    [{ budgetUsd: 1e12 }, "autorun.config.json: budgetUsd:", "README"],
    [{ prices: { opus: { input: -1, output: 1 } } }, "autorun.config.json: prices.opus.input:", "README"],
    [{ validate: ["npm test"] }, 'autorun.config.json: validate.0: an argument list, e.g. ["npm", "test"]', "README"],
    [{ validate: "npm test" }, 'autorun.config.json: validate: a list of argument lists, e.g. [["npm", "ci"], ["npm", "test"]]', "README"],
    [{ notifyCommand: ["notify-send", ""] }, "autorun.config.json: notifyCommand.1: an empty argument", "README"],
    ["{ not json", "autorun.config.json: not valid JSON (line 1, column 3: expected property name or '}')", "fix the file"],
    // Where the editor shows it, on one line, whatever Node quotes of the file.
    ['{\n  "maxParallel": 2,\n  "model": opus\n}', "autorun.config.json: not valid JSON (line 3, column 12: unexpected o); fix the file.", "fix the file"],
    ['{ "maxParallel": 2 ', "autorun.config.json: not valid JSON (line 1, column 20: expected ',' or '}' after property value); fix the file.", "fix the file"],
    ['', "autorun.config.json: not valid JSON (line 1, column 1: the file ends before the JSON does); fix the file.", "fix the file"],
  ])("refuses %j in a file, naming the file and the key", (body, message, fix) => {
    write(project(), body);
    let error: unknown;
    try {
      loadConfig(home(), project(), {}, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).toContain(fix);
  });
  it("says AUTORUN_TMUX_SOCKET is a tmux server name when given a path", () => {
    expect(() => loadConfig(home(), undefined, {}, { AUTORUN_TMUX_SOCKET: "/tmp/my.sock" })).toThrow(/^AUTORUN_TMUX_SOCKET: a tmux server name \(tmux -L\), not a path: letters, digits, \. _ -; fix the variable\.$/);
  });
  it("reads a file saved with a byte-order mark (some editors write one)", () => {
    write(project(), '\uFEFF{ "maxParallel": 2 }');
    expect(loadConfig(home(), project(), {}, {}).maxParallel).toBe(2);
  });
  it("takes the tick from AUTORUN_POLL_SECONDS, and refuses one that is not a number", () => {
    expect(loadConfig(home(), undefined, {}, { AUTORUN_POLL_SECONDS: "0.5" }).pollSeconds).toBe(0.5);
    expect(loadConfig(home(), undefined, {}, { AUTORUN_POLL_SECONDS: ".5" }).pollSeconds).toBe(0.5);
    expect(() => loadConfig(home(), undefined, {}, { AUTORUN_POLL_SECONDS: "soon" })).toThrow(/^AUTORUN_POLL_SECONDS: must be a number, not "soon"; give a number of seconds from 0\.2 to 3600\.$/);
    expect(() => loadConfig(home(), undefined, {}, { AUTORUN_POLL_SECONDS: "0.0001" })).toThrow(/^AUTORUN_POLL_SECONDS: at least 0\.2 seconds/);
    expect(() => loadConfig(home(), undefined, {}, { AUTORUN_POLL_SECONDS: "Infinity" })).toThrow(/^AUTORUN_POLL_SECONDS: /);
  });
  it("refuses a bad flag by its flag name", () => {
    expect(() => loadConfig(home(), undefined, { budgetUsd: -1 }, {})).toThrow(/--budget-usd: /);
  });
  it("names every problem of a file in its one line, not only the first", () => {
    write(project(), { maxParallel: 0, stallSecs: 5, sandbox: "yes" });
    expect(() => loadConfig(home(), project(), {}, {})).toThrow(
      /^\S*autorun\.config\.json: maxParallel: must be at least 1, not 0; sandbox: must be true or false, not "yes"; stallSecs: not a key autorun knows \(did you mean stallSeconds\?\); the accepted keys/,
    );
    expect(() => loadConfig(home(), undefined, { budgetUsd: -1, maxParallel: 0 }, {})).toThrow(/^--max-parallel: .*; --budget-usd: .*; fix the flag\.$/);
  });
});

describe("locks", () => {
  it("runs holders of one lock one at a time, in the order they asked, and frees it when one throws", async () => {
    const target = join(dir, "locks", "l");
    const order: string[] = [];
    const hold = (name: string, ms: number, fail = false) =>
      withLock(target, async () => {
        order.push(`${name} in`);
        await new Promise((r) => setTimeout(r, ms));
        order.push(`${name} out`);
        if (fail) throw new Error(`${name} failed`);
        return name;
      });
    const results = await Promise.allSettled([hold("a", 30), hold("b", 5, true), hold("c", 5)]);
    expect(order).toEqual(["a in", "a out", "b in", "b out", "c in", "c out"]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  });
  it("lets different locks run side by side", async () => {
    // x holds its lock until y is inside its own: two locks that serialised would never get there.
    let yIn: () => void = () => undefined;
    const yEntered = new Promise<void>((r) => (yIn = r));
    const x = withLock(join(dir, "locks", "x"), async () => {
      await Promise.race([yEntered, new Promise((_, no) => setTimeout(() => no(new Error("y never got in while x held its lock")), 10_000))]);
      return "x";
    });
    const y = withLock(join(dir, "locks", "y"), async () => {
      yIn();
      return "y";
    });
    expect(await Promise.all([x, y])).toEqual(["x", "y"]);
  });
  it("says whether a lock is held now, without waiting for it", async () => {
    const target = join(dir, "locks", "looked-at");
    expect(isLocked(target)).toBe(false);
    expect(await withLock(target, () => isLocked(target))).toBe(true);
    expect(isLocked(target)).toBe(false);
  });
});

describe("the report", () => {
  const ident = { orch_dir: "/o", plan_name: "p", project_slug: "p" };
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 10, 0, s)).toISOString();
  const events = [
    startedEvent([{ id: "1", name: "A | pipe" }, { id: "2", name: "B", settings: { status: "completed" } }, { id: "3", name: "C", deps: ["1"] }], { ident, ts: at(0), maxParallel: 2 }),
    { ...ident, ts: at(1), type: "wave_started", wave: 1 },
    { ...ident, ts: at(1), type: "stage_launched", stage: "1", session: "s1", session_id: "u", attempt: 1 },
    { ...ident, ts: at(95), type: "merge_complete", stage: "1", branch: "b1", commit: "1234567890abcdef", validated: true },
    { ...ident, ts: at(95), type: "wave_complete", wave: 1 },
    { ...ident, ts: at(96), type: "stage_launched", stage: "3", session: "s3", session_id: "v", attempt: 1 },
    { ...ident, ts: at(99), type: "stage_escalated", stage: "3", model: "opus", from: "sonnet", reason: "died twice" },
    { ...ident, ts: at(120), type: "stage_failed", stage: "3", reason: "its session ended 2 times" },
    { ...ident, ts: at(121), type: "orchestration_complete", status: "failed" },
  ] as AutorunEvent[];
  it("says per stage what happened, in the words status uses, and how to review and undo each merge", () => {
    const report = buildReport(foldEvents(events)!, events);
    expect(report.stages.map((s) => [s.id, s.state, s.duration_seconds, s.validated])).toEqual([
      ["1", "merged", 94, true],
      ["2", "done before", null, null],
      ["3", "failed", 24, null],
    ]);
    expect(report.failures).toEqual([{ stage: "3", reason: "its session ended 2 times" }]);
    expect(report.waves[0]).toMatchObject({ wave: 1, duration_seconds: 94 });
    const md = renderReportMarkdown(report);
    expect(md).toContain("| 1 | A \\| pipe | merged | 1 | 0 | 1m 34s |");
    expect(md).toContain("| 3 | C | failed (opus) |");
    // A stage of 94.6 s reads the same in the report as in the status table.
    const late = events.map((e) => (e.type === "merge_complete" ? { ...e, ts: new Date(Date.parse(at(95)) + 600).toISOString() } : e));
    const folded = foldEvents(late)!;
    expect(elapsed(folded.stages["1"]!, new Date(at(200)))).toBe("1m 34s");
    expect(renderReportMarkdown(buildReport(folded, late))).toContain("| 1 | A \\| pipe | merged | 1 | 0 | 1m 34s |");
    expect(md).toContain("- 2026-01-01 10:01 UTC stage 3: trying again with opus");
    expect(md).toContain("undo `git revert -m 1 1234567890ab`");
    expect(md).toContain("Started 2026-01-01 10:00 UTC, ended 2026-01-01 10:02 UTC (2m 01s)");
  });
  it("a stage that failed before its retry is not 'Nothing failed.': each failure is said, with how it ended", () => {
    const again = [
      ...events.slice(0, -1),
      { ...ident, ts: at(130), type: "stage_retried", stage: "3", fresh_worktree: false },
      { ...ident, ts: at(131), type: "stage_launched", stage: "3", session: "s3", session_id: "w", attempt: 1 },
      { ...ident, ts: at(140), type: "stage_failed", stage: "3", reason: "validate failed" },
      { ...ident, ts: at(150), type: "stage_retried", stage: "3", fresh_worktree: true },
      { ...ident, ts: at(151), type: "stage_launched", stage: "3", session: "s3", session_id: "x", attempt: 1 },
      { ...ident, ts: at(160), type: "merge_complete", stage: "3", branch: "b3", commit: "abcdef1234567890" },
      { ...ident, ts: at(161), type: "orchestration_complete", status: "completed" },
    ] as AutorunEvent[];
    const report = buildReport(foldEvents(again)!, again);
    expect(report.failures).toEqual([
      { stage: "3", reason: "its session ended 2 times (then retried; now merged)" },
      { stage: "3", reason: "validate failed (then retried; now merged)" },
    ]);
    expect(renderReportMarkdown(report)).not.toContain("Nothing failed.");
  });
  it("a stage skipped or marked done after it failed is not 'Nothing failed.': its failure is said, with what the person did", () => {
    const after = (body: Record<string, unknown>) => [
      ...events.slice(0, -1),
      { ...ident, ts: at(130), stage: "3", ...body },
      { ...ident, ts: at(131), type: "orchestration_complete", status: "completed" },
    ] as AutorunEvent[];
    const skipped = after({ type: "stage_skipped", reason: "with autorun skip" });
    expect(buildReport(foldEvents(skipped)!, skipped).failures).toEqual([{ stage: "3", reason: "its session ended 2 times (then skipped by a person)" }]);
    const done = after({ type: "stage_done_by_person", how: "command", detail: "a person said it is done" });
    const report = buildReport(foldEvents(done)!, done);
    expect(report.failures).toEqual([{ stage: "3", reason: "its session ended 2 times (then marked done by a person)" }]);
    expect(renderReportMarkdown(report)).toContain("- Stage 3: its session ended 2 times (then marked done by a person)");
  });
  it("a stage skipped after its checks failed is not 'Nothing failed.': its refused merges are said", () => {
    const refused = { ...ident, type: "merge_conflict", stage: "3", reason: "validate_failed", files: [] };
    const skipped = [
      ...events.slice(0, -2),
      { ...refused, ts: at(120) },
      { ...refused, ts: at(125) },
      { ...ident, ts: at(126), type: "merge_conflict", stage: "3", reason: "conflict", files: ["a.txt"] },
      { ...ident, ts: at(130), type: "stage_skipped", stage: "3", reason: "with autorun skip" },
      { ...ident, ts: at(131), type: "orchestration_complete", status: "completed" },
    ] as AutorunEvent[];
    const report = buildReport(foldEvents(skipped)!, skipped);
    expect(report.status).toBe("completed");
    expect(report.failures).toEqual([
      { stage: "3", reason: "its checks failed on 2 merges (then skipped by a person)" },
      { stage: "3", reason: "its branch conflicted with the base on its merge (then skipped by a person)" },
    ]);
    expect(renderReportMarkdown(report)).toContain("- Stage 3: its checks failed on 2 merges (then skipped by a person)");
  });
});

describe("review files on disk", () => {
  it("are named after their title, cut at a word's end", async () => {
    const { createReviewFile } = await import("../../src/state/review.js");
    const file = await createReviewFile(dir, { title: "Stage 12 could not be merged: the base branch moved under it", context: "", questions: [{ topic: "t", question: "q?" }] }, { plan_name: "p", stage: "12" }, new Date(2026, 0, 1, 0, 0, 0));
    expect(file.endsWith("-stage-12-could-not-be-merged-the-base.md")).toBe(true);
  });
  it("are listed oldest first, a second file of the same second and title after the first", async () => {
    const { listReviewFiles } = await import("../../src/state/review.js");
    const reviews = join(dir, "review");
    mkdirSync(reviews, { recursive: true });
    for (const f of ["2026-01-01-000001-a.md", "2026-01-01-000000-x-10.md", "2026-01-01-000000-x-2.md", "2026-01-01-000000-x.md", ".hidden.md", "notes.txt"]) writeFileSync(join(reviews, f), "");
    expect(listReviewFiles(dir).map((f) => f.slice(reviews.length + 1))).toEqual(["2026-01-01-000000-x.md", "2026-01-01-000000-x-2.md", "2026-01-01-000000-x-10.md", "2026-01-01-000001-a.md"]);
  });
});
