/** Names derived from the slug and stage id: tmux session, worktree, branch, merge commit. Pure. */

/** tmux forbids `.` and `:` in session names; ids like 2.1 become 2_1. */
export function sessionName(slug: string, id: string): string {
  return `${slug}_stage-${id}`.replace(/[^A-Za-z0-9_-]/g, "_");
}

export function worktreeName(slug: string, id: string): string {
  return `${slug}-stage-${id}`.replace(/[^A-Za-z0-9._-]/g, "-");
}

export function branchName(slug: string, id: string): string {
  return `worktree-${worktreeName(slug, id)}`;
}

/** How every merge commit autorun makes begins: what tells autorun's own commits from a stage's work. */
export const MERGE_SUBJECT_PREFIX = "autorun: merge stage ";

/** The subject of the commit that merges stage `id` into the base branch. */
export function mergeSubject(id: string, name: string): string {
  return `${MERGE_SUBJECT_PREFIX}${id}: ${name}`;
}

/**
 * The whole message of that commit: the subject, then the plan and the stage's branch, so that
 * `git log` tells which run a merge came from (several plans can merge into one base).
 */
export function mergeMessage(stage: { id: string; name: string; branch: string }, plan: { name: string; file: string }): string {
  return `${mergeSubject(stage.id, stage.name)}\n\nPlan: ${plan.name} (${plan.file})\nBranch: ${stage.branch}\n`;
}

/**
 * Why a stage id cannot name a git branch (git check-ref-format's rules that a stage id can
 * break), or undefined when it can.
 */
export function branchIdProblem(id: string): string | undefined {
  if (id.includes("..")) return 'contains ".."';
  if (id.endsWith(".")) return 'ends with "."';
  if (/\.lock$/i.test(id)) return 'ends with ".lock"';
  return undefined;
}

/**
 * The ref that keeps a stage's last known tip, `refs/autorun/<slug>/<id>`: outside `refs/heads/`, so
 * no branch listing shows it and nothing that deletes a branch (claude's `/exit`) deletes it.
 */
export function stageTipRef(slug: string, id: string): `refs/autorun/${string}` {
  return `refs/autorun/${slug}/${id.replace(/[^A-Za-z0-9._-]/g, "-")}`;
}
