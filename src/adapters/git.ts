/** git, always with an argument array and `-C <dir>`. */
import { runProgram, expectOk, type RunResult } from "./exec.js";

async function run(cwd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return runProgram("git", ["-C", cwd, ...args], { timeoutMs, env: { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" } });
}

async function ok(cwd: string, args: string[], what: string, timeoutMs?: number): Promise<string> {
  return expectOk("git", ["-C", cwd, ...args], await run(cwd, args, timeoutMs), what).stdout.trim();
}

export async function toplevel(dir: string): Promise<string | undefined> {
  const r = await run(dir, ["rev-parse", "--show-toplevel"]).catch(() => undefined);
  return r?.ok ? r.stdout.trim() : undefined;
}

export async function currentBranch(root: string): Promise<string | undefined> {
  const r = await run(root, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
  return r.ok ? r.stdout.trim() : undefined;
}

/** Tracked changes only: untracked files are the user's and a merge never touches them silently. */
export async function trackedChanges(root: string): Promise<string[]> {
  const out = await ok(root, ["status", "--porcelain", "--untracked-files=no"], "git status");
  return out === "" ? [] : out.split("\n");
}

export async function branchExists(root: string, branch: string): Promise<boolean> {
  return (await run(root, ["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`])).ok;
}

export async function commitsAhead(root: string, base: string, branch: string): Promise<number> {
  return Number(await ok(root, ["rev-list", "--count", `${base}..${branch}`], "git rev-list"));
}

export async function isAncestor(root: string, commit: string, of: string): Promise<boolean> {
  return (await run(root, ["merge-base", "--is-ancestor", commit, of])).ok;
}

export async function headCommit(root: string, ref = "HEAD"): Promise<string> {
  return ok(root, ["rev-parse", ref], "git rev-parse");
}

export type MergeResult = { ok: true; commit: string } | { ok: false; reason: "conflict" | "untracked_overwrite" | "other"; files: string[]; detail: string };

export async function mergeNoFf(root: string, branch: string, message: string): Promise<MergeResult> {
  const r = await run(root, ["merge", "--no-ff", "--no-edit", "-m", message, "--", branch], 300_000);
  if (r.ok) return { ok: true, commit: await headCommit(root) };
  const text = `${r.stdout}\n${r.stderr}`;
  if (/untracked working tree files would be overwritten/i.test(text)) {
    const files = text.split("\n").filter((l) => /^\s+\S/.test(l)).map((l) => l.trim());
    return { ok: false, reason: "untracked_overwrite", files, detail: text.trim().split("\n").slice(0, 6).join(" ") };
  }
  const conflicted = await run(root, ["diff", "--name-only", "--diff-filter=U"]);
  const files = conflicted.ok ? conflicted.stdout.split("\n").filter(Boolean) : [];
  const inMerge = (await run(root, ["rev-parse", "--verify", "--quiet", "MERGE_HEAD"])).ok;
  if (inMerge) await run(root, ["merge", "--abort"]);
  return { ok: false, reason: files.length > 0 || /CONFLICT/.test(text) ? "conflict" : "other", files, detail: text.trim().split("\n").slice(-4).join(" ") };
}

export async function removeWorktree(root: string, worktree: string): Promise<boolean> {
  return (await run(root, ["worktree", "remove", "--force", worktree])).ok;
}

export async function pruneWorktrees(root: string): Promise<void> {
  await run(root, ["worktree", "prune"]);
}

/** `branch -d` refuses to delete unmerged work, which is exactly what we want. */
export async function deleteMergedBranch(root: string, branch: string): Promise<boolean> {
  return (await run(root, ["branch", "-d", "--", branch])).ok;
}

export async function listBranches(root: string, pattern: string): Promise<string[]> {
  const out = await ok(root, ["for-each-ref", "--format=%(refname:short)", `refs/heads/${pattern}`], "git for-each-ref");
  return out === "" ? [] : out.split("\n");
}

export async function listWorktrees(root: string): Promise<{ path: string; branch?: string }[]> {
  const out = await ok(root, ["worktree", "list", "--porcelain"], "git worktree list");
  const result: { path: string; branch?: string }[] = [];
  for (const block of out.split("\n\n")) {
    const path = /^worktree (.*)$/m.exec(block)?.[1];
    const branch = /^branch refs\/heads\/(.*)$/m.exec(block)?.[1];
    if (path) result.push(branch ? { path, branch } : { path });
  }
  return result;
}

export async function gitVersion(): Promise<string | undefined> {
  const r = await runProgram("git", ["--version"]).catch(() => undefined);
  return r?.ok ? r.stdout.trim() : undefined;
}

/** A new repository on `branch` with one commit of the given files (used by `autorun demo`). */
export async function initRepo(dir: string, files: Record<string, string>, branch = "main"): Promise<void> {
  const { writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  await ok(dir, ["init", "-q", "-b", branch], "git init");
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  await ok(dir, ["add", "--", ...Object.keys(files)], "git add");
  const r = await runProgram("git", ["-C", dir, "-c", "user.name=autorun demo", "-c", "user.email=demo@autorun.invalid", "commit", "-q", "-m", "initial commit"], { timeoutMs: 30_000 });
  expectOk("git", ["commit"], r, "git commit");
}

export async function logGraph(root: string, limit = 30): Promise<string> {
  return ok(root, ["log", "--graph", "--oneline", "--decorate=short", `-${limit}`], "git log");
}
