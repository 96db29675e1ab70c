/**
 * A stage a person finishes: merged by their own `git merge` (found by the monitor, or said with
 * `autorun done`), or skipped (`autorun skip`). Its dependants launch either way.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { CLI, waitFor, type Sandbox } from "../helpers/env.js";
import { eventsOf, expectClean, orchestrate, statusOf, waitForEnd } from "../helpers/orch.js";
import { withLock } from "../../src/state/lock.js";
import { projectKey } from "../../src/monitor/merge-plan.js";

/**
 * Stage 1's merge check always fails; stage 2 waits for it. Its agent hands over again at each
 * message and commits nothing more: one that made a commit after the person's merge would have
 * its branch kept, rightly, as not fully merged.
 */
const STUCK = "## Stage 1: Stuck\nValidate: false\nsim: ignore-messages\n\n## Stage 2: After\nDepends on: 1\n";

async function stuckRun(sb: Sandbox, name: string): Promise<string> {
  const plan = sb.writePlan(`${name}.md`, STUCK);
  await orchestrate(sb, plan);
  await waitFor("stage 1's check to fail", () => eventsOf(sb, name, "merge_conflict", "1").some((e) => e.reason === "validate_failed"), 60_000);
  expect(eventsOf(sb, name, "stage_launched", "2")).toHaveLength(0);
  return (statusOf(sb, name)!.stages["1"] as unknown as { branch: string }).branch;
}

/** stderr less the line saying the command waits for a merge under way (the monitor's, of the stuck stage, may be). */
function withoutWait(stderr: string): string {
  return stderr.replace(/^autorun: a merge in this project is under way; stage \S+ is decided on once it is done…\n?/m, "");
}

function report(sb: Sandbox, name: string): string {
  return readFileSync(join(sb.home, "reports", `${name}.md`), "utf8");
}

describe("a stage finished by a person", () => {
  it("a person's own git merge of the stage branch is found: the stage is done and its dependants launch", async ({ sb }) => {
    const branch = await stuckRun(sb, "by-hand");
    await sb.git("merge", "--no-ff", "-q", "-m", "merge stage 1 by hand", branch);
    expect(await waitForEnd(sb, "by-hand", 90_000)).toBe("completed");
    const done = eventsOf(sb, "by-hand", "stage_done_by_person", "1");
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ how: "detected" });
    expect(eventsOf(sb, "by-hand", "merge_complete", "2")).toHaveLength(1);
    const status = statusOf(sb, "by-hand")! as unknown as { stages: Record<string, { status: string; finished_by: string | null }> };
    expect(status.stages["1"]).toMatchObject({ status: "completed", finished_by: "person" });
    expect((await sb.cli(["status", "by-hand"])).stdout).toContain("done by hand");
    expect(report(sb, "by-hand")).toMatch(/Stage 1 was merged by hand/);
    // The monitor's review about the stuck stage (if it got that far) is resolved, not left open.
    expect((await sb.cli(["review", "list", "--json"])).stdout).not.toMatch(/"state": "open"/);
    await expectClean(sb, "by-hand");
  });

  it("autorun done refuses while the work is not in the base, then marks it done and restarts the run", async ({ sb }) => {
    const branch = await stuckRun(sb, "said-done");
    expect((await sb.cli(["stop", "said-done"])).code).toBe(0);
    const early = await sb.cli(["done", "said-done", "1"]);
    expect(early.code).toBe(2);
    expect(early.stderr).toContain(`git merge --no-ff ${branch}`);
    expect(early.stderr).toContain("autorun skip said-done 1");
    expect(eventsOf(sb, "said-done", "stage_done_by_person")).toHaveLength(0);
    // The merge's dry run says the commit it would check was sent back already.
    expect((await sb.cli(["merge", "said-done", "1", "--dry-run"])).stdout).toMatch(/this very commit \([0-9a-f]{12}\) was sent back (once|\d+ times) already \(see autorun logs said-done\): unless what failed has changed, it fails the same way/);
    // A fast-forward-free merge by hand, an unrelated commit after it, then the person says so.
    await sb.git("merge", "--no-ff", "-q", "-m", "merge stage 1 by hand", branch);
    const merge = await sb.git("rev-parse", "HEAD");
    writeFileSync(join(sb.repo, "other.txt"), "unrelated\n");
    await sb.git("add", "other.txt");
    await sb.git("commit", "-qm", "unrelated work");
    const r = await sb.cli(["done", "said-done", "1"]);
    expect(withoutWait(r.stderr)).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Stage 1 is done: ${branch} is in main (merged into main by ${merge.slice(0, 12)})`);
    expect(r.stdout).toContain("stage 2");
    expect(await waitForEnd(sb, "said-done", 90_000)).toBe("completed");
    expect(eventsOf(sb, "said-done", "stage_done_by_person", "1")[0]).toMatchObject({ how: "command" });
    expect(eventsOf(sb, "said-done", "merge_complete", "2")).toHaveLength(1);
    const again = await sb.cli(["done", "said-done", "1"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("already done by hand");
    // A finished stage has no session: said as what it is, exit 2 like any request that names the wrong stage.
    for (const command of ["nudge", "attach"]) {
      const none = await sb.cli([command, "said-done", "1"]);
      expect(none.code).toBe(2);
      expect(none.stderr.trim()).toBe("autorun: stage 1 is done by hand, so it has no session to use; its work is finished.");
    }
    // The merge's dry run does not claim autorun merged it.
    const dry = await sb.cli(["merge", "said-done", "1", "--dry-run"]);
    expect(dry.stdout).toContain(`marked done by a person (merged by ${merge.slice(0, 12)}), not merged by autorun; nothing to do`);
    expect(dry.stdout).not.toContain("a merge in this project is under way");
    // Looked at while a merge of the project holds its lock: said, since the checkout may be mid-move.
    const lock = join(sb.home, "locks", `merge-${projectKey(sb.repo)}.lock`);
    const busy = await withLock(lock, () => sb.cli(["merge", "said-done", "1", "--dry-run"]));
    expect(busy.stdout).toContain("a merge in this project is under way now (its files may show as changes in the checkout): run this again once it is done");
    // The report's undo reverts that merge, not the unrelated commit the base was at.
    expect(report(sb, "said-done")).toContain(`undo \`git revert -m 1 ${merge.slice(0, 12)}\``);
    await expectClean(sb, "said-done");
  });

  it("autorun done takes a stage squash-merged by hand: its changes are in the base, its branch is kept", async ({ sb }) => {
    const branch = await stuckRun(sb, "squashed");
    await sb.git("merge", "--squash", "-q", branch);
    await sb.git("commit", "-qm", "stage 1, squashed");
    const r = await sb.cli(["done", "squashed", "1"]);
    expect(withoutWait(r.stderr)).toBe("");
    expect(r.stdout).toContain(`Stage 1 is done: the changes of ${branch} are in main as other commits (a squash or rebase merge); its branch is kept.`);
    expect(await waitForEnd(sb, "squashed", 90_000)).toBe("completed");
    expect(eventsOf(sb, "squashed", "stage_done_by_person", "1")[0]).not.toHaveProperty("commit");
    expect(eventsOf(sb, "squashed", "merge_complete", "2")).toHaveLength(1);
    expect(await sb.git("branch", "--list", branch)).toContain(branch);
    expect(report(sb, "squashed")).not.toMatch(/- Stage 1: review/);
  });

  it("done or skip of a stage that has not started, and done of a running one with nothing of its own, ask first: refused without a terminal unless --yes", async ({ sb }) => {
    const agent = JSON.stringify(["sleep", "600", "{stage}"]);
    const plan = sb.writePlan("early.md", "## Stage 1: Works\n## Stage 2: Waits\nDepends on: 1\n## Stage 3: Also waits\nDepends on: 1\n");
    expect((await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", agent])).code).toBe(0);
    for (const [verb, what] of [["done", "marking it done"], ["skip", "a skip"]] as const) {
      const r = await sb.cli([verb, "early", "2"]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`autorun: stage 2 (Waits) has not started (it waits for stage 1), and nothing undoes ${what}; if that is what you mean, add --yes.`);
    }
    expect(eventsOf(sb, "early", "stage_done_by_person")).toEqual([]);
    expect(eventsOf(sb, "early", "stage_skipped")).toEqual([]);
    const sure = await sb.cli(["skip", "early", "3", "--yes"]);
    expect(sure.code, sure.stderr).toBe(0);
    expect(eventsOf(sb, "early", "stage_skipped", "3")).toHaveLength(1);
    // A stage that runs is marked done only when its branch has work of its own in the base: else
    // its agent would end with nothing merged, and the same question is asked.
    const running = await sb.cli(["done", "early", "1"]);
    expect(running.code).toBe(2);
    expect(running.stderr.trim()).toBe("autorun: stage 1 (Works) is running and its branch worktree-early-stage-1 has no commits of its own: marking it done ends its session with nothing of it merged; if that is what you mean, add --yes.");
    expect(eventsOf(sb, "early", "stage_done_by_person")).toEqual([]);
    expect((await sb.tmux("has-session", "-t", "=early_stage-1")).code).toBe(0);
    // A skip of a stage that runs needs no question: it keeps the branch and says so.
    expect((await sb.cli(["skip", "early", "1"])).code).toBe(0);
    expect((await sb.cli(["stop", "early", "--sessions"])).code).toBe(0);
  });

  it("merge of a stage that has not run, or of a failed one with nothing to merge, is refused and starts nothing", async ({ sb }) => {
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ pollSeconds: 0.5 }));
    const plan = sb.writePlan("gone.md", "## Stage 1: Dies\nsim: die-always\nMax attempts: 1\n\n## Stage 2: After\nDepends on: 1\n");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "gone", 60_000)).toBe("failed");
    const before = sb.events("gone").length;
    for (const args of [["merge", "gone", "2"], ["merge", "gone", "2", "--dry-run"]]) {
      const r = await sb.cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe("autorun: stage 2 has not run: it is blocked by stage 1, which has not succeeded, so there is nothing of it to merge; run it again (autorun retry gone 1), or let what waits for stage 2 go on without it (autorun skip gone 2)");
    }
    // The failed stage has no agent to send anything back to: said so, nothing recorded.
    const dry = await sb.cli(["merge", "gone", "1", "--dry-run"]);
    expect(dry.stdout).toMatch(/has no commits beyond main: not merged, and it has no agent at work to tell|does not exist: not merged, and it has no agent at work to tell/);
    const r = await sb.cli(["merge", "gone", "1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^autorun: stage 1 \(failed\) was not merged: .*; it has no agent at work to fix that: fix its branch worktree-gone-stage-1 yourself and run this again, or run it again with its commits: autorun retry gone 1$/);
    expect(sb.events("gone")).toHaveLength(before);
    expect(statusOf(sb, "gone")!.stages["1"]).toMatchObject({ status: "failed", failure_reason: expect.stringMatching(/^its session ended once \(1 of its 1 attempts used\)/) });
    expect(statusOf(sb, "gone")!.stages["2"]).toMatchObject({ status: "blocked" });
    // A stage not yet started because it waits: the same, in its words.
    const agent = JSON.stringify(["sleep", "600", "{stage}"]);
    const started = await sb.cli(["orchestrate", sb.writePlan("early.md", "## Stage 1: Works\n## Stage 2: Waits\nDepends on: 1\n"), "--no-monitor", "--agent-cmd", agent]);
    expect(started.code).toBe(0);
    expect(started.stdout).toContain("monitor:       not started (--no-monitor): nothing is nudged, merged or launched until autorun resume early starts it");
    const early = await sb.cli(["merge", "early", "2"]);
    expect(early.code).toBe(2);
    expect(early.stderr.trim()).toBe("autorun: stage 2 has not started yet (it waits for stage 1), so there is nothing of it to merge; once it has run, its monitor merges it, which is not running: autorun resume early starts it");
    expect(eventsOf(sb, "early", "stage_launched", "2")).toEqual([]);
    // A running stage with nothing to merge yet: not merged, and its agent is told why (queued).
    const sent = await sb.cli(["merge", "early", "1"]);
    expect(sent.code).toBe(1);
    expect(sent.stderr).toMatch(/^autorun: stage 1 was not merged: branch \S+ has no commits beyond main; the reason is queued for its agent/);
    expect(statusOf(sb, "early")!.stages["1"]!.pending_messages).toEqual([expect.objectContaining({ reason: "no_commits", message: expect.stringContaining("autorun could not merge stage 1") })]);
    expect((await sb.cli(["stop", "early", "--sessions"])).code).toBe(0);
  });

  it("skip and done decide under the project's merge lock: a merge that read the stage first ends first, and wins", async ({ sb }) => {
    const agent = JSON.stringify(["sleep", "600", "{stage}"]);
    expect((await sb.cli(["orchestrate", sb.writePlan("race.md", "## Stage 1: Works\n## Stage 2: Also\n"), "--no-monitor", "--agent-cmd", agent])).code).toBe(0);
    const orchDir = join(sb.home, "orchestration", "race");
    const common = { orch_dir: orchDir, plan_name: "race", project_slug: "race", stage: "1" };
    const lock = join(sb.home, "locks", `merge-${projectKey(sb.repo)}.lock`);
    // A merge of stage 1 holds the lock: it read the stage before the person's skip, and merges it.
    const tip = await sb.git("rev-parse", "main");
    const { asked } = await withLock(lock, async () => {
      // (--yes: done of a running stage with nothing of its own asks first; the lock is what is tested.)
      const asked = ["skip", "done"].map((verb) => execa(process.execPath, [CLI, verb, "race", "1", "--yes"], { cwd: sb.repo, env: sb.env, extendEnv: false, reject: false, timeout: 60_000 }));
      // Each has read the stage (not merged) and waits for the lock: it said so.
      await Promise.all(asked.map((child) => new Promise<void>((resolve) => {
        let said = "";
        child.stderr!.on("data", (chunk: Buffer) => (said += chunk.toString()).includes("is decided on once it is done") && resolve());
      })));
      expect(eventsOf(sb, "race", "stage_skipped")).toEqual([]);
      for (const type of ["merge_started", "merge_complete"]) appendFileSync(join(orchDir, "events.jsonl"), JSON.stringify({ ...common, ts: new Date().toISOString(), type, branch: "worktree-race-stage-1", ...(type === "merge_complete" ? { commit: tip } : {}) }) + "\n");
      // (Not awaited under the lock: they wait for it.)
      return { asked };
    });
    for (const r of await Promise.all(asked)) {
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain("autorun: a merge in this project is under way; stage 1 is decided on once it is done");
      expect(String(r.stderr).trim().split("\n").at(-1)).toMatch(/^autorun: stage 1 is already merged; there is nothing to (skip|mark done)\.$/);
    }
    expect(eventsOf(sb, "race", "stage_skipped")).toEqual([]);
    expect(eventsOf(sb, "race", "stage_done_by_person")).toEqual([]);
    // With the lock free, a skip is done at once.
    expect((await sb.cli(["skip", "race", "2"])).code).toBe(0);
    expect(eventsOf(sb, "race", "stage_skipped", "2")).toHaveLength(1);
    expect((await sb.cli(["stop", "race", "--sessions"])).code).toBe(0);
  });

  it("autorun skip lets the dependants go on without the stage; its branch is kept and the report says so", async ({ sb }) => {
    const branch = await stuckRun(sb, "skipped");
    const r = await sb.cli(["skip", "skipped", "1", "--reason", "done upstream"]);
    expect(withoutWait(r.stderr)).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("stage 2 goes on without its work");
    expect(await waitForEnd(sb, "skipped", 90_000)).toBe("completed");
    expect(eventsOf(sb, "skipped", "stage_skipped", "1")[0]).toMatchObject({ reason: "done upstream" });
    // Counted as what it is, not as merged.
    expect((await sb.cli(["status", "skipped"])).stdout).toMatch(/^skipped: completed {2}\(1 skipped, 1 merged\)/);
    expect((await sb.cli(["status"])).stdout).toMatch(/^skipped\s+completed\s+repo\s+2\/2 stages finished/m);
    expect(eventsOf(sb, "skipped", "merge_complete", "2")).toHaveLength(1);
    expect(eventsOf(sb, "skipped", "merge_complete", "1")).toHaveLength(0);
    // Its work is not in main, and is not lost.
    expect(await sb.git("branch", "--list", branch)).toContain(branch);
    expect((await sb.git("log", "--format=%H", "main")).split("\n")).not.toContain((await sb.git("rev-parse", branch)).trim());
    const text = report(sb, "skipped");
    expect(text).toContain("Stage 1 was skipped (done upstream)");
    expect(text).toMatch(/\| 1 \| Stuck \| skipped \|/);
    expect((await sb.cli(["status", "skipped"])).stdout).toContain("skipped");
    expect(existsSync(join(sb.home, "orchestration", "skipped", "monitor.pid"))).toBe(false);
    // doctor takes the kept worktree for what it is, and --fix leaves it.
    const worktree = (statusOf(sb, "skipped")!.stages["1"] as unknown as { worktree: string }).worktree;
    const doctor = await sb.cli(["doctor", "--fix"]);
    expect(doctor.stdout).toContain(`! worktree ${worktree} belongs to stage 1, which was skipped (not merged; skip keeps its worktree and branch); left alone (when you no longer need it: `);
    expect(existsSync(join(worktree, ".git"))).toBe(true);
    // Stopping a finished run offers nothing to continue.
    const stop = await sb.cli(["stop", "skipped"]);
    expect(stop.stdout).toContain("skipped is complete; there is nothing to continue");
    expect(stop.stdout).not.toContain("autorun resume");
  });
});
