/**
 * The reviews the monitor files take answers that do something: written in the review, done by
 * the monitor, recorded (`review_answered` with the action and its effect), the review resolved.
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { waitFor, type Sandbox } from "../helpers/env.js";
import { answerReview as answer, eventsOf, idleRun, orchestrate, statusOf, waitForEnd } from "../helpers/orch.js";
import { renderReview } from "../../src/state/review.js";

const reviews = (sb: Sandbox, plan: string) => eventsOf(sb, plan, "review_requested").map((e) => String(e.file));
const answers = (sb: Sandbox, plan: string) => eventsOf(sb, plan, "review_answered") as { file: string; action?: string; effect?: string }[];

describe("answering the monitor's reviews", () => {
  it("your checkout is in its way: `done` tries the merge again (it waits again: a new review), `skip` lets the run go on", async ({ sb }) => {
    const plan = sb.writePlan("in-way.md", "## Stage 1: A\nsim: slow\n\n## Stage 2: B\nDepends on: 1\n");
    await orchestrate(sb, plan);
    mkdirSync(join(sb.repo, "sim"), { recursive: true });
    writeFileSync(join(sb.repo, "sim", "stage-1-part2.txt"), "the person's own file\n");
    const first = await waitFor("the review about the checkout", () => reviews(sb, "in-way")[0], 40_000);
    const text = readFileSync(first, "utf8");
    expect(text).toContain("Answer `merge` to try the merge again now");
    expect(text).toContain("or `skip` to let what waits for the stage go on without it");
    answer(first, "done");
    const did = await waitFor("the answer acted on", () => answers(sb, "in-way")[0], 20_000);
    expect(did).toMatchObject({ file: first, action: "merge" });
    expect(did.effect).toContain("the merge of stage 1 was tried again");
    // Still in the way: the merge waits again, and says so in a new review; the first is resolved.
    const second = await waitFor("a second review", () => reviews(sb, "in-way")[1], 20_000);
    expect(readFileSync(first, "utf8")).toContain("**Resolved by autorun**");
    expect((await sb.cli(["review", "list"])).stdout).toMatch(/^resolved\s+Stage 1 waits to merge.*resolved: the merge of stage 1 was tried again/m);
    answer(second, "skip");
    expect(await waitForEnd(sb, "in-way", 60_000)).toBe("completed");
    expect(answers(sb, "in-way")[1]).toMatchObject({ file: second, action: "skip" });
    expect(eventsOf(sb, "in-way", "merge_complete", "2")).toHaveLength(1);
    expect(readFileSync(join(sb.repo, "sim", "stage-1-part2.txt"), "utf8")).toBe("the person's own file\n");
    expect(readFileSync(join(sb.home, "reports", "in-way.md"), "utf8")).toContain("Stage 1 was skipped (a person answered \"skip\" to its review)");
    expect((await sb.cli(["review", "list", "--json"])).stdout).not.toMatch(/"state": "(open|answered)"/);
  });

  it("a stage that keeps handing over what cannot merge: `merged` before it is merged does nothing and says so; merged by hand, the review resolves", async ({ sb }) => {
    const plan = sb.writePlan("stuck.md", "## Stage 1: Stuck\nValidate: false\n\n## Stage 2: After\nDepends on: 1\n");
    await orchestrate(sb, plan);
    const file = await waitFor("the review about the stuck stage", () => eventsOf(sb, "stuck", "review_requested").find((e) => String(e.key).startsWith("stuck:"))?.file as string | undefined, 90_000);
    expect(readFileSync(file, "utf8")).toContain("Answer `merged` to say you merged its branch");
    answer(file, "merged");
    const did = await waitFor("the answer acted on", () => answers(sb, "stuck")[0], 20_000);
    expect(did.action).toBe("merged");
    expect(did.effect).toMatch(/^nothing was done: its branch (\S+) has \d+ commit\(s\) main does not have; merge it \(git merge --no-ff \1, or answer "merge"\), or let what waits for it go on without it: answer "skip" \(or autorun skip stuck 1\)$/);
    await waitFor("the review open again, saying why", () => readFileSync(file, "utf8").includes("**autorun could not act on your answer**"));
    expect(eventsOf(sb, "stuck", "stage_done_by_person")).toHaveLength(0);
    expect(statusOf(sb, "stuck")!.stages["1"]!.status).toBe("in_progress");
    // The person merges it: the condition is gone, and the open review resolves without an answer.
    const branch = (statusOf(sb, "stuck")!.stages["1"] as unknown as { branch: string }).branch;
    await sb.git("merge", "--no-ff", "-q", "-m", "by hand", branch);
    expect(await waitForEnd(sb, "stuck", 60_000)).toBe("completed");
    expect(eventsOf(sb, "stuck", "review_resolved").find((e) => e.file === file)).toMatchObject({ reason: "stage 1 was merged by a person" });
    expect((await sb.cli(["review", "list", "--json"])).stdout).not.toMatch(/"state": "(open|answered)"/);
  });

  it("an answer saved while no monitor ran is carried out by resume's monitor, and resume does not call the stage relaunched", async ({ sb }) => {
    const dir = await idleRun(sb, "asked");
    await sb.tmux("kill-session", "-t", "=asked_stage-1");
    // The review the monitor filed about stage 1 before the run was stopped, answered `skip` since.
    mkdirSync(join(sb.home, "review"), { recursive: true });
    const file = join(sb.home, "review", "2026-01-01-000000-stage-1-is-stuck.md");
    writeFileSync(file, renderReview("Stage 1 is stuck at its prompt", "idle", [{ topic: "What now?", question: "Answer `nudge [message]`, `merged` or `skip`." }], { stage: "1", orch_dir: dir, plan_name: "asked", key: "idle", actions: ["nudge", "merged", "skip"], questions: 1, created_at: new Date().toISOString() }));
    const first = sb.events("asked")[0]!;
    const ident = { orch_dir: first.orch_dir, plan_name: first.plan_name, project_slug: first.project_slug };
    appendFileSync(join(dir, "events.jsonl"), JSON.stringify({ ts: new Date().toISOString(), ...ident, type: "review_requested", stage: "1", file, title: "Stage 1 is stuck at its prompt", key: "idle" }) + "\n");
    answer(file, "skip");
    const r = await sb.cli(["resume", "asked"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/relaunch(es)? it/);
    expect(r.stdout).toContain(`Stage 1: its session is gone, and your answer to ${file} (skip) is carried out instead of a relaunch.`);
    await waitFor("stage 1 skipped", () => eventsOf(sb, "asked", "stage_skipped", "1").length === 1);
    expect(eventsOf(sb, "asked", "stage_relaunched", "1")).toEqual([]);
    expect(eventsOf(sb, "asked", "orchestration_resumed")).toEqual([]);
    expect((await sb.cli(["stop", "asked", "--sessions"])).code).toBe(0);
  });
});
