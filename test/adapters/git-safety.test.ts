/**
 * Real git in a temp repository: what a person has in progress on any checkout of the base branch
 * (a `git rebase -i` of main detaches HEAD), Claude Code's worktree locks and when autorun may lift
 * them, and the refs that keep a stage's tip when claude deletes its branch.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { operationOnBase, restoreBranch, saveStageTip, stageTip } from "../../src/adapters/git-safety.js";
import { lockHolder, parseClaudeLock } from "../../src/adapters/claude-lock.js";
import { branchesIn, branchExists, deleteMergedBranch, isAncestor, listWorktrees, mergeThatBrought } from "../../src/adapters/git.js";
import { removeStageWorktree } from "../../src/monitor/worktree-removal.js";

let dir: string;
let repo: string;
const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x.invalid", GIT_EDITOR: "true" };
const sleepers: number[] = [];

/** git in `cwd`; the result, failing the test on a non-zero exit unless `allowFail`. */
function git(cwd: string, args: string[], opts: { allowFail?: boolean; env?: NodeJS.ProcessEnv } = {}): { code: number; out: string } {
  const r = spawnSync("git", ["-C", cwd, ...args], { env: { ...env, ...opts.env }, encoding: "utf8" });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}`.trim() };
}

function commit(cwd: string, file: string, text: string): void {
  writeFileSync(join(cwd, file), text);
  git(cwd, ["add", file]);
  git(cwd, ["commit", "-qm", `${file}: ${text.trim()}`]);
}

/** A process that sleeps (a live pid to name in a lock), with `extraEnv`. */
function sleeper(extraEnv: NodeJS.ProcessEnv = {}): number {
  const child = spawn("sleep", ["60"], { env: { ...process.env, ...extraEnv }, stdio: "ignore" });
  sleepers.push(child.pid!);
  return child.pid!;
}

/** When `pid` started, in clock ticks since boot (/proc/<pid>/stat field 22). */
function startTicks(pid: number): string {
  return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[19]!;
}

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

/** A stage worktree on its own branch with one commit, as `claude --worktree` uses it. */
function stageWorktree(name: string): string {
  const wt = join(repo, ".claude", "worktrees", name);
  git(repo, ["worktree", "add", "-q", "-b", `worktree-${name}`, wt, "main"]);
  commit(wt, `${name}.txt`, `${name} work`);
  return wt;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "autorun-gitsafety-"));
  repo = join(dir, "repo");
  mkdirSync(repo);
  git(repo, ["init", "-q", "-b", "main"]);
  commit(repo, "a.txt", "one");
  commit(repo, "a.txt", "two");
  commit(repo, "a.txt", "three");
});
afterEach(() => {
  for (const pid of sleepers.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("what a person has in progress on the base branch", () => {
  it("a git rebase -i of main stopped half-way (HEAD detached) is seen; after --continue it is not", () => {
    git(repo, ["rebase", "-i", "HEAD~2"], { env: { GIT_SEQUENCE_EDITOR: "sed -i 1s/^pick/edit/" } });
    expect(git(repo, ["symbolic-ref", "-q", "HEAD"], { allowFail: true }).code).not.toBe(0);
    return operationOnBase(repo, "main").then(async (busy) => {
      expect(busy).toEqual({ what: "a rebase of main", where: repo });
      git(repo, ["rebase", "--continue"]);
      expect(await operationOnBase(repo, "main")).toBeUndefined();
    });
  });

  it("in a linked worktree that has main out, and not for a rebase of another branch", async () => {
    git(repo, ["checkout", "-q", "-b", "feature"]);
    commit(repo, "f.txt", "feature");
    git(repo, ["rebase", "-i", "HEAD~2"], { env: { GIT_SEQUENCE_EDITOR: "sed -i 1s/^pick/edit/" } });
    // The person rebases feature: nothing of main's.
    expect(await operationOnBase(repo, "main")).toBeUndefined();
    git(repo, ["rebase", "--abort"]);
    const other = join(dir, "main-checkout");
    git(repo, ["worktree", "add", "-q", other, "main"]);
    git(other, ["rebase", "-i", "HEAD~2"], { env: { GIT_SEQUENCE_EDITOR: "sed -i 1s/^pick/edit/" } });
    expect(await operationOnBase(repo, "main")).toEqual({ what: "a rebase of main", where: other });
    git(other, ["rebase", "--abort"]);
    expect(await operationOnBase(repo, "main")).toBeUndefined();
  });

  it("a merge, a cherry-pick and a bisect on main", async () => {
    git(repo, ["checkout", "-q", "-b", "side", "HEAD~1"]);
    commit(repo, "a.txt", "side");
    git(repo, ["checkout", "-q", "main"]);
    git(repo, ["merge", "side"], { allowFail: true });
    expect((await operationOnBase(repo, "main"))?.what).toBe("a merge");
    git(repo, ["merge", "--abort"]);
    git(repo, ["cherry-pick", "side"], { allowFail: true });
    expect((await operationOnBase(repo, "main"))?.what).toBe("a cherry-pick");
    git(repo, ["cherry-pick", "--abort"]);
    expect(await operationOnBase(repo, "main")).toBeUndefined();
    git(repo, ["bisect", "start", "HEAD", "HEAD~2"]);
    expect((await operationOnBase(repo, "main"))?.what).toBe("a bisect started on main");
    git(repo, ["bisect", "reset"]);
    expect(await operationOnBase(repo, "main")).toBeUndefined();
  });
});

describe("worktrees Claude Code locked", () => {
  const owner = { orchDir: "/nowhere", stage: "1", sessionEnded: false };

  it("reads claude's lock reason; another lock is not claude's", () => {
    expect(parseClaudeLock("claude session p-stage-1 (pid 4242 start 123456)")).toEqual({ session: "p-stage-1", pid: 4242, start: "123456" });
    expect(parseClaudeLock("claude session my name (pid 7)")).toEqual({ session: "my name", pid: 7 });
    expect(parseClaudeLock("initializing")).toBeUndefined();
    expect(parseClaudeLock("claude session x (pid 0 start 1)")).toBeUndefined();
  });

  it("a lock naming a claude that is gone is lifted and the worktree removed; its merged branch can then go", async () => {
    const wt = stageWorktree("p-stage-1");
    git(repo, ["merge", "-q", "--no-ff", "-m", "merge", "worktree-p-stage-1"]);
    git(repo, ["worktree", "lock", "--reason", `claude session p-stage-1 (pid ${deadPid()} start 1)`, wt]);
    // What autorun did before: --force alone does not remove a locked worktree.
    expect(git(repo, ["worktree", "remove", "--force", wt], { allowFail: true }).code).not.toBe(0);
    expect(await deleteMergedBranch(repo, "worktree-p-stage-1", "main")).toBe(false);
    expect(await branchExists(repo, "worktree-p-stage-1")).toBe(true);
    const removal = await removeStageWorktree(repo, wt, owner);
    expect(removal).toMatchObject({ removed: true, unlocked: expect.stringContaining("no longer running") });
    expect(existsSync(wt)).toBe(false);
    expect(await deleteMergedBranch(repo, "worktree-p-stage-1", "main")).toBe(true);
  });

  it("a lock naming a live claude is left, with why; the branch stays with it", async () => {
    const wt = stageWorktree("p-stage-2");
    git(repo, ["merge", "-q", "--no-ff", "-m", "merge", "worktree-p-stage-2"]);
    const pid = sleeper();
    git(repo, ["worktree", "lock", "--reason", `claude session p-stage-2 (pid ${pid})`, wt]);
    const removal = await removeStageWorktree(repo, wt, { ...owner, sessionEnded: true }, 200);
    expect(removal).toEqual({ removed: false, why: `claude session p-stage-2 (pid ${pid}) locked it and is still running; it is left until that claude exits` });
    expect(existsSync(join(wt, "p-stage-2.txt"))).toBe(true);
    expect((await listWorktrees(repo)).find((w) => w.path === wt)?.locked).toContain(`pid ${pid}`);
    expect(await deleteMergedBranch(repo, "worktree-p-stage-2", "main")).toBe(false);
    expect(git(wt, ["rev-parse", "HEAD"]).out).toBe(git(repo, ["rev-parse", "worktree-p-stage-2"]).out);
  });

  it("a live pid whose start time is not the lock's is another process: the lock is lifted", async () => {
    const pid = sleeper();
    const ticks = startTicks(pid);
    expect(lockHolder({ session: "s", pid, start: ticks })).toBe("running");
    expect(lockHolder({ session: "s", pid, start: new Date().toISOString() })).toBe("running");
    expect(lockHolder({ session: "s", pid, start: "1" })).toBe("gone");
    expect(lockHolder({ session: "s", pid: deadPid() })).toBe("gone");
  });

  it("the stage's own claude, still exiting after autorun ended its session, does not keep the worktree", async () => {
    const wt = stageWorktree("p-stage-3");
    const pid = sleeper({ AUTORUN_ORCH_DIR: "/orch/p", AUTORUN_STAGE: "3" });
    git(repo, ["worktree", "lock", "--reason", `claude session p-stage-3 (pid ${pid} start ${startTicks(pid)})`, wt]);
    // Not ended by autorun: left.
    expect((await removeStageWorktree(repo, wt, { orchDir: "/orch/p", stage: "3", sessionEnded: false }, 100)).removed).toBe(false);
    // Another stage's: left.
    expect((await removeStageWorktree(repo, wt, { orchDir: "/orch/p", stage: "4", sessionEnded: true }, 100)).removed).toBe(false);
    const removal = await removeStageWorktree(repo, wt, { orchDir: "/orch/p", stage: "3", sessionEnded: true }, 100);
    expect(removal).toMatchObject({ removed: true, unlocked: expect.stringContaining("its session ended by autorun") });
  });

  it("a claude that no longer shows the stage's environment as it exits is waited for, and its lock lifted once it is gone", async () => {
    const wt = stageWorktree("p-stage-5");
    // As the kernel shows an exiting process: no environment to tell whose it is, gone a moment later.
    const child = spawn("sleep", ["0.5"], { env: {}, stdio: "ignore" });
    const pid = child.pid!;
    git(repo, ["worktree", "lock", "--reason", `claude session p-stage-5 (pid ${pid} start ${startTicks(pid)})`, wt]);
    const removal = await removeStageWorktree(repo, wt, { orchDir: "/orch/p", stage: "5", sessionEnded: true }, 5_000);
    expect(removal).toMatchObject({ removed: true, unlocked: expect.stringContaining("no longer running") });
    expect(existsSync(wt)).toBe(false);
  });

  it("a lock that is not claude's is never lifted", async () => {
    const wt = stageWorktree("p-stage-4");
    git(repo, ["worktree", "lock", "--reason", "on a USB disk", wt]);
    const removal = await removeStageWorktree(repo, wt, owner);
    expect(removal.removed).toBe(false);
    expect(!removal.removed && removal.why).toContain("locked (on a USB disk), not by a claude session");
    expect(existsSync(wt)).toBe(true);
  });
});

describe("a stage's tip kept in refs/autorun", () => {
  it("survives what claude's /exit does (worktree removed, branch deleted) and puts the branch back", async () => {
    const wt = stageWorktree("p-stage-5");
    const tip = git(wt, ["rev-parse", "HEAD"]).out;
    const ref = "refs/autorun/p/5";
    expect(await saveStageTip(repo, ref, "worktree-p-stage-5")).toBe(true);
    git(repo, ["worktree", "remove", wt]);
    git(repo, ["branch", "-D", "worktree-p-stage-5"]);
    expect(await branchExists(repo, "worktree-p-stage-5")).toBe(false);
    // Saving a missing branch keeps what the ref had.
    expect(await saveStageTip(repo, ref, "worktree-p-stage-5")).toBe(false);
    expect(await stageTip(repo, ref)).toBe(tip);
    expect(git(repo, ["branch", "--list"]).out).not.toContain("autorun");
    expect(await restoreBranch(repo, "worktree-p-stage-5", ref)).toBe(tip);
    expect(git(repo, ["rev-parse", "worktree-p-stage-5"]).out).toBe(tip);
    // Never over a branch that exists.
    git(repo, ["branch", "-f", "worktree-p-stage-5", "main"]);
    expect(await restoreBranch(repo, "worktree-p-stage-5", ref)).toBeUndefined();
    expect(git(repo, ["rev-parse", "worktree-p-stage-5"]).out).toBe(git(repo, ["rev-parse", "main"]).out);
  });

  it("is recorded again only when the branch moved: a tip recorded already costs no git process", async () => {
    const wt = stageWorktree("p-stage-6");
    const ref = "refs/autorun/p/6";
    const tip = git(wt, ["rev-parse", "HEAD"]).out;
    expect(await saveStageTip(repo, ref, "worktree-p-stage-6")).toBe(true);
    const path = process.env.PATH;
    try {
      // No git to start: the recorded tip is found the same in the repository's files.
      process.env.PATH = "";
      expect(await saveStageTip(repo, ref, "worktree-p-stage-6")).toBe(true);
      // Nor does asking whether a commit is an ancestor of itself (a branch at the base tip).
      expect(await isAncestor(repo, tip, tip)).toBe(true);
    } finally {
      process.env.PATH = path;
    }
    // The branch moved: recorded again.
    writeFileSync(join(wt, "more.txt"), "more\n");
    git(wt, ["add", "more.txt"]);
    git(wt, ["commit", "-qm", "more"]);
    expect(await saveStageTip(repo, ref, "worktree-p-stage-6")).toBe(true);
    expect(await stageTip(repo, ref)).toBe(git(wt, ["rev-parse", "HEAD"]).out);
  });
});

describe("the merge that brought a stage's branch into the base", () => {
  it("is the first-parent commit that merged it, not the base's tip; none for a commit on the base's own line", async () => {
    const wt = stageWorktree("p-stage-1");
    commit(wt, "more.txt", "more");
    const tip = git(wt, ["rev-parse", "HEAD"]).out;
    commit(repo, "before.txt", "main moved on");
    git(repo, ["merge", "--no-ff", "-q", "-m", "merge it", "worktree-p-stage-1"]);
    const merge = git(repo, ["rev-parse", "HEAD"]).out;
    commit(repo, "after.txt", "unrelated");
    commit(repo, "later.txt", "more unrelated");
    const main = git(repo, ["rev-parse", "HEAD"]).out;
    expect(await mergeThatBrought(repo, tip, main)).toBe(merge);
    expect(await mergeThatBrought(repo, tip, merge)).toBe(merge);
    // A commit of the base's own line came in through no merge; one not in the base neither.
    expect(await mergeThatBrought(repo, git(repo, ["rev-parse", "HEAD~3"]).out, main)).toBeUndefined();
    expect(await mergeThatBrought(repo, git(repo, ["rev-parse", "HEAD~1"]).out, main)).toBeUndefined();
    commit(wt, "unmerged.txt", "not merged");
    expect(await mergeThatBrought(repo, git(wt, ["rev-parse", "HEAD"]).out, main)).toBeUndefined();
  });

  it("of several branches, those whose tips the base has, in one call", async () => {
    const merged = stageWorktree("p-stage-1");
    stageWorktree("p-stage-2");
    // A stage that has committed nothing yet stands on the base's line.
    git(repo, ["branch", "worktree-p-stage-3", "main"]);
    git(repo, ["merge", "--no-ff", "-q", "-m", "merge one", "worktree-p-stage-1"]);
    const main = git(repo, ["rev-parse", "HEAD"]).out;
    const found = await branchesIn(repo, main, ["worktree-p-stage-1", "worktree-p-stage-2", "worktree-p-stage-3", "worktree-p-gone"]);
    expect(found).toEqual(new Map([["worktree-p-stage-1", git(merged, ["rev-parse", "HEAD"]).out], ["worktree-p-stage-3", git(repo, ["rev-parse", "HEAD^1"]).out]]));
    expect(await branchesIn(repo, main, [])).toEqual(new Map());
  });
});
