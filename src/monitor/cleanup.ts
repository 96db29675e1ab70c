/**
 * After a merge: the stage's session ends, what its agent left uncommitted (notes, its plan, ignored
 * files but dependencies and build output) is copied under the orchestration, its worktree is
 * removed (a lock claude left lifted only when that claude is gone) and its branch deleted — only
 * what autorun made, never a commit that is not in the base, never a branch a worktree still has
 * out; then the ref that kept the stage's tip goes.
 */
import { existsSync } from "node:fs";
import * as git from "../adapters/git.js";
import { dropStageTip } from "../adapters/git-safety.js";
import type { Tmux } from "../adapters/tmux.js";
import { realClock, type Clock } from "../core/clock.js";
import { classifyPane } from "./pane.js";
import { appendFor } from "../state/orchestration.js";
import type { OrchPaths } from "../state/paths.js";
import { loadStatus } from "../state/status.js";
import type { Status } from "../types/schemas.js";
import { stageTipRef } from "../core/naming.js";
import { keepWorktreeFiles, keptFilesDir } from "./keep-files.js";
import { removeStageWorktree } from "./worktree-removal.js";

export interface CleanupDeps {
  tmux: Tmux;
  paths: OrchPaths;
  log: (msg: string) => void;
  /** What waiting for the agent's turn to end goes by (default: the real one). */
  clock?: Clock;
  /** How long a claude whose lock holds the worktree gets to exit once its session ended (default 5 s). */
  lockWaitMs?: number;
}

/**
 * Leftovers of a completed stage (a monitor killed between its merge and the cleanup): end the
 * session, remove the worktree and the merged branch, with the same care as after a merge.
 */
/** A completed stage: its id and record, its project and base branch. */
export interface DoneStage {
  id: string;
  stage: Status["stages"][string];
  root: string;
  base: string;
}

export async function reapCompleted(deps: CleanupDeps, done: DoneStage): Promise<boolean> {
  const { id, stage, root } = done;
  const leftover = (await deps.tmux.hasSession(stage.session)) || existsSync(stage.worktree) || (await git.branchExists(root, stage.branch));
  if (!leftover) {
    // Killed after the branch went, before the ref that kept its tip did.
    const slug = loadStatus(deps.paths)?.project_slug;
    if (slug) await dropStageTip(root, stageTipRef(slug, id));
    return false;
  }
  deps.log(`stage ${id}: cleaning up what its merge left behind`);
  await cleanup(deps, done);
  return true;
}

/**
 * Lets an agent that handed over finish the turn it is in (the message after its last command),
 * so its transcript, and what the stage cost, are whole before its session ends: up to `maxMs`.
 */
async function letTurnEnd(tmux: Tmux, session: string, clock: Clock, maxMs = 10_000): Promise<void> {
  const until = clock.now() + maxMs;
  while (clock.now() < until) {
    const screen = await tmux.capturePane(session);
    if (screen === undefined || classifyPane(screen).kind !== "busy") return;
    await clock.sleep(250);
  }
}

export async function cleanup(deps: CleanupDeps, { id, stage, root, base }: DoneStage): Promise<void> {
  const { worktree, branch } = stage;
  await letTurnEnd(deps.tmux, stage.session, deps.clock ?? realClock);
  await deps.tmux.killSession(stage.session);
  const status = loadStatus(deps.paths);
  if (existsSync(worktree)) {
    const changes = await git.trackedChanges(worktree).catch(() => ["?"]);
    if (changes.length > 0) {
      deps.log(`stage ${id}: kept worktree ${worktree} and branch ${branch}: it has uncommitted changes to tracked files`);
      return;
    }
    const kept = await keepWorktreeFiles(keptFilesDir(deps.paths, id), worktree, stage.plan_file);
    if (!kept.ok) {
      deps.log(`stage ${id}: kept worktree ${worktree} and branch ${branch}: it holds ${kept.count} uncommitted files, too many to copy aside`);
      return;
    }
    if (kept.count > 0 || kept.dropped.length > 0) {
      if (status) {
        appendFor(deps.paths, status, { stage: id, type: "stage_files_kept", dir: kept.dir, files: kept.count, ...(kept.plan ? { plan_file: kept.plan } : {}), ...(kept.dropped.length ? { dropped: kept.dropped.slice(0, 50) } : {}) });
      }
      if (kept.count > 0) deps.log(`stage ${id}: kept its ${kept.count} uncommitted or ignored file(s) (notes, plan) in ${kept.dir}`);
      if (kept.dropped.length > 0) deps.log(`stage ${id}: not kept from its worktree: ${kept.dropped.join(", ")}`);
    }
  }
  // Everything uncommitted is copied aside and every commit is in the base, so --force loses nothing
  // of the agent's. A lock claude left is lifted only when that claude is gone or was this stage's.
  const removal = await removeStageWorktree(root, worktree, { orchDir: deps.paths.dir, stage: id, sessionEnded: true }, deps.lockWaitMs);
  if (!removal.removed) {
    deps.log(`stage ${id}: kept worktree ${worktree} and branch ${branch}: ${removal.why}`);
    return;
  }
  if (removal.unlocked) deps.log(`stage ${id}: lifted ${removal.unlocked} on ${worktree}`);
  if (!(await git.deleteMergedBranch(root, branch, base))) {
    deps.log(`stage ${id}: kept branch ${branch} (not fully merged, or checked out somewhere)`);
    return;
  }
  if (status) await dropStageTip(root, stageTipRef(status.project_slug, id));
}
