/**
 * Removing a stage's worktree, which Claude Code may have locked (`git worktree lock`, left behind
 * when its session is killed). A lock is lifted only when the claude that took it is gone, or is
 * the stage's own agent whose session autorun has just ended; any other lock keeps the worktree —
 * and the worktree keeps its branch.
 */
import { existsSync, rmSync } from "node:fs";
import * as git from "../adapters/git.js";
import { unlockWorktree } from "../adapters/git-safety.js";
import { isStageProcess, lockHolder, parseClaudeLock } from "../adapters/claude-lock.js";

export interface RemovalOwner {
  orchDir: string;
  stage: string;
  /** autorun has just ended the stage's session: its claude may take a moment to exit. */
  sessionEnded: boolean;
}

export type Removal = { removed: true; unlocked?: string } | { removed: false; why: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Lifts a claude lock on `worktree` when that is safe. Undefined when there is no lock (or it was
 * lifted: then `unlocked` says whose), else why the worktree must stay.
 */
async function liftLock(at: { root: string; worktree: string; reason: string }, owner: RemovalOwner, exitWaitMs: number): Promise<{ unlocked: string } | { why: string }> {
  const { root, worktree, reason } = at;
  const lock = parseClaudeLock(reason);
  if (!lock) return { why: `it is locked (${reason || "no reason given"}), not by a claude session autorun can check; once nothing uses it: git worktree unlock ${worktree}` };
  let holder = lockHolder(lock);
  let ours = holder === "running" && owner.sessionEnded && isStageProcess(lock.pid, owner.orchDir, owner.stage);
  // The agent of the session just ended: give it a moment to exit. A claude that is exiting may
  // no longer show its environment (the kernel drops it first), so any holder gets that moment
  // when autorun has just ended the session; only one that is gone, or shown to be the stage's own
  // agent, has its lock lifted.
  for (const until = Date.now() + exitWaitMs; owner.sessionEnded && holder === "running" && Date.now() < until; ) {
    await sleep(100);
    holder = lockHolder(lock);
    ours ||= holder === "running" && isStageProcess(lock.pid, owner.orchDir, owner.stage);
  }
  if (holder === "running" && !ours) return { why: `claude session ${lock.session} (pid ${lock.pid}) locked it and is still running; it is left until that claude exits` };
  if (!(await unlockWorktree(root, worktree))) return { why: `git worktree unlock ${worktree} failed` };
  return { unlocked: `the lock of claude pid ${lock.pid} (${holder === "gone" ? "no longer running" : "its session ended by autorun"})` };
}

/**
 * `git worktree remove --force`. An agent that is still exiting may write a file into the worktree
 * while git empties it ("Directory not empty"); git has then removed the worktree's `.git` file and
 * will not try again, so what is left is removed here (its caller kept what it held) and git's
 * record of it pruned. Undefined once both are gone, else why not.
 */
async function removeDirectory(root: string, worktree: string): Promise<string | undefined> {
  const failed = await git.removeWorktreeSaying(root, worktree);
  if (failed === undefined && !existsSync(worktree)) return undefined;
  await sleep(250);
  try {
    rmSync(worktree, { recursive: true, force: true, maxRetries: 4, retryDelay: 250 });
  } catch (error) {
    return `${failed ?? "its directory is still there"}; then: ${(error as Error).message}`;
  }
  return (await prunedAway(root, worktree)) ? undefined : `${failed ?? "its directory was left"}; git worktree prune left its registration`;
}

/** `git worktree prune`, then whether git has let go of `worktree`'s record. */
async function prunedAway(root: string, worktree: string): Promise<boolean> {
  await git.pruneWorktrees(root);
  return !(await git.listWorktrees(root)).some((w) => w.path === worktree);
}

/**
 * Removes a stage's worktree (with `--force`: its caller kept what it holds beyond its commits) and
 * its registration. A worktree whose directory is already gone is only unregistered.
 */
export async function removeStageWorktree(root: string, worktree: string, owner: RemovalOwner, exitWaitMs = 5_000): Promise<Removal> {
  const entry = (await git.listWorktrees(root)).find((w) => w.path === worktree);
  let unlocked: string | undefined;
  if (entry?.locked !== undefined) {
    const lifted = await liftLock({ root, worktree, reason: entry.locked }, owner, exitWaitMs);
    if ("why" in lifted) return { removed: false, why: lifted.why };
    unlocked = lifted.unlocked;
  }
  if (existsSync(worktree)) {
    // A directory git does not list as a worktree is no stage's to remove.
    if (!entry) return { removed: false, why: "git does not list it as a worktree; it is left as it is" };
    const failed = await removeDirectory(root, worktree);
    if (failed) return { removed: false, why: `git worktree remove failed (${failed})` };
  } else if (entry) {
    // Its directory went without git being told: only the registration is left.
    if (!(await prunedAway(root, worktree))) return { removed: false, why: "git worktree prune left its registration" };
  }
  return { removed: true, ...(unlocked ? { unlocked } : {}) };
}
