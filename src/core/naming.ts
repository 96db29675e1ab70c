/** Names derived from the slug and stage id: tmux session, worktree, branch. Pure. */

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
