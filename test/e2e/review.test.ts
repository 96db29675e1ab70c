import { existsSync, readFileSync, writeFileSync, chmodSync, readdirSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { execa } from "execa";
import { CLI, waitFor, type Sandbox } from "../helpers/env.js";
import { eventsOf, expectClean, orchestrate, statusOf, waitForEnd } from "../helpers/orch.js";
import { renderReview } from "../../src/state/review.js";


async function newReview(sb: Sandbox, ...extra: string[]): Promise<string> {
  const r = await sb.cli(["review", "new", "--title", "Storage format", "--context", "We need to pick one.", "--question", "Format: JSON or SQLite?", "--question", "Where should the file live?", ...extra]);
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

function answered(file: string, a1: string, a2: string): string {
  return readFileSync(file, "utf8").replace("**Your answer**:\n", `**Your answer**: ${a1}\n`).replace("**Your answer**:\n", `**Your answer**:\n${a2}\n`);
}

describe("review files", () => {
  it("writes the documented review file", async ({ sb }) => {
    const file = await newReview(sb);
    expect(file).toMatch(new RegExp(`^${sb.home}/review/\\d{4}-\\d{2}-\\d{2}-\\d{6}-storage-format\\.md$`));
    const text = readFileSync(file, "utf8");
    expect(text.startsWith(
      "# Review: Storage format\n## Context\nWe need to pick one.\n## Questions / Feedback Requested\n### 1. Format\nJSON or SQLite?\n**Your answer**:\n\n### 2. Question 2\nWhere should the file live?\n**Your answer**:\n\n---\n*Edit this file with your answers and save. The process will continue automatically.*\n",
    )).toBe(true);
  });

  it("wait returns on a real save with the answers as JSON, not on a partial one", async ({ sb }) => {
    const file = await newReview(sb);
    const waiter = execa(process.execPath, [CLI, "review", "wait", file, "--timeout", "30"], { env: sb.env, reject: false });
    let exited = false;
    let err = "";
    void waiter.then(() => (exited = true));
    waiter.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    // Each save it has seen and found unanswered, it says so: wait for that, never for a guess of time.
    const saysStillWaiting = (n: number) => waitFor(`"still waiting" #${n}`, () => err.split("still waiting:").length - 1 >= n, 10_000, 20);
    await waitFor("the waiter to watch the file", () => err.includes(`waiting for answers in ${file}: 0 of 2 answered`), 10_000, 20);
    // An editor mid-save: the first answer is in, the rest of the file is not written yet.
    const full = answered(file, "SQLite", "in ~/.notes");
    writeFileSync(file, full.slice(0, full.indexOf("### 2.")));
    await saysStillWaiting(1);
    expect(exited).toBe(false);
    // A whole file with only one of the two answers: still waiting.
    writeFileSync(file, full.replace("**Your answer**:\nin ~/.notes\n", "**Your answer**:\n"));
    await saysStillWaiting(2);
    expect(err).toContain(`still waiting: 1 of 2 answered in ${file}`);
    expect(exited).toBe(false);
    writeFileSync(file, full);
    const r = await waiter;
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(String(r.stdout));
    expect(out.answers.map((a: { topic: string; answer: string }) => [a.topic, a.answer])).toEqual([["Format", "SQLite"], ["Question 2", "in ~/.notes"]]);
  });

  it("wait times out cleanly", async ({ sb }) => {
    const file = await newReview(sb);
    const r = await sb.cli(["review", "wait", file, "--timeout", "1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/timed out after 1s .* the review is still open/);
  });

  it("list and open (oldest unanswered) with $EDITOR", async ({ sb }) => {
    // Two reviews of the same title, most likely in the same second (the second is `…-2.md`): oldest first all the same.
    const first = await newReview(sb);
    const second = await newReview(sb);
    let list = JSON.parse((await sb.cli(["review", "list", "--json"])).stdout) as { file: string; state: string }[];
    expect(list.map((e) => [e.file, e.state])).toEqual([[first, "open"], [second, "open"]]);
    const editor = join(sb.dir, "fake-editor.mjs");
    // A fake editor: answers every question in the file it is given.
    writeFileSync(editor, `import fs from "node:fs"; const f = process.argv[2]; fs.writeFileSync(f, fs.readFileSync(f, "utf8").split("**Your answer**:\\n").join("**Your answer**: yes\\n"));\n`);
    chmodSync(editor, 0o755);
    // An editor closed without saving: not "Saved".
    const unchanged = await sb.cli(["review", "open"], { env: { EDITOR: "true", VISUAL: "" } });
    expect(unchanged.stdout.trim()).toBe(`${first} was not changed: 2 of 2 questions still unanswered; finish with: autorun review open ${first}`);
    const r = await sb.cli(["review", "open"], { env: { EDITOR: `${process.execPath} ${editor}`, VISUAL: "" } });
    expect(r.code).toBe(0);
    // Nothing waits on a review without a stage: nothing more is claimed.
    expect(r.stdout.trim()).toBe(`Saved ${first}: every question is answered.`);
    list = JSON.parse((await sb.cli(["review", "list", "--json"])).stdout);
    expect(list.map((e) => e.state)).toEqual(["answered", "open"]);
    const text = (await sb.cli(["review", "list"])).stdout;
    expect(text).toMatch(/^open {6}.* blocks nothing$/m);
    expect(text).toMatch(/^answered {2}.* to be read by its agent$/m);
    expect(readdirSync(join(sb.home, "review"))).toHaveLength(2);
    // An editor that is not installed: said so, with the fix, not "exited with 1".
    const missing = await sb.cli(["review", "open"], { env: { EDITOR: "no-such-editor-xyz --wait", VISUAL: "" } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/the editor "no-such-editor-xyz" \(from \$EDITOR\) is not installed or not on PATH; set \$VISUAL or \$EDITOR/);
    // An editor command that cannot be read: the person's to fix (exit 2), never "internal error".
    const malformed = await sb.cli(["review", "open", second], { env: { EDITOR: "[vim", VISUAL: "" } });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/^autorun: \$EDITOR: "\[vim" starts like a JSON array but is not one .*; set it to your editor's command/);
    expect(malformed.stderr).not.toContain("internal error");
  });

  it("saving an answer to a review the monitor filed says what the monitor will do with it, and only that", async ({ sb }) => {
    mkdirSync(join(sb.home, "review"), { recursive: true });
    const file = join(sb.home, "review", "2026-01-01-000000-stage-1-is-stuck.md");
    const orchDir = join(sb.home, "orchestration", "gone");
    writeFileSync(file, renderReview("Stage 1 is stuck at its prompt", "idle", [{ topic: "What now?", question: "Attach.\n\nAnswer `nudge [message]` to …" }], { stage: "1", orch_dir: orchDir, plan_name: "gone", key: "idle", actions: ["nudge", "merged", "skip"], questions: 1, created_at: new Date().toISOString() }));
    const editor = join(sb.dir, "answer.mjs");
    writeFileSync(editor, `import fs from "node:fs"; const f = process.argv[2]; fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace(/\\*\\*Your answer\\*\\*:.*\\n/, "**Your answer**: " + process.env.ANSWER + "\\n"));\n`);
    const open = (text: string) => sb.cli(["review", "open", file], { env: { EDITOR: `${process.execPath} ${editor}`, VISUAL: "", ANSWER: text } });
    let r = await open("I had a look");
    expect(r.stdout.trim()).toBe(`Saved ${file}: the answer "I had a look" is not one of \`nudge\`, \`merged\`, \`skip\`, so the monitor will do nothing with it; answer with one of those words.`);
    r = await open("continue");
    expect(r.stdout.trim()).toBe(`Saved ${file}: no monitor is running for gone, so nothing happens yet; \`autorun resume gone\` starts one, which does \`nudge\`: type the rest of your answer (or the usual nudge) into its session.`);
  });

  it("a review whose answer line was deleted says which question lost it and how to put it back", async ({ sb }) => {
    mkdirSync(join(sb.home, "review"), { recursive: true });
    const file = join(sb.home, "review", "2026-01-01-000000-which-database.md");
    writeFileSync(file, renderReview("Which database?", "ctx", [{ topic: "Engine", question: "Postgres or SQLite?" }, { topic: "Name", question: "What name?" }], { questions: 2, created_at: new Date().toISOString() }));
    const editor = join(sb.dir, "delete-line.mjs");
    // The person answers the second question, and writes the first answer over its answer line.
    writeFileSync(editor, `import fs from "node:fs"; const f = process.argv[2]; fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace("**Your answer**:\\n", "Postgres\\n").replace("**Your answer**:\\n", "**Your answer**: app\\n"));
`);
    const r = await sb.cli(["review", "open", file], { env: { EDITOR: `${process.execPath} ${editor}`, VISUAL: "" } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`Saved ${file}, but question 1 ("Engine") has no "**Your answer**:" line, so what is written under it reads as part of the question; put a line "**Your answer**:" back below the question, write your answer after it, and save again. Then: autorun review open ${file}`);
    const waited = await sb.cli(["review", "wait", file, "--timeout", "1"]);
    expect(waited.code).toBe(1);
    expect(waited.stderr).toContain('question 1 ("Engine") has no "**Your answer**:" line');
    // Put back, it is an answer like any other.
    writeFileSync(file, readFileSync(file, "utf8").replace("Postgres\n", "**Your answer**: Postgres\n"));
    const fixed = await sb.cli(["review", "answers", file]);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ complete: true, answers: [{ topic: "Engine", answer: "Postgres" }, { topic: "Name", answer: "app" }] });
    // A file that is no review (the plan, say) is not read as one with nothing answered.
    const plan = sb.writePlan("plan.md", "## Stage 1: A\n");
    const notReview = await sb.cli(["review", "answers", plan]);
    expect([notReview.code, notReview.stderr.trim()]).toEqual([2, `autorun: ${plan} is not a review file (no questions to answer in it); see autorun review list.`]);
    // Nor is it opened in the editor (whose "put the last lines back" would have the person edit their plan), or waited on.
    const planText = readFileSync(plan, "utf8");
    for (const args of [["review", "open", plan], ["review", "wait", plan, "--timeout", "1"]]) {
      const r = await sb.cli(args, { env: { EDITOR: `${process.execPath} ${editor}`, VISUAL: "" } });
      expect([r.code, r.stderr.trim()]).toEqual([2, `autorun: ${plan} is not a review file (no questions to answer in it); see autorun review list.`]);
    }
    expect(readFileSync(plan, "utf8")).toBe(planText);
    // A directory is named as one, not an internal error.
    for (const sub of ["answers", "open", "wait"]) {
      const r = await sb.cli(["review", sub, sb.dir], { env: { EDITOR: `${process.execPath} ${editor}`, VISUAL: "" } });
      expect([r.code, r.stderr.trim()]).toEqual([2, `autorun: ${sb.dir} is a directory, not a review file; name one of the files autorun review list shows.`]);
    }
  });

  it("a stage that asks a question waits with attention: review and continues once answered; people are notified", async ({ sb }) => {
    const heard = join(sb.dir, "notified.jsonl");
    const listener = `process.stdin.on("data", (d) => require("fs").appendFileSync(${JSON.stringify(heard)}, String(d).trim() + "\\n"))`;
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ notifyCommand: [process.execPath, "-e", listener] }));
    const plan = sb.writePlan("ask.md", "## Stage 1: Asks\nsim: review\n");
    await orchestrate(sb, plan);
    const requested = await waitFor("the question", () => eventsOf(sb, "ask", "review_requested", "1")[0], 30_000);
    await waitFor("attention review", () => statusOf(sb, "ask")?.stages["1"]?.attention === "review");
    const list = JSON.parse((await sb.cli(["review", "list", "--json"])).stdout) as { stage: string; plan_name: string; state: string }[];
    expect(list[0]).toMatchObject({ stage: "1", plan_name: "ask", state: "open" });
    const file = requested.file as string;
    writeFileSync(file, readFileSync(file, "utf8").replace("**Your answer**:\n", "**Your answer**: keep the old API\n"));
    expect(await waitForEnd(sb, "ask")).toBe("completed");
    expect(eventsOf(sb, "ask", "review_answered", "1")).toHaveLength(1);
    // Its answer read and the stage merged: the question is settled, not left "answered" for ever.
    expect(eventsOf(sb, "ask", "review_resolved", "1")).toEqual([expect.objectContaining({ file, reason: "stage 1 merged" })]);
    const after = JSON.parse((await sb.cli(["review", "list", "--json"])).stdout) as { file: string; state: string }[];
    expect(after.find((r) => r.file === file)).toMatchObject({ state: "resolved" });
    await expectClean(sb, "ask");
    const told = await waitFor("the notifications", () => {
      const types = existsSync(heard) ? readFileSync(heard, "utf8").split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { type: string }).type) : [];
      return types.includes("orchestration_complete") ? types : undefined;
    });
    expect(told).toContain("review_requested");
  });
});
