/**
 * git's plumbing for a merge made without touching anyone's checkout: the merged tree
 * (`git merge-tree --write-tree`, or a private worktree on git < 2.38), a commit of it, and the
 * compare-and-swap move of the base ref. Argument arrays only, like `git.ts`.
 */
import { expectOk } from "./exec.js";
import { detachedWorktreeAt, gitVersion, ok, run } from "./git.js";
import { UserError } from "../errors.js";

/**
 * The merge of `theirs` into `ours` computed without a working tree (`git merge-tree --write-tree`,
 * git ≥ 2.38): the resulting tree, or the conflicted files.
 */
export type TreeMerge = { ok: true; tree: string } | { ok: false; files: string[]; detail: string };

let writeTreeSupport: Promise<boolean> | undefined;

/**
 * `git merge-tree --write-tree` exists from git 2.38. AUTORUN_GIT_NO_WRITE_TREE=1 pretends it does
 * not (to test the fallback on a newer git).
 */
export function supportsMergeTreeWriteTree(): Promise<boolean> {
  if (process.env.AUTORUN_GIT_NO_WRITE_TREE === "1") return Promise.resolve(false);
  writeTreeSupport ??= gitVersion().then((v) => {
    const m = /(\d+)\.(\d+)/.exec(v ?? "");
    return m !== null && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 38));
  });
  return writeTreeSupport;
}

/**
 * The same result on git < 2.38: merged with `--no-commit` in a private detached worktree
 * (autorun's own, so aborting the merge there touches nothing of the person's).
 */
export async function mergeTreeInWorktree(root: string, dir: string, ours: string, theirs: string): Promise<TreeMerge> {
  await detachedWorktreeAt(root, dir, ours);
  const r = await run(dir, ["merge", "--no-ff", "--no-commit", "--no-edit", theirs], 300_000);
  try {
    if (r.ok) return { ok: true, tree: await ok(dir, ["write-tree"], "git write-tree") };
    const conflicted = await run(dir, ["diff", "--name-only", "--diff-filter=U"]);
    const files = conflicted.ok ? conflicted.stdout.split("\n").filter(Boolean) : [];
    return { ok: false, files, detail: files.length ? `conflicts in ${files.join(", ")}` : `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-3).join(" ") };
  } finally {
    await run(dir, ["merge", "--abort"]);
  }
}

export async function mergeTree(root: string, ours: string, theirs: string): Promise<TreeMerge> {
  const r = await run(root, ["merge-tree", "--write-tree", "--name-only", "-z", "--no-messages", ours, theirs], 300_000);
  const parts = r.stdout.split("\0");
  const tree = parts[0] ?? "";
  if (r.ok && /^[0-9a-f]{40,64}$/.test(tree)) return { ok: true, tree };
  if (r.code === 1 && /^[0-9a-f]{40,64}$/.test(tree)) {
    const files = [...new Set(parts.slice(1).filter(Boolean))];
    return { ok: false, files, detail: `conflicts in ${files.join(", ")}` };
  }
  expectOk("git", ["merge-tree", ours, theirs], r, "git merge-tree");
  throw new Error("unreachable");
}

/** A commit of `tree` with the given parents, touching no ref, index or working tree. */
export async function commitTree(root: string, tree: string, parents: string[], message: string): Promise<string> {
  const r = await run(root, ["commit-tree", tree, ...parents.flatMap((p) => ["-p", p]), "-m", message]);
  if (!r.ok && /Please tell me who you are|empty ident|unable to auto-detect email/i.test(r.stderr)) {
    throw new UserError(`git has no identity in ${root}, so autorun cannot make the merge commit; set one with: git config user.name "Your Name" && git config user.email you@example.com`);
  }
  return expectOk("git", ["commit-tree", tree], r, "git commit-tree").stdout.trim();
}

/** A move of `ref` from `from` to `to`, with the reason its reflog gives. */
export interface RefMove {
  ref: string;
  from: string;
  to: string;
  reason: string;
}

/** Moves a ref only if it still points where the move starts from (compare-and-swap). */
export async function casRef(root: string, move: RefMove): Promise<boolean> {
  return (await run(root, ["update-ref", "-m", move.reason, move.ref, move.to, move.from])).ok;
}
