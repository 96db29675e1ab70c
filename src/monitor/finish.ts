/**
 * Stages a person finished: merged by their own hand (`git merge` of the stage branch into the
 * base, found by the monitor or said with `autorun done`), or skipped (`autorun skip`). Either way
 * the stage counts as completed and its dependants go on.
 */
import * as git from "../adapters/git.js";
import * as gitMerge from "../adapters/git-merge.js";
import type { Status } from "../types/schemas.js";

type Stage = Status["stages"][string];

export type WorkInBase =
  /**
   * The branch's tip is in the base. `own`: it came in through a merge (the stage made commits of
   * its own), and `commit` is that merge; otherwise the stage has nothing of its own to point at.
   */
  | { kind: "in_base"; own: true; commit: string }
  | { kind: "in_base"; own: false }
  /** The branch has `ahead` commits the base does not have, and changes the base lacks. */
  | { kind: "not_in_base"; ahead: number }
  /**
   * The branch's commits are not in the base, but their changes are: merged as other commits (a
   * squash, a rebase). Looked for only when asked (`applied`): a merge-tree per stage.
   */
  | { kind: "applied"; ahead: number }
  | { kind: "no_branch" };

/**
 * Where the stage's work is, as `git` sees it now. `applied`: also whether a branch not in the
 * base has its changes there (a person's word that it is finished needs that; watching every
 * running stage each time the base moves does not).
 */
export async function workInBase(root: string, base: string, stage: Pick<Stage, "branch">, opts: { applied?: boolean } = {}): Promise<WorkInBase> {
  if (!(await git.branchExists(root, stage.branch))) return { kind: "no_branch" };
  const baseTip = await git.headCommit(root, `refs/heads/${base}`);
  const tip = await git.headCommit(root, `refs/heads/${stage.branch}`);
  if (!(await git.isAncestor(root, tip, baseTip))) {
    const ahead = await git.commitsAhead(root, `refs/heads/${base}`, `refs/heads/${stage.branch}`);
    return { kind: opts.applied && (await changesIn(root, baseTip, tip)) ? "applied" : "not_in_base", ahead };
  }
  const merge = await git.mergeThatBrought(root, tip, baseTip);
  return merge === undefined ? { kind: "in_base", own: false } : { kind: "in_base", own: true, commit: merge };
}

/** Merging `tip` into `baseTip` would change nothing: its changes are there already (git ≥ 2.38 can tell). */
async function changesIn(root: string, baseTip: string, tip: string): Promise<boolean> {
  if (!(await gitMerge.supportsMergeTreeWriteTree())) return false;
  const merged = await gitMerge.mergeTree(root, baseTip, tip);
  return merged.ok && merged.tree === (await git.headCommit(root, `${baseTip}^{tree}`));
}

/**
 * Of `stages`, those a person merged by hand, with the merge that brought each: the branch's tip is
 * in the base, and got there through a merge (so it is not the commit the stage started from, which
 * is on the base's own line). Only stages running or failed: a merge of autorun's own is recorded
 * (`merge_started`) before the base moves, so a caller that read git first and the events after
 * never mistakes one for it. This runs each time the base moves, with every running stage: one git
 * call tells which branch tips the base has, and only those are looked at further.
 */
export async function handMergedAmong(root: string, base: string, stages: readonly (readonly [string, Stage])[]): Promise<[string, string][]> {
  const open = stages.filter(([, stage]) => stage.status === "in_progress" || stage.status === "failed");
  if (open.length === 0) return [];
  const baseTip = await git.headCommit(root, `refs/heads/${base}`).catch(() => undefined);
  if (baseTip === undefined) return [];
  const inBase = await git.branchesIn(root, baseTip, open.map(([, stage]) => stage.branch)).catch(() => new Map<string, string>());
  const found: [string, string][] = [];
  for (const [id, stage] of open) {
    const tip = inBase.get(stage.branch);
    const merge = tip === undefined ? undefined : await git.mergeThatBrought(root, tip, baseTip).catch(() => undefined);
    if (merge !== undefined) found.push([id, merge]);
  }
  return found;
}

/** Stages that depend on `id` directly. */
export function dependantsOf(status: Status, id: string): string[] {
  return Object.entries(status.stages).filter(([, s]) => s.depends_on.includes(id)).map(([d]) => d);
}
