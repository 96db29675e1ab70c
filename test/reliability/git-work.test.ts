/**
 * What autorun touches of a person's own git work (worktrees, merges in progress, `git add .`,
 * their checkout during a merge) and send-backs that would repeat forever. Each case failed on the
 * code before it was fixed.
 */
import { appendFileSync, existsSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { execa } from "execa";
import { allPhases, holdsFor, waitFor } from "../helpers/env.js";
import { eventsOf, expectClean, idleRun, orchestrate, statusOf, waitForEnd } from "../helpers/orch.js";
import * as git from "../../src/adapters/git.js";


describe("the person's own git work", () => {
  it("git add . during a run does not pick up the stage worktrees (info/exclude; .gitignore untouched)", async ({ sb }) => {
    await idleRun(sb, "addall");
    await waitFor("the stage worktrees", () => existsSync(join(sb.repo, ".claude", "worktrees")));
    await sb.git("add", ".");
    const staged = await sb.git("diff", "--cached", "--name-only");
    expect(staged.split("\n").filter((f) => f.startsWith(".claude"))).toEqual([]);
    expect(existsSync(join(sb.repo, ".gitignore"))).toBe(false);
    const exclude = readFileSync(join(sb.repo, ".git", "info", "exclude"), "utf8");
    expect(exclude.match(/^\/\.claude\/worktrees\/$/gm)).toHaveLength(1);
    // Said once, however often orchestrate runs.
    await idleRun(sb, "addall2", "## Stage 1: A\n");
    expect(readFileSync(join(sb.repo, ".git", "info", "exclude"), "utf8").match(/^\/\.claude\/worktrees\/$/gm)).toHaveLength(1);
  });

  it("a merged stage's plan and notes are kept and linked; doctor --fix leaves a person's own .claude/worktrees entry alone", async ({ sb }) => {
    const plan = sb.writePlan("docplan.md", "## Stage 1: A\n");
    // The plan is reported with `phase create_plan done --plan-file`.
    allPhases(sb);
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "docplan")).toBe("completed");
    // The agent's plan (untracked in its worktree) is kept under the orchestration, and linked.
    const st = JSON.parse(readFileSync(join(sb.home, "orchestration", "docplan", "status.json"), "utf8")) as { stages: Record<string, { plan_file: string; kept_files: string }> };
    const stage = st.stages["1"]!;
    expect(stage.plan_file.startsWith(join(sb.home, "orchestration", "docplan"))).toBe(true);
    expect(readFileSync(stage.plan_file, "utf8")).toContain("# Stage 1 plan");
    expect(stage.kept_files).toBe(join(sb.home, "orchestration", "docplan", "stages", "stage-1-files"));
    expect(readFileSync(join(sb.home, "reports", "docplan.md"), "utf8")).toContain(stage.plan_file);
    await expectClean(sb, "docplan");
    const mine = join(sb.repo, ".claude", "worktrees", "my-feature");
    await sb.git("worktree", "add", "-q", "-b", "my-feature", mine, "main");
    writeFileSync(join(mine, "notes.md"), "my own notes\n");
    const r = await sb.cli(["doctor", "--fix"]);
    // The way to remove it says that its files go with it, and takes its branch too.
    expect(r.stdout).toContain(
      `worktree ${mine} belongs to no orchestration under this AUTORUN_HOME (one discarded, another home's, or a person's); left alone (if it is no one's: it has uncommitted or untracked files (notes.md); once you have what you need from them: git -C ${sb.repo} worktree remove --force ${mine} && git -C ${sb.repo} branch -D my-feature)`,
    );
    expect(readFileSync(join(mine, "notes.md"), "utf8")).toBe("my own notes\n");
    expect(await sb.git("branch", "--list", "my-feature")).toContain("my-feature");
    // The commands it gives do remove both.
    await sb.git("worktree", "remove", "--force", mine);
    await sb.git("branch", "-D", "my-feature");
    expect(existsSync(mine)).toBe(false);
  });

  it("a person's own merge in progress on the base branch is waited for, never aborted", async ({ sb }) => {
    const plan = sb.writePlan("busy.md", "## Stage 1: A\nsim: slow\n");
    // The person's side branch, merged with --no-commit while the stage works.
    await sb.git("checkout", "-q", "-b", "side");
    writeFileSync(join(sb.repo, "side.txt"), "side work\n");
    await sb.git("add", "side.txt");
    await sb.git("commit", "-qm", "side");
    await sb.git("checkout", "-q", "main");
    await orchestrate(sb, plan);
    await sb.git("merge", "--no-ff", "--no-commit", "side");
    const wait = await waitFor("the merge to wait", () => eventsOf(sb, "busy", "merge_conflict")[0], 60_000);
    expect(wait.reason).toBe("checkout_overlap");
    expect(String(wait.detail)).toContain("a merge is in progress");
    expect(existsSync(join(sb.repo, ".git", "MERGE_HEAD"))).toBe(true);
    expect(await sb.git("diff", "--cached", "--name-only")).toBe("side.txt");
    await sb.git("commit", "-qm", "merge side");
    expect(await waitForEnd(sb, "busy")).toBe("completed");
    const files = await sb.git("ls-tree", "-r", "--name-only", "main");
    expect(files).toContain("side.txt");
    expect(files).toContain("sim/stage-1-part2.txt");
    expect((await sb.git("status", "--porcelain", "--untracked-files=no")).trim()).toBe("");
  });

  it("a monitor killed between moving the base and the checkout: the next merge finishes the checkout's move exactly", async ({ sb }) => {
    const orchDir = await idleRun(sb, "halfway", "## Stage 1: A\n");
    const st = statusOf(sb, "halfway") as unknown as { stages: Record<string, { worktree: string; branch: string }> };
    const { worktree, branch } = st.stages["1"]!;
    writeFileSync(join(worktree, "work.txt"), "the stage's work\n");
    await execa("git", ["-C", worktree, "add", "work.txt"], { env: sb.env });
    await execa("git", ["-C", worktree, "commit", "-qm", "work"], { env: sb.env });
    // What the interrupted merge had done: the merge commit, the base moved, the checkout not yet.
    const old = await sb.git("rev-parse", "main");
    const tree = await sb.git("merge-tree", "--write-tree", "main", branch);
    const merge = await sb.git("commit-tree", tree, "-p", "main", "-p", branch, "-m", "autorun: merge stage 1: A");
    await sb.git("update-ref", "refs/heads/main", merge, old);
    writeFileSync(join(sb.repo, "README.md"), "the person's edit\n");
    const common = { orch_dir: orchDir, plan_name: "halfway", project_slug: "halfway", stage: "1" };
    appendFileSync(join(orchDir, "events.jsonl"), [
      { ...common, ts: new Date().toISOString(), type: "phase_status", phase: "implement", status: "done" },
      { ...common, ts: new Date().toISOString(), type: "merge_started", branch },
    ].map((e) => JSON.stringify(e) + "\n").join(""));
    const r = await sb.cli(["merge", "halfway", "1"]);
    expect(r.code, r.stderr).toBe(0);
    // What it did, in a person's words: the monitor log's time stamps stay in the log.
    const said = r.stdout.trim().split("\n");
    expect(said.at(-1)).toMatch(/^Stage 1 merged into main \([0-9a-f]{12}\)\.$/);
    for (const line of said) expect(line).not.toMatch(/^\d{4}-\d\d-\d\d |\[halfway\]/);
    expect(await sb.git("rev-parse", "main")).toBe(merge);
    expect(readFileSync(join(sb.repo, "work.txt"), "utf8")).toBe("the stage's work\n");
    expect(readFileSync(join(sb.repo, "README.md"), "utf8")).toBe("the person's edit\n");
    expect((await sb.git("status", "--porcelain", "--untracked-files=no")).trim()).toBe("M README.md");
    expect(eventsOf(sb, "halfway", "merge_complete", "1")).toHaveLength(1);
  });

  it("read-only git calls take no lock: the monitor's status never makes the person's git add fail", async ({ sb }) => {
    writeFileSync(join(sb.repo, "README.md"), "# test project\n");
    // A stale stat makes a plain `git status` refresh and rewrite the index (taking index.lock).
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(sb.repo, "README.md"), past, past);
    const index = join(sb.repo, ".git", "index");
    const before = statSync(index);
    await git.dirtyFiles(sb.repo);
    await git.trackedChanges(sb.repo);
    await git.changedFiles(sb.repo, "HEAD", "HEAD");
    const after = statSync(index);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.ino).toBe(before.ino);
  });
});

describe("send-backs", () => {
  it("a stage that hands over the same conflicting commit again and again is told three times, then a person is asked", async ({ sb }) => {
    // Both write CONFLICT.txt; stage 1 merges first, stage 2 ignores what it is told.
    const plan = sb.writePlan("repeat.md", "## Stage 1: One\nsim: conflict\n## Stage 2: Two\nsim: conflict, ignore-messages, slow\n");
    await orchestrate(sb, plan);
    await waitFor("a review asking a person", () => eventsOf(sb, "repeat", "review_requested", "2").some((e) => String(e.title).includes("keeps handing over")), 60_000);
    expect(eventsOf(sb, "repeat", "message_queued", "2")).toHaveLength(3);
    const sentBack = eventsOf(sb, "repeat", "merge_conflict", "2");
    expect(sentBack.length).toBe(4);
    // Nothing more is typed at it, and no merge is retried, until someone acts.
    const typed = () => eventsOf(sb, "repeat", "stall_continue_sent", "2").length + eventsOf(sb, "repeat", "message_delivered", "2").length;
    const before = typed();
    await holdsFor("nothing typed at the stage and no merge retried", 3000, () => typed() === before && eventsOf(sb, "repeat", "merge_conflict", "2").length === 4);
    await sb.cli(["stop", "repeat", "--sessions"]);
  });
});
