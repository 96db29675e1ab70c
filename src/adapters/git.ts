/** git, always with an argument array and `-C <dir>`. */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { lastLine, runProgram, expectOk, type RunResult } from "./exec.js";
import { gitPlace } from "./git-where.js";

/**
 * git in `cwd`: never prompts, messages in English (they are matched); in a stage's worktree, on
 * the repository's own record of it and nothing an agent configured (git-where.ts).
 */
export async function run(cwd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  const place = gitPlace(cwd);
  if ("refused" in place) return { ok: false, code: undefined, stdout: "", stderr: place.refused, cwd };
  return runProgram("git", [...place.argv, ...args], { timeoutMs, env: { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" } });
}

/** Its trimmed output, or an error naming `what` failed. */
export async function ok(cwd: string, args: string[], what: string, timeoutMs?: number): Promise<string> {
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
  const r = expectOk("git", ["status"], await run(root, ["--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=no", "--no-renames"]), "git status");
  return porcelainPaths(r.stdout);
}

export async function branchExists(root: string, branch: string): Promise<boolean> {
  return (await run(root, ["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`])).ok;
}

/** The tips of the given branches that exist (one git call), by branch name. */
export async function branchTips(root: string, branches: readonly string[]): Promise<Map<string, string>> {
  // Read from the refs' files when they tell every tip plainly (this is on the way to each merge).
  const fromFiles = branches.map((b) => refFromFiles(root, `refs/heads/${b}`));
  if (fromFiles.every((t) => t !== undefined)) return new Map(branches.map((b, i) => [b, fromFiles[i]!]));
  const refs = branches.map((b) => `refs/heads/${b}`);
  const out = await ok(root, ["for-each-ref", "--format=%(refname)%09%(objectname)", ...refs], "git for-each-ref");
  const tips = new Map<string, string>();
  for (const line of out.split("\n")) {
    const [ref, sha] = line.split("\t");
    // A name is a prefix pattern to for-each-ref (refs/heads/main also lists refs/heads/main/x): exact names only.
    if (ref && sha && refs.includes(ref)) tips.set(ref.slice("refs/heads/".length), sha);
  }
  return tips;
}

/**
 * Of the given branches, those whose tips `commit` contains, with their tips: one git call for them
 * all, where an ancestry test took one each.
 */
export async function branchesIn(root: string, commit: string, branches: readonly string[]): Promise<Map<string, string>> {
  if (branches.length === 0) return new Map();
  const refs = branches.map((b) => `refs/heads/${b}`);
  const out = await ok(root, ["for-each-ref", `--merged=${commit}`, "--format=%(refname)%09%(objectname)", ...refs], "git for-each-ref");
  const tips = new Map<string, string>();
  for (const line of out.split("\n")) {
    const [ref, sha] = line.split("\t");
    // Names are prefix patterns to for-each-ref: exact names only.
    if (ref && sha && refs.includes(ref)) tips.set(ref.slice("refs/heads/".length), sha);
  }
  return tips;
}

export async function commitsAhead(root: string, base: string, branch: string): Promise<number> {
  return Number(await ok(root, ["rev-list", "--count", `${base}..${branch}`], "git rev-list"));
}

/** A full commit id, SHA-1 or SHA-256. */
const COMMIT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** Whether `commit` is `of` or an ancestor of it (the same commit id twice needs no git process). */
export async function isAncestor(root: string, commit: string, of: string): Promise<boolean> {
  if (commit === of && COMMIT_ID.test(commit)) return true;
  return (await run(root, ["merge-base", "--is-ancestor", commit, of])).ok;
}

/**
 * `tip`'s first-parent line since `commit` (newest first), and whether `commit` is `tip` or one of
 * its first parents, back in time (the oldest's first parent): a commit the branch itself stood
 * at, not one that came in through a merge's second parent.
 */
async function lineSince(root: string, commit: string, tip: string): Promise<{ line: string[]; onLine: boolean }> {
  // Each commit with its parents (the first parent first), so the oldest's is read in the same call.
  const rows = (await ok(root, ["rev-list", "--first-parent", "--parents", tip, `^${commit}`], "git rev-list")).split("\n").filter(Boolean).map((row) => row.split(" "));
  const line = rows.map((row) => row[0]!);
  if (line.length === 0) return { line, onLine: true };
  return { line, onLine: rows[rows.length - 1]![1] === commit };
}

/** Whether `commit` is on `tip`'s first-parent line (call it with `commit` an ancestor of `tip`). */
export async function onFirstParentChain(root: string, commit: string, tip: string): Promise<boolean> {
  return (await lineSince(root, commit, tip)).onLine;
}

/**
 * The commit of `tip`'s first-parent line through which `commit` came into it (the merge of a
 * branch whose tip is `commit`); undefined when `commit` is on that line itself, or not in `tip`.
 * The commits of the line that contain `commit` are its newest ones, so the oldest of them is
 * found by halving.
 */
export async function mergeThatBrought(root: string, commit: string, tip: string): Promise<string | undefined> {
  const { line, onLine } = await lineSince(root, commit, tip);
  if (onLine || !(await isAncestor(root, commit, line[0]!))) return undefined;
  let [low, high] = [0, line.length - 1];
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (await isAncestor(root, commit, line[mid]!)) low = mid;
    else high = mid - 1;
  }
  return line[low];
}

export async function headCommit(root: string, ref = "HEAD"): Promise<string> {
  return ok(root, ["rev-parse", ref], "git rev-parse");
}

/**
 * A ref's commit (a branch's, or one of autorun's own) read from the repository's own files, as
 * git keeps it (a loose ref, else packed-refs), without starting git: for what runs on every
 * monitor pass. Undefined when the files cannot tell it plainly (a `.git` file, reftable storage,
 * a symbolic ref, no such ref): then ask git.
 */
export function refFromFiles(root: string, ref: `refs/${string}`): string | undefined {
  // Only a name git could have made: nothing that leads out of the refs directory.
  if (ref.includes("\0") || ref.split("/").some((part) => part === "" || part === "." || part === "..")) return undefined;
  const gitDir = join(root, ".git");
  try {
    if (existsSync(join(gitDir, "reftable"))) return undefined;
    const loose = readFileSync(join(gitDir, ref), "utf8").trim();
    return COMMIT_ID.test(loose) ? loose : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") return undefined;
  }
  try {
    for (const line of readFileSync(join(gitDir, "packed-refs"), "utf8").split("\n")) {
      const [sha, name] = line.split(" ");
      if (name === ref && sha !== undefined && COMMIT_ID.test(sha)) return sha;
    }
  } catch {
    // no packed-refs
  }
  return undefined;
}

/** Paths that differ between two commits. */
export async function changedFiles(root: string, from: string, to: string): Promise<string[]> {
  const r = expectOk("git", ["diff", "--name-only", from, to], await run(root, ["--no-optional-locks", "diff", "--name-only", "-z", "--no-renames", from, to]), "git diff");
  return r.stdout.split("\0").filter(Boolean);
}

/**
 * Files a person has touched in a checkout: modified, staged, deleted or untracked (not ignored).
 * Read-only: `--no-optional-locks` keeps git status from taking index.lock under the person's feet.
 */
export async function dirtyFiles(dir: string): Promise<string[]> {
  const r = expectOk("git", ["status", "--porcelain", "-z"], await run(dir, ["--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"]), "git status");
  return porcelainPaths(r.stdout);
}

/** The paths of `git status --porcelain=v1 -z`: each record is "XY <path>", sliced whole so a leading space is never eaten. */
function porcelainPaths(stdout: string): string[] {
  return stdout.split("\0").filter((rec) => rec.length > 3).map((rec) => rec.slice(3));
}

/** The checkout (worktree path) that has `branch` out, if any: the project root, usually. */
export async function checkoutOf(root: string, branch: string): Promise<string | undefined> {
  return (await listWorktrees(root)).find((w) => w.branch === branch)?.path;
}

/**
 * Brings a checkout of `branch` from `from` to `to` the way `git merge --ff-only` would: files the
 * move does not touch keep the person's edits; a local edit or untracked file in its way makes git
 * refuse and nothing changes. Returns the refusal, or undefined when done.
 */
export async function moveCheckout(dir: string, from: string, to: string): Promise<string | undefined> {
  await run(dir, ["update-index", "-q", "--refresh"]);
  const r = await run(dir, ["read-tree", "-m", "-u", from, to], 300_000);
  return r.ok ? undefined : (r.stderr.trim() || r.stdout.trim() || `git read-tree exited ${r.code}`);
}

/** True when the checkout's index still holds `commit`'s tree (a checkout left behind by its ref). */
export async function indexMatches(dir: string, commit: string): Promise<boolean> {
  return (await run(dir, ["--no-optional-locks", "diff-index", "--cached", "--quiet", commit, "--"])).ok;
}

/** The branch a checkout has out (its HEAD), read without any lock. */
export async function checkedOutBranch(dir: string): Promise<string | undefined> {
  const r = await run(dir, ["symbolic-ref", "--quiet", "HEAD"]);
  return r.ok ? r.stdout.trim().replace(/^refs\/heads\//, "") : undefined;
}

/** A private detached worktree at `commit` (created on first use, then reset and cleaned). */
export async function detachedWorktreeAt(root: string, dir: string, commit: string): Promise<void> {
  const registered = (await listWorktrees(root)).some((w) => w.path === dir);
  if (!registered || !existsSync(join(dir, ".git"))) {
    await run(root, ["worktree", "prune"]);
    await ok(root, ["worktree", "add", "--force", "--detach", dir, commit], "git worktree add (validation)");
    return;
  }
  await ok(dir, ["checkout", "--quiet", "--detach", "--force", commit], "git checkout (validation worktree)");
  // Untracked files from the previous check go; ignored ones (dependencies, build caches) stay.
  await ok(dir, ["clean", "-ffdq"], "git clean (validation worktree)");
}

/**
 * git reads every registered worktree's files while it adds one, so an add beside another can read
 * the other's files half-written and fail ("failed to read .git/worktrees/x/commondir"): it is
 * worth trying again a moment later.
 */
const CONCURRENT_ADD = /failed to read .*worktrees\/|unable to read .*worktrees\/|\.lock': File exists/i;

/**
 * A worktree for a stage on `branch`, made from `start` unless the branch exists already (then it
 * is checked out as it is: says which). One git call in the usual case (this is on the path from a
 * merge to its dependant's launch); a branch that exists, a stale registration of the directory,
 * or an add that ran into another, costs a retry. How many run at once is the caller's to limit
 * (monitor/worktrees.ts).
 */
export async function addStageWorktree(root: string, dir: string, branch: string, start: string): Promise<"made at start" | "existing branch"> {
  let args = ["worktree", "add", "-b", branch, dir, start];
  for (let attempt = 1; ; attempt++) {
    const r = await run(root, args);
    if (r.ok) return args.includes("-b") ? "made at start" : "existing branch";
    if (attempt === 5) expectOk("git", args, r, `git worktree add ${dir}`);
    if (CONCURRENT_ADD.test(r.stderr)) await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 40));
    else if (/already registered|missing but (locked|already registered)/i.test(r.stderr)) await run(root, ["worktree", "prune"]);
    else if (attempt > 1 || !/already exists/.test(r.stderr)) expectOk("git", args, r, `git worktree add ${dir}`);
    args = (await branchExists(root, branch)) ? ["worktree", "add", dir, branch] : ["worktree", "add", "-b", branch, dir, start];
  }
}

/**
 * Waits (up to `timeoutMs`) until no `git worktree add` is still making `worktree`: git marks a
 * worktree it is adding as locked ("initializing") until its files are checked out.
 */
export async function worktreeAddOver(worktree: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let link: string | undefined;
    try {
      link = /^gitdir: (.+)$/m.exec(readFileSync(join(worktree, ".git"), "utf8"))?.[1];
    } catch (error) {
      // No .git file yet (still being made), or a directory (not an added worktree at all).
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") return;
    }
    if (link !== undefined && !existsSync(join(link.trim(), "locked"))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The commit a worktree has checked out; "" when it has none. */
export async function worktreeHead(worktree: string): Promise<string> {
  return (await run(worktree, ["rev-parse", "HEAD"])).stdout.trim();
}

/** The subjects of the commits on `to`'s first-parent line that `from` lacks. */
export async function firstParentSubjects(dir: string, from: string, to: string): Promise<string[]> {
  return (await run(dir, ["log", "--first-parent", "--format=%s", `${from}..${to}`])).stdout.split("\n").filter(Boolean);
}

/** A checkout has uncommitted changes to tracked files. */
export async function hasTrackedChanges(dir: string): Promise<boolean> {
  const r = await run(dir, ["status", "--porcelain", "--untracked-files=no"]);
  // A status git could not give (a worktree autorun runs no git in) is not a clean one.
  return !r.ok || r.stdout.trim() !== "";
}

/** Moves a checkout (its branch, index and files) to `commit`. */
export async function resetWorktree(dir: string, commit: string): Promise<void> {
  await ok(dir, ["reset", "--hard", "--quiet", commit], `git reset in ${dir}`);
}

export async function removeWorktree(root: string, worktree: string): Promise<boolean> {
  return (await removeWorktreeSaying(root, worktree)) === undefined;
}

/** Removes a worktree; undefined when it went, else the last line git said about why not. */
export async function removeWorktreeSaying(root: string, worktree: string): Promise<string | undefined> {
  const r = await run(root, ["worktree", "remove", "--force", worktree]);
  return r.ok ? undefined : lastLine(r.stderr) || `git exited with ${String(r.code)}`;
}

export async function pruneWorktrees(root: string): Promise<void> {
  await run(root, ["worktree", "prune"]);
}

/**
 * Deletes a stage branch only when every commit on it is in `base` (compare-and-swap on its tip)
 * and no worktree has it checked out, whatever branch the person has checked out.
 */
export async function deleteMergedBranch(root: string, branch: string, base: string): Promise<boolean> {
  const tip = await run(root, ["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`]);
  if (!tip.ok) return true;
  // update-ref would delete a branch a worktree still has out, leaving that worktree on no commit.
  if ((await listWorktrees(root)).some((w) => w.branch === branch)) return false;
  if (!(await isAncestor(root, tip.stdout.trim(), `refs/heads/${base}`))) return false;
  return (await run(root, ["update-ref", "-d", `refs/heads/${branch}`, tip.stdout.trim()])).ok;
}

/** Renames a branch that no worktree has checked out. */
export async function renameBranch(root: string, from: string, to: string): Promise<void> {
  await ok(root, ["branch", "-m", "--", from, to], `git branch -m ${from}`);
}

/** Untracked files (not ignored) in a checkout, read without locks. */
export async function untrackedFiles(dir: string): Promise<string[]> {
  const r = expectOk("git", ["ls-files", "--others"], await run(dir, ["--no-optional-locks", "ls-files", "--others", "--exclude-standard", "-z"]), "git ls-files");
  return r.stdout.split("\0").filter(Boolean);
}

export async function listBranches(root: string, pattern: string): Promise<string[]> {
  const out = await ok(root, ["for-each-ref", "--format=%(refname:short)", `refs/heads/${pattern}`], "git for-each-ref");
  return out === "" ? [] : out.split("\n");
}

/** A registered worktree: its branch (none when detached) and, when it is locked, the lock's reason ("" for none given). */
export interface WorktreeEntry {
  path: string;
  branch?: string;
  locked?: string;
}

export async function listWorktrees(root: string): Promise<WorktreeEntry[]> {
  const out = await ok(root, ["worktree", "list", "--porcelain"], "git worktree list");
  const result: WorktreeEntry[] = [];
  for (const block of out.split("\n\n")) {
    const path = /^worktree (.*)$/m.exec(block)?.[1];
    const branch = /^branch refs\/heads\/(.*)$/m.exec(block)?.[1];
    const locked = /^locked(?: (.*))?$/m.exec(block);
    if (path) result.push({ path, ...(branch ? { branch } : {}), ...(locked ? { locked: locked[1] ?? "" } : {}) });
  }
  return result;
}

/**
 * Adds `pattern` to the repository's own `info/exclude` (never the person's .gitignore), so a
 * `git add .` during a run does not pick up what autorun keeps in the checkout.
 */
export async function ensureExcluded(root: string, pattern: string): Promise<void> {
  addExclude(await excludeFile(root), pattern);
}

/** The repository's `info/exclude` (in the common git directory, whichever worktree `root` is). */
export async function excludeFile(root: string): Promise<string> {
  return ok(root, ["rev-parse", "--path-format=absolute", "--git-path", "info/exclude"], "git rev-parse --git-path");
}

/** Adds `pattern` to an `info/exclude` file unless a line of it says so already. */
export function addExclude(file: string, pattern: string): void {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  if (text.split("\n").some((l) => l.trim() === pattern)) return;
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${text === "" || text.endsWith("\n") ? "" : "\n"}# added by autorun: its stage worktrees\n${pattern}\n`);
}

/** A git config value as git resolves it in `dir` (repository, then global), or undefined. */
/** Whether git can name a committer here (`git var GIT_COMMITTER_IDENT`): merge commits need one. */
export async function committerIdent(dir: string): Promise<boolean> {
  return (await committerIdentity(dir)) !== undefined;
}

/** Who a commit made in `dir` would be by, as git works it out (its configuration, then GIT_COMMITTER_* and EMAIL): `Name <email>`. */
export async function committerIdentity(dir: string): Promise<string | undefined> {
  const r = await run(dir, ["var", "GIT_COMMITTER_IDENT"]).catch(() => undefined);
  return r?.ok ? r.stdout.trim().replace(/ \d+ [+-]\d{4}$/, "") : undefined;
}

export async function gitVersion(): Promise<string | undefined> {
  const r = await runProgram("git", ["--version"]).catch(() => undefined);
  return r?.ok ? r.stdout.trim() : undefined;
}

/**
 * A new repository with `files` in its first commit, and `identity` as its own git identity (a
 * throw-away repository's commits, the merges included, need none from the person's configuration).
 * Used by `autorun demo`.
 */
export async function initRepo(dir: string, files: Record<string, string>, identity: { name: string; email: string }, branch = "main"): Promise<void> {
  await ok(dir, ["init", "-q", "-b", branch], "git init");
  await ok(dir, ["config", "user.name", identity.name], "git config");
  await ok(dir, ["config", "user.email", identity.email], "git config");
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  await ok(dir, ["add", "--", ...Object.keys(files)], "git add");
  await ok(dir, ["commit", "-q", "-m", "initial commit"], "git commit");
}

export async function logGraph(root: string, limit = 30): Promise<string> {
  return ok(root, ["log", "--graph", "--oneline", "--decorate=short", `-${limit}`], "git log");
}
