/**
 * A merge as a plan, then its application: `planMerge` looks at the stage branch and the base
 * (reading only; the merge tree and commit it computes are unreferenced objects) and says which
 * step the merge is at. The merge queue (merge.ts) carries the plan out; `autorun merge --dry-run`
 * prints it (`describePlan`). Both read the same plan, so what the dry run says is what a merge
 * would do.
 */
import { createHash } from "node:crypto";
import { dirname, isAbsolute, join, relative } from "node:path";
import * as git from "../adapters/git.js";
import * as gitMerge from "../adapters/git-merge.js";
import { operationOnBase } from "../adapters/git-safety.js";
import { locksDir, makeDir } from "../state/paths.js";
import type { Config } from "../state/config.js";
import type { Status } from "../types/schemas.js";
import { mergeMessage } from "../core/naming.js";
import { stageState } from "../core/words.js";
import { guardedChanges } from "../core/permissions.js";

type Stage = Status["stages"][string];

/** What a merge of the stage does next, as seen now. */
export type MergePlan =
  | { step: "nothing"; detail: string }
  | { step: "no_branch" }
  /** A person's merge or rebase of the base is under way somewhere: the merge waits. */
  | { step: "wait"; busy: { what: string; where: string } }
  /** Everything on the branch is in the base, and the merge was under way (a crash after the base moved): it is recorded. */
  | { step: "record"; baseTip: string }
  /** Its own commits came in through a merge autorun did not make: a person merged it by hand. */
  | { step: "by_hand" }
  | { step: "no_commits"; stageTip: string }
  | { step: "conflict"; stageTip: string; files: string[]; detail: string }
  /** It changes what decides how stages are checked or what agents may do: a person merges it. */
  | { step: "guarded"; stageTip: string; files: string[] }
  /** It merges cleanly as `commit`; then `checks`, and the base (and a checkout of it) move. */
  | { step: "merge"; baseTip: string; stageTip: string; commit: string; touched: string[]; checks: string[][] };

export interface PlanInput {
  home: string;
  config: Pick<Config, "validate">;
  status: Status;
  id: string;
  /** A person's `autorun merge`: a stage that changes guarded files merges too. */
  byPerson?: boolean;
}

export function projectKey(projectRoot: string): string {
  return createHash("sha1").update(projectRoot).digest("hex").slice(0, 16);
}

/**
 * The lock every merge into a project's base holds from its look at the stage to its record, and
 * a person's `done` and `skip` while they decide: neither acts on a stage the other is changing.
 */
export function mergeLockPath(home: string, projectRoot: string): string {
  return join(locksDir(home), `merge-${projectKey(projectRoot)}.lock`);
}

/** The private worktree where `validate` runs on merge results, one per project. */
export function validationWorktree(home: string, projectRoot: string): string {
  return join(home, "worktrees", projectKey(projectRoot), "validate");
}

/** The private worktree where merges are computed when git is older than 2.38. */
export function integrationWorktree(home: string, projectRoot: string): string {
  return join(home, "worktrees", projectKey(projectRoot), "integrate");
}

/** The checks a stage's merge must pass: the plan's own for the stage, else the configured `validate`. */
export function stageChecks(config: Pick<Config, "validate">, stage: Stage): string[][] {
  return stage.settings.validate ?? config.validate;
}

async function computeMerge(home: string, root: string, ours: string, theirs: string): Promise<gitMerge.TreeMerge> {
  if (await gitMerge.supportsMergeTreeWriteTree()) return gitMerge.mergeTree(root, ours, theirs);
  const dir = integrationWorktree(home, root);
  makeDir(dirname(dir));
  return gitMerge.mergeTreeInWorktree(root, dir, ours, theirs);
}

/** The step the merge of stage `id` is at, looked at now. */
export async function planMerge(input: PlanInput): Promise<MergePlan> {
  const { status, id } = input;
  const stage = status.stages[id];
  if (!stage) return { step: "nothing", detail: `no stage ${id}` };
  if (stage.status === "completed") return { step: "nothing", detail: "already merged" };
  const root = status.project_root;
  const base = status.base_branch;
  // Both tips in one git call, beside the look at the checkouts (files only, once git's directory is known).
  const [tips, busy] = await Promise.all([git.branchTips(root, [base, stage.branch]), operationOnBase(root, base)]);
  const stageTip = tips.get(stage.branch);
  if (stageTip === undefined) return { step: "no_branch" };
  // Checked first: no merge is computed and checked while it could not go in anyway.
  if (busy) return { step: "wait", busy };
  const baseTip = tips.get(base) ?? (await git.headCommit(root, `refs/heads/${base}`));
  // The merge is computed beside the ancestry check when that writes no worktree (merge-tree
  // --write-tree only adds unreferenced objects): one git process fewer in series.
  // (A branch at the base tip itself, as after its merge: in the base, nothing to compute.)
  const [ancestor, early] = await Promise.all([git.isAncestor(root, stageTip, baseTip), stageTip === baseTip ? undefined : gitMerge.supportsMergeTreeWriteTree().then((yes) => (yes ? gitMerge.mergeTree(root, baseTip, stageTip) : undefined)).catch(() => undefined)]);
  if (ancestor) {
    if (stage.status === "merging" || stage.merge_commit !== null) return { step: "record", baseTip };
    if (!(await git.onFirstParentChain(root, stageTip, baseTip))) return { step: "by_hand" };
    return { step: "no_commits", stageTip };
  }
  const tree = early ?? (await computeMerge(input.home, root, baseTip, stageTip));
  if (!tree.ok) return { step: "conflict", stageTip, files: tree.files, detail: tree.detail };
  // The files the merge changes are those between the base and the merged tree: asked beside the commit.
  const plan = relative(root, status.plan_path);
  const inProject = !(plan.startsWith("..") || isAbsolute(plan));
  const message = mergeMessage({ id, name: stage.name, branch: stage.branch }, { name: status.plan_name, file: inProject ? plan : status.plan_path });
  const [commit, touched] = await Promise.all([gitMerge.commitTree(root, tree.tree, [baseTip, stageTip], message), git.changedFiles(root, baseTip, tree.tree)]);
  const checks = stageChecks(input.config, stage);
  const guarded = input.byPerson ? [] : guardedChanges(touched, checks, inProject ? plan : undefined);
  if (guarded.length > 0) return { step: "guarded", stageTip, files: guarded };
  return { step: "merge", baseTip, stageTip, commit, touched, checks };
}

/** How a completed stage came to be: autorun's merge, or a person's word (its branch merged by them, or none). */
function finishedHow(stage: Status["stages"][string]): string {
  if (stage.finished_by === "skipped") return "skipped by a person, not merged";
  if (stage.finished_by === "person") return `marked done by a person${stage.merge_commit ? ` (merged by ${stage.merge_commit.slice(0, 12)})` : " (no merge of its own)"}, not merged by autorun`;
  if (stage.done_in_plan) return "done before the run (the plan says so), not merged by autorun";
  return `already merged as ${stage.merge_commit?.slice(0, 12) ?? "?"}`;
}

/** The plan in words, one line per step, as `autorun merge --dry-run` prints it (it reads the checkout, and changes nothing). */
export async function describePlan(input: PlanInput, plan: MergePlan): Promise<string[]> {
  const { status, id } = input;
  const stage = status.stages[id]!;
  const base = status.base_branch;
  const root = status.project_root;
  // In the words status uses (merged, handed over, implementing 2/3 …), not status.json's.
  const out: string[] = [`stage ${id} (${stageState(stage)}): ${stage.branch} into ${base}`];
  // A failed stage has no agent to send anything back to: the merge would stop there.
  const atWork = stage.status === "in_progress" || stage.status === "merging";
  const commitIt = atWork ? "the agent would be told to commit its work" : "not merged, and it has no agent at work to tell";
  switch (plan.step) {
    case "nothing":
      return [...out, stage.status === "completed" ? `${finishedHow(stage)}; nothing to do` : `${plan.detail}; nothing to do`];
    case "no_branch":
      return [...out, `branch ${stage.branch} does not exist: ${commitIt}`];
    case "wait":
      return [...out, `waits: ${plan.busy.what} is in progress in ${plan.busy.where}`];
    case "record":
      return [...out, `${stage.branch} is in ${base} already, from a merge that was under way: it is recorded as merged`];
    case "by_hand":
      return [...out, `${stage.branch} is already in ${base}, merged by a person: the stage is recorded as done`];
    case "no_commits":
      return [...out, `${stage.branch} has no commits beyond ${base}: ${commitIt}`];
    case "conflict":
      return [...out, `conflicts in ${plan.files.join(", ")}: ${atWork ? `sent back to the agent to rebase onto ${base}` : "not merged, and it has no agent at work to rebase it"}`];
    case "guarded":
      return [...out, `changes ${plan.files.join(", ")}, which decide how the run checks stages and what agents may do: a person merges it (autorun merge ${status.plan_name} ${id})`];
    case "merge":
      break;
  }
  const { touched, checks } = plan;
  out.push(`merges cleanly onto ${base} at ${plan.baseTip.slice(0, 12)}; brings ${touched.length} file(s): ${touched.slice(0, 8).join(", ")}${touched.length > 8 ? ", …" : ""}`);
  out.push(checks.length > 0 ? `checks the merge result in ${validationWorktree(input.home, root)}: ${checks.map((a) => a.join(" ")).join("; ")}` : "no validate configured: no check before the base moves");
  // A commit already sent back (its check failed on it, or it conflicted) is likely to be again.
  const before = stage.send_backs.filter((c) => c === plan.stageTip).length;
  if (before > 0) out.push(`this very commit (${plan.stageTip.slice(0, 12)}) was sent back ${before === 1 ? "once" : `${before} times`} already (see autorun logs ${status.plan_name}): unless what failed has changed, it fails the same way`);
  const checkout = await git.checkoutOf(root, base);
  if (!checkout) return [...out, `${base} is not checked out anywhere: only the branch moves`];
  const inTheWay = (await git.dirtyFiles(checkout)).filter((f) => touched.includes(f));
  out.push(inTheWay.length > 0 ? `waits: your uncommitted changes in ${checkout} overlap it: ${inTheWay.join(", ")}` : `${checkout} (on ${base}) is brought forward; your uncommitted edits there are kept`);
  return out;
}
