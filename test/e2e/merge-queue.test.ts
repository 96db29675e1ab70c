import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { execa } from "execa";
import { holdsFor, simAgentCmd, waitFor } from "../helpers/env.js";
import { eventsOf, expectClean, killMonitor, orchestrate, statusOf, waitForEnd } from "../helpers/orch.js";


describe("the merge queue (real tmux, real git, simulated agent)", () => {
  it("merges around a person's uncommitted edit of an unrelated file, keeping it byte for byte", async ({ sb }) => {
    const plan = sb.writePlan("dirty.md", "## Stage 1: A\nsim: slow\n## Stage 2: B\nDepends on: 1\n");
    await orchestrate(sb, plan);
    const mine = "user's own unsaved work\r\nno newline at the end";
    writeFileSync(join(sb.repo, "README.md"), mine);
    expect(await waitForEnd(sb, "dirty")).toBe("completed");
    expect(readFileSync(join(sb.repo, "README.md"), "utf8")).toBe(mine);
    // The checkout shows the merged work, and only the person's edit is uncommitted.
    expect(existsSync(join(sb.repo, "sim", "stage-2-part2.txt"))).toBe(true);
    expect((await sb.git("status", "--porcelain", "--untracked-files=no")).trim()).toBe("M README.md");
    expect(eventsOf(sb, "dirty", "merge_conflict")).toHaveLength(0);
    await expectClean(sb, "dirty");
  });

  it("waits while the person's uncommitted files overlap the merge, touching nothing, and merges once they are out of the way", async ({ sb }) => {
    const plan = sb.writePlan("overlap.md", "## Stage 1: A\nsim: slow\n");
    await orchestrate(sb, plan);
    const before = await sb.git("rev-parse", "main");
    mkdirSync(join(sb.repo, "sim"), { recursive: true });
    writeFileSync(join(sb.repo, "sim", "stage-1-part2.txt"), "the person's own file\n");
    const conflict = await waitFor("a merge that waits", () => eventsOf(sb, "overlap", "merge_conflict")[0], 30_000);
    expect(conflict.reason).toBe("checkout_overlap");
    expect(conflict.files).toEqual(["sim/stage-1-part2.txt"]);
    expect(readFileSync(join(sb.repo, "sim", "stage-1-part2.txt"), "utf8")).toBe("the person's own file\n");
    expect(await sb.git("rev-parse", "main")).toBe(before);
    await waitFor("attention merge_waiting in status.json", () => statusOf(sb, "overlap")?.stages["1"]?.attention === "merge_waiting");
    await waitFor("a review file naming the file", () => {
      const review = eventsOf(sb, "overlap", "review_requested")[0];
      return review && readFileSync(String(review.file), "utf8").includes("sim/stage-1-part2.txt");
    });
    // A restarted monitor knows the review is filed (from the events) and does not file it again.
    await killMonitor(sb, "overlap");
    expect((await sb.cli(["resume", "overlap"])).code).toBe(0);
    await waitFor("the new monitor to retry", () => eventsOf(sb, "overlap", "monitor_started").length === 2 && eventsOf(sb, "overlap", "merge_conflict").length >= 1);
    await holdsFor("no second review filed", 3500, () => eventsOf(sb, "overlap", "review_requested").length === 1);
    rmSync(join(sb.repo, "sim", "stage-1-part2.txt"));
    expect(await waitForEnd(sb, "overlap")).toBe("completed");
    expect(readFileSync(join(sb.repo, "sim", "stage-1-part2.txt"), "utf8")).toMatch(/^stage 1 part 2 \(run of [\dT:.Z-]+\)\n$/);
    // The review is marked resolved: the condition cleared by itself.
    const review = String(eventsOf(sb, "overlap", "review_requested")[0]!.file);
    expect(eventsOf(sb, "overlap", "review_resolved")[0]).toMatchObject({ file: review, reason: "stage 1 merged" });
    expect(readFileSync(review, "utf8")).toContain("**Resolved by autorun**");
    // Once the run is over its resolved reviews are history: counted, and listed with --all.
    const list = await sb.cli(["review", "list"]);
    expect(list.stdout).not.toContain("Stage 1 waits to merge");
    expect(list.stdout).toContain("(1 resolved review of runs that are over not shown: autorun review list --all)");
    expect((await sb.cli(["review", "list", "--all"])).stdout).toMatch(/^resolved\s+Stage 1 waits to merge/m);
    await expectClean(sb, "overlap");
  });

  it("a dependant whose worktree was made ahead at a merge that had to wait starts from the base tip all the same", async ({ sb }) => {
    const plan = sb.writePlan("ahead.md", "## Stage 1: A\nsim: slow\n\n## Stage 2: B\nDepends on: 1\n");
    await orchestrate(sb, plan);
    mkdirSync(join(sb.repo, "sim"), { recursive: true });
    writeFileSync(join(sb.repo, "sim", "stage-1-part2.txt"), "the person's own file\n");
    await waitFor("a merge that waits", () => eventsOf(sb, "ahead", "merge_conflict", "1")[0], 30_000);
    // Meanwhile the person commits on main: the merge commit stage 2's worktree was made at is not the tip.
    writeFileSync(join(sb.repo, "person.txt"), "mine\n");
    await sb.git("add", "person.txt");
    await sb.git("commit", "-qm", "the person's commit");
    const personal = await sb.git("rev-parse", "HEAD");
    rmSync(join(sb.repo, "sim", "stage-1-part2.txt"));
    expect(await waitForEnd(sb, "ahead")).toBe("completed");
    // Stage 2's branch (its merge's second parent) grew from a base that has the person's commit.
    const merged2 = eventsOf(sb, "ahead", "merge_complete", "2")[0]!.commit as string;
    expect(await sb.git("merge-base", "--is-ancestor", personal, `${merged2}^2`).then(() => true, () => false)).toBe(true);
    await expectClean(sb, "ahead");
  });

  it("leaves a person on another branch alone: their branch and edits untouched, the base branch gets every stage", async ({ sb }) => {
    await sb.git("checkout", "-q", "-b", "feature");
    writeFileSync(join(sb.repo, "feature.txt"), "work in progress\n");
    await sb.git("add", "feature.txt");
    await sb.git("commit", "-qm", "feature work");
    const featureTip = await sb.git("rev-parse", "feature");
    writeFileSync(join(sb.repo, "README.md"), "edited on feature\n");
    const plan = sb.writePlan("elsewhere.md", "## Stage 1: A\n## Stage 2: B\nDepends on: 1\n");
    const r = await sb.cli(["orchestrate", plan, "--base", "main", "--agent-cmd", simAgentCmd]);
    expect(r.stderr).toBe("");
    expect(await waitForEnd(sb, "elsewhere")).toBe("completed");
    expect(await sb.git("rev-parse", "feature")).toBe(featureTip);
    expect(await sb.git("symbolic-ref", "--short", "HEAD")).toBe("feature");
    expect(readFileSync(join(sb.repo, "README.md"), "utf8")).toBe("edited on feature\n");
    expect(existsSync(join(sb.repo, "sim"))).toBe(false);
    const files = await sb.git("ls-tree", "-r", "--name-only", "main");
    expect(files).toContain("sim/stage-1-part2.txt");
    expect(files).toContain("sim/stage-2-part2.txt");
    expect(files).not.toContain("feature.txt");
    await expectClean(sb, "elsewhere");
  });

  // Run as on a git older than 2.38 (no merge-tree --write-tree): the merge is computed in a
  // private integration worktree instead; a conflict there is aborted there, nowhere else.
  // (The merge-tree path's conflicts are covered in test/reliability/trust.test.ts.)
  it("sends a conflicting stage back to rebase, then merges it (the git < 2.38 path)", async ({ sb }) => {
    const plan = sb.writePlan("clash.md", "## Stage 1: One\nsim: conflict\n## Stage 2: Two\nsim: conflict\n");
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simAgentCmd], { env: { AUTORUN_GIT_NO_WRITE_TREE: "1" } });
    expect(r.code, r.stderr).toBe(0);
    expect(await waitForEnd(sb, "clash", 90_000)).toBe("completed");
    const conflicts = eventsOf(sb, "clash", "merge_conflict");
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]!.files).toEqual(["CONFLICT.txt"]);
    // The log names the file once.
    expect(readFileSync(join(sb.home, "logs", "clash-monitor.log"), "utf8")).toMatch(/: not merged: conflicts in CONFLICT\.txt; the agent is told what to do/);
    const text = readFileSync(join(sb.repo, "CONFLICT.txt"), "utf8");
    expect(text).toContain("written by stage 1");
    expect(text).toContain("written by stage 2");
    await expectClean(sb, "clash");
  });

  it("merge --dry-run says what the merge would do and changes nothing", async ({ sb }) => {
    const plan = sb.writePlan("dry.md", "## Stage 1: A\n");
    const agent = JSON.stringify([process.execPath, "-e", "setTimeout(() => {}, 120000)", "{stage}"]);
    expect((await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", agent])).code).toBe(0);
    const worktree = join(sb.repo, ".claude", "worktrees", "dry-stage-1");
    writeFileSync(join(worktree, "feature.txt"), "from the stage\n");
    await execa("git", ["-C", worktree, "add", "feature.txt"], { env: sb.env });
    await execa("git", ["-C", worktree, "commit", "-qm", "feature"], { env: sb.env });
    writeFileSync(join(sb.repo, "feature.txt"), "the person's own\n");
    const before = { main: await sb.git("rev-parse", "main"), events: sb.events("dry").length };
    const r = await sb.cli(["merge", "dry", "1", "--dry-run"]);
    expect(r.code, r.stderr).toBe(0);
    // The stage in status's words, not status.json's ("in_progress").
    expect(r.stdout.split("\n")[0]).toBe("stage 1 (starting): worktree-dry-stage-1 into main");
    expect(r.stdout).toContain("merges cleanly onto main");
    expect(r.stdout).toContain("brings 1 file(s): feature.txt");
    expect(r.stdout).toContain("waits: your uncommitted changes");
    expect(r.stdout).toContain("Dry run: nothing was merged");
    expect(await sb.git("rev-parse", "main")).toBe(before.main);
    expect(sb.events("dry")).toHaveLength(before.events);
    expect(readFileSync(join(sb.repo, "feature.txt"), "utf8")).toBe("the person's own\n");
  });

  it("a person switching branches while validate runs gets nothing on their branch; the base gets the merge; validate never runs in their checkout", async ({ sb }) => {
    await sb.git("branch", "feature");
    const featureTip = await sb.git("rev-parse", "feature");
    const cwdFile = join(sb.dir, "validate-cwd.txt");
    // The check itself plays the person: it switches the project root to their branch mid-validate.
    const check = `const { execFileSync } = require("child_process"); require("fs").appendFileSync(${JSON.stringify(cwdFile)}, process.cwd() + "\\n"); execFileSync("git", ["-C", ${JSON.stringify(sb.repo)}, "checkout", "-q", "feature"]);`;
    // Unboxed (sandbox off): a boxed check could not touch the project's checkout.
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ validate: [[process.execPath, "-e", check]], sandbox: false }));
    const plan = sb.writePlan("switch.md", "## Stage 1: A\n");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "switch")).toBe("completed");
    expect(await sb.git("rev-parse", "feature")).toBe(featureTip);
    expect(await sb.git("symbolic-ref", "--short", "HEAD")).toBe("feature");
    expect(await sb.git("log", "--format=%s", "-1", "main")).toBe("autorun: merge stage 1: A");
    // Which run it came from, and the stage's branch.
    expect((await sb.git("log", "--format=%b", "-1", "main")).trim()).toBe("Plan: switch (switch.md)\nBranch: worktree-switch-stage-1");
    expect(eventsOf(sb, "switch", "merge_complete", "1")[0]).toMatchObject({ commit: await sb.git("rev-parse", "main"), validated: true });
    for (const cwd of readFileSync(cwdFile, "utf8").trim().split("\n")) expect(cwd.startsWith(join(sb.home, "worktrees"))).toBe(true);
    await expectClean(sb, "switch");
  });
});
