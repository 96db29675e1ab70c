/**
 * What autorun keeps of a person's and an agent's git work, through the built CLI with the simulated
 * agent on real tmux and git: a person's `git rebase -i` of the base branch, a stage whose branch
 * claude's /exit deleted, and a failed stage's notes when `doctor --fix` tidies up.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { allPhases, holdsFor, waitFor } from "../helpers/env.js";
import { eventsOf, expectClean, orchestrate, statusOf, waitForEnd } from "../helpers/orch.js";

describe("the person's git state and the stage's commits", () => {
  it("a git rebase -i of main stopped half-way (HEAD detached) makes the merge wait; the person's rebase --continue succeeds, then the stage merges", async ({ sb }) => {
    for (const n of ["one", "two"]) {
      writeFileSync(join(sb.repo, "mine.txt"), `${n}\n`);
      await sb.git("add", "mine.txt");
      await sb.git("commit", "-qm", `mine ${n}`);
    }
    const plan = sb.writePlan("rebasing.md", "## Stage 1: A\nsim: slow\n");
    await orchestrate(sb, plan);
    // The person rewords their first commit: the rebase stops there with HEAD detached.
    await sb.git("-c", "sequence.editor=sed -i 1s/^pick/edit/", "rebase", "-i", "HEAD~2");
    const before = await sb.git("rev-parse", "refs/heads/main");
    const wait = await waitFor("the merge to wait", () => eventsOf(sb, "rebasing", "merge_conflict")[0], 60_000);
    expect(wait.reason).toBe("checkout_overlap");
    expect(String(wait.detail)).toBe(`a rebase of main is in progress in ${sb.repo}`);
    expect(await sb.git("rev-parse", "refs/heads/main")).toBe(before);
    await sb.git("commit", "-q", "--amend", "-m", "mine one, reworded");
    await sb.git("rebase", "--continue");
    expect(await sb.git("symbolic-ref", "--short", "HEAD")).toBe("main");
    expect(await waitForEnd(sb, "rebasing")).toBe("completed");
    const log = await sb.git("log", "--format=%s", "main");
    expect(log).toContain("mine one, reworded");
    expect(log).toContain("autorun: merge stage 1: A");
    expect((await sb.git("status", "--porcelain", "--untracked-files=no")).trim()).toBe("");
    await expectClean(sb, "rebasing");
  });

  it("a lock left on main's ref makes the merge wait, named in a review, not retried in a loop; once it goes, the stage merges", async ({ sb }) => {
    const plan = sb.writePlan("locked.md", "## Stage 1: A\nsim: slow\n");
    await orchestrate(sb, plan);
    // What a crashed git leaves behind (or a stage's sandboxed Bash can make: refs/heads is writable there).
    const lock = join(sb.repo, ".git", "refs", "heads", "main.lock");
    writeFileSync(lock, "");
    const wait = await waitFor("the merge to wait", () => eventsOf(sb, "locked", "merge_conflict")[0], 60_000);
    expect(wait.reason).toBe("checkout_overlap");
    expect(String(wait.detail)).toBe(`git's lock on main (${lock}; if no git command is running, remove it) is in progress in ${sb.repo}`);
    const review = await waitFor("its review", () => eventsOf(sb, "locked", "review_requested", "1")[0]);
    expect(readFileSync(String(review.file), "utf8")).toContain(lock);
    await holdsFor("no merge tried again while the lock is there", 3_000, () => eventsOf(sb, "locked", "merge_started").length <= 1 && eventsOf(sb, "locked", "merge_conflict").length === 1);
    rmSync(lock);
    expect(await waitForEnd(sb, "locked")).toBe("completed");
    await expectClean(sb, "locked");
  });

  it("a stage whose worktree and branch claude's /exit deleted is relaunched with its earlier commits, and they merge", async ({ sb }) => {
    const plan = sb.writePlan("exited.md", "## Stage 1: A\nsim: exit-deletes-branch\n");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "exited")).toBe("completed");
    expect(eventsOf(sb, "exited", "stage_relaunched", "1")).toHaveLength(1);
    const log = readFileSync(join(sb.home, "logs", "exited-monitor.log"), "utf8");
    const restored = /stage 1: its branch (\S+) was gone .* restored it at ([0-9a-f]{10}),/.exec(log);
    expect(restored, log).not.toBeNull();
    // The first session's commit is the one merged, not one made again.
    const commit = await sb.git("rev-parse", restored![2]!);
    expect(await sb.git("log", "-1", "--format=%s", commit)).toBe("stage 1: phase 1");
    await sb.git("merge-base", "--is-ancestor", commit, "main");
    expect((await sb.git("log", "--format=%s", "main")).split("\n").filter((s) => s === "stage 1: phase 1")).toHaveLength(1);
    // The ref that kept the tip goes with the merged branch.
    expect(await sb.git("for-each-ref", "refs/autorun/")).toBe("");
    await expectClean(sb, "exited");
    // A merged stage's worktree left behind (as by a monitor killed mid-cleanup), with a person's
    // ignored notes in it: doctor --fix keeps them under the orchestration before removing it.
    const { worktree, branch } = (statusOf(sb, "exited") as unknown as { stages: Record<string, { worktree: string; branch: string }> }).stages["1"]!;
    await sb.git("worktree", "add", "-q", "-b", branch, worktree, "main");
    writeFileSync(join(sb.repo, ".git", "info", "exclude"), "*.log\n", { flag: "a" });
    writeFileSync(join(worktree, "notes.log"), "kept by a person\n");
    const r = await sb.cli(["doctor", "--fix"]);
    const kept = join(sb.home, "orchestration", "exited", "stages", "stage-1-files");
    expect(r.stdout).toContain(`removed worktree ${worktree} and branch ${branch}; kept its 1 ignored file(s) in ${kept}`);
    expect(readFileSync(join(kept, "notes.log"), "utf8")).toBe("kept by a person\n");
    expect(existsSync(worktree)).toBe(false);
  });

  it("worktrees locked the way claude 2.1.332 locks them, one of its sessions killed: every stage merges and no worktree, branch or lock is left", async ({ sb }) => {
    const plan = sb.writePlan("locked.md", "## Stage 1: A\nsim: lock-worktree, slow\n## Stage 2: B\nDepends on: 1\nsim: lock-worktree\n");
    allPhases(sb);
    await orchestrate(sb, plan);
    await waitFor("stage 1 to lock its worktree", async () => (await sb.git("worktree", "list", "--porcelain")).includes("locked claude session locked-stage-1"));
    await waitFor("research to start", () => eventsOf(sb, "locked", "phase_status", "1").length >= 2);
    // kill-session leaves claude's lock behind (its pid is then gone).
    await sb.tmux("kill-session", "-t", "=locked_stage-1");
    expect(await waitForEnd(sb, "locked")).toBe("completed");
    expect(eventsOf(sb, "locked", "stage_relaunched", "1")).toHaveLength(1);
    expect(eventsOf(sb, "locked", "merge_complete")).toHaveLength(2);
    expect(await sb.git("worktree", "list", "--porcelain")).not.toContain("locked");
    const log = readFileSync(join(sb.home, "logs", "locked-monitor.log"), "utf8");
    expect(log).toMatch(/stage 1: lifted the lock of claude pid \d+ \((no longer running|its session ended by autorun)\)/);
    expect(log).not.toContain("could not remove");
    await expectClean(sb, "locked");
  });

  it("doctor --fix leaves a failed stage's worktree and its ignored notes alone (never removed as merged)", async ({ sb }) => {
    writeFileSync(join(sb.repo, ".gitignore"), "*.log\n");
    await sb.git("add", ".gitignore");
    await sb.git("commit", "-qm", "ignore logs");
    const plan = sb.writePlan("failing.md", "## Stage 1: A\nsim: die-always\n");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "failing")).toBe("failed");
    const worktree = (statusOf(sb, "failing") as unknown as { stages: Record<string, { worktree: string }> }).stages["1"]!.worktree;
    writeFileSync(join(worktree, "notes.log"), "what I found out\n");
    const r = await sb.cli(["doctor", "--fix"]);
    expect(r.stdout).toContain(`worktree ${worktree} belongs to stage 1, which is failed (not merged); left alone`);
    expect(r.stdout).not.toContain("leaked worktree");
    expect(readFileSync(join(worktree, "notes.log"), "utf8")).toBe("what I found out\n");
  });
});
