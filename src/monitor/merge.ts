/**
 * Merging a finished stage (SPEC §6): one merge per project at a time; refuse a dirty or
 * wrong-branch root without touching it; validate in the worktree; `git merge --no-ff`; on a
 * conflict abort and send the stage back to its agent; on success end the session and remove the
 * worktree and (merged) branch. Never forces, never loses a commit.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as git from "../adapters/git.js";
import { runValidate } from "../adapters/process.js";
import type { Tmux } from "../adapters/tmux.js";
import { appendEvent, readFirstEvent } from "../state/events.js";
import { withLock } from "../state/lock.js";
import { locksDir, type OrchPaths } from "../state/paths.js";
import { loadStatus } from "../state/status.js";
import type { Config } from "../state/config.js";
import type { EventOf } from "../state/schemas.js";

export interface MergeDeps {
  tmux: Tmux;
  paths: OrchPaths;
  config: Config;
  log: (msg: string) => void;
  /** Delivers a message to the stage's agent (a verified nudge). */
  tell: (stage: string, message: string) => Promise<void>;
}

export type MergeOutcome =
  /** `cleanup` ends the session and removes the worktree and branch; callers may launch first. */
  | { kind: "merged"; commit: string; cleanup: () => Promise<void> }
  | { kind: "sent_back"; reason: EventOf<"merge_conflict">["reason"]; detail: string }
  | { kind: "refused"; reason: EventOf<"merge_conflict">["reason"]; detail: string }
  | { kind: "skipped"; detail: string };

export function mergeLockPath(home: string, projectRoot: string): string {
  return join(locksDir(home), `merge-${createHash("sha1").update(projectRoot).digest("hex").slice(0, 16)}.lock`);
}

export async function mergeStage(deps: MergeDeps, id: string): Promise<MergeOutcome> {
  const { paths } = deps;
  const started = readFirstEvent(paths.events);
  if (started?.type !== "orchestration_started") return { kind: "skipped", detail: "no orchestration" };
  return withLock(mergeLockPath(paths.home, started.project_root), () => mergeLocked(deps, id), 30 * 60_000);
}

async function mergeLocked(deps: MergeDeps, id: string): Promise<MergeOutcome> {
  const { paths, log } = deps;
  const status = loadStatus(paths)!;
  const stage = status.stages[id];
  if (!stage) return { kind: "skipped", detail: `no stage ${id}` };
  if (stage.status === "completed") return { kind: "skipped", detail: "already merged" };
  const root = status.project_root;
  const base = status.base_branch;
  const common = { orch_dir: paths.dir, plan_name: status.plan_name, project_slug: status.project_slug, stage: id };
  const conflict = (reason: EventOf<"merge_conflict">["reason"], files: string[], detail: string) =>
    appendEvent(paths.events, { ...common, type: "merge_conflict", reason, files, detail });

  // A merge that completed before a crash: the branch is already in the base.
  if (stage.status === "merging" && (await git.branchExists(root, stage.branch)) && (await git.isAncestor(root, stage.branch, base)) && (await git.commitsAhead(root, base, stage.branch)) === 0) {
    const commit = await git.headCommit(root, base);
    appendEvent(paths.events, { ...common, type: "merge_complete", branch: stage.branch, commit });
    return { kind: "merged", commit, cleanup: () => cleanup(deps, id, stage.session, stage.worktree, stage.branch, root) };
  }

  if (!(await git.branchExists(root, stage.branch)) || (await git.commitsAhead(root, base, stage.branch)) === 0) {
    const detail = `branch ${stage.branch} has no commits beyond ${base}`;
    conflict("no_commits", [], detail);
    await deps.tell(id, `autorun could not merge stage ${id}: ${detail}. Commit your work on ${stage.branch} in your worktree, then run: autorun phase implement done`);
    return { kind: "sent_back", reason: "no_commits", detail };
  }
  const branchNow = await git.currentBranch(root);
  if (branchNow !== base) {
    const detail = `${root} is on ${branchNow ?? "a detached HEAD"}, not ${base}`;
    conflict("wrong_branch", [], detail);
    log(`stage ${id}: merge refused: ${detail}; check out ${base}, then run autorun merge ${status.plan_name} ${id}`);
    return { kind: "refused", reason: "wrong_branch", detail };
  }
  const dirty = await git.trackedChanges(root);
  if (dirty.length > 0) {
    const files = dirty.map((l) => l.slice(3));
    const detail = `${root} has uncommitted changes (${files.slice(0, 5).join(", ")})`;
    conflict("dirty_root", files, detail);
    log(`stage ${id}: merge refused: ${detail}; commit or stash them, then run autorun merge ${status.plan_name} ${id}`);
    return { kind: "refused", reason: "dirty_root", detail };
  }
  for (const argv of deps.config.validate) {
    const cwd = existsSync(stage.worktree) ? stage.worktree : root;
    const r = await runValidate(argv, cwd);
    if (!r.ok) {
      const detail = `validate ${JSON.stringify(argv)} failed:\n${r.tail}`;
      conflict("validate_failed", [], detail);
      const tail = r.tail.split("\n").slice(-8).join(" | ");
      await deps.tell(id, `autorun did not merge stage ${id}: the check ${argv.join(" ")} failed in your worktree. Output tail: ${tail} -- fix it, commit, then run: autorun phase implement done`);
      return { kind: "sent_back", reason: "validate_failed", detail };
    }
  }
  // Only now is the stage "merging": a restart that finds it so checks whether git got as far as
  // the merge commit (the gates above never leave that state behind).
  appendEvent(paths.events, { ...common, type: "merge_started", branch: stage.branch });
  const result = await git.mergeNoFf(root, stage.branch, `autorun: merge stage ${id}: ${stage.name}`);
  if (!result.ok) {
    conflict(result.reason === "untracked_overwrite" ? "untracked_overwrite" : "conflict", result.files, result.detail);
    if (result.reason === "untracked_overwrite") {
      log(`stage ${id}: merge refused: untracked files in ${root} would be overwritten (${result.files.join(", ")}); move them, then run autorun merge ${status.plan_name} ${id}`);
      return { kind: "refused", reason: "untracked_overwrite", detail: result.detail };
    }
    await deps.tell(
      id,
      `autorun could not merge stage ${id}: merging ${stage.branch} into ${base} conflicts in ${result.files.join(", ") || "some files"}. In your worktree run: git rebase ${base}, resolve the conflicts, commit, then run: autorun phase implement done`,
    );
    return { kind: "sent_back", reason: "conflict", detail: result.detail };
  }
  appendEvent(paths.events, { ...common, type: "merge_complete", branch: stage.branch, commit: result.commit });
  log(`stage ${id}: merged ${stage.branch} into ${base} as ${result.commit.slice(0, 10)}`);
  return { kind: "merged", commit: result.commit, cleanup: () => cleanup(deps, id, stage.session, stage.worktree, stage.branch, root) };
}

/**
 * Leftovers of a completed stage (a monitor killed between its merge and the cleanup): end the
 * session, remove the worktree and the merged branch, with the same care as after a merge.
 */
export async function reapCompleted(deps: Pick<MergeDeps, "tmux" | "log">, id: string, stage: { session: string; worktree: string; branch: string }, root: string): Promise<boolean> {
  const leftover = (await deps.tmux.hasSession(stage.session)) || existsSync(stage.worktree) || (await git.branchExists(root, stage.branch));
  if (!leftover) return false;
  deps.log(`stage ${id}: cleaning up what its merge left behind`);
  await cleanup(deps, id, stage.session, stage.worktree, stage.branch, root);
  return true;
}

async function cleanup(deps: Pick<MergeDeps, "tmux" | "log">, id: string, session: string, worktree: string, branch: string, root: string): Promise<void> {
  await deps.tmux.killSession(session);
  if (existsSync(worktree)) {
    const changes = await git.trackedChanges(worktree).catch(() => ["?"]);
    if (changes.length > 0) {
      deps.log(`stage ${id}: kept worktree ${worktree}: it has uncommitted changes to tracked files`);
      return;
    }
    if (!(await git.removeWorktree(root, worktree))) deps.log(`stage ${id}: could not remove worktree ${worktree}`);
  }
  await git.pruneWorktrees(root);
  if (!(await git.deleteMergedBranch(root, branch))) deps.log(`stage ${id}: kept branch ${branch} (not fully merged)`);
}
