/**
 * git, for what keeps a person's and an agent's work safe: what is in progress on any checkout of
 * the base branch, worktree locks, the refs that keep every stage's tip, and the ignored files a
 * worktree holds. Argument arrays only, like `git.ts`.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { refFromFiles, run } from "./git.js";

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** The repository's common git directory (shared by every worktree), absolute. */
export async function commonDir(root: string): Promise<string | undefined> {
  const known = commonDirs.get(root);
  if (known !== undefined) return known;
  const r = await run(root, ["rev-parse", "--path-format=absolute", "--git-common-dir"]);
  if (!r.ok) return undefined;
  commonDirs.set(root, r.stdout.trim());
  return r.stdout.trim();
}

/**
 * A repository's common directory, once found: it does not change while the repository is there,
 * and every merge asks for it twice (before the merge is computed and again just before the base
 * moves), each a git process on the path from a hand-over to its merge.
 */
const commonDirs = new Map<string, string>();

/**
 * Where `branch` is checked out, read from the repository's files (the HEAD of the main worktree
 * and of each linked one, no git process: a merge asks this twice on its way): its path, null
 * when nowhere, undefined when the files cannot tell (a bare or separate git directory, reftable,
 * a linked worktree whose directory is gone): then ask git.
 */
export async function checkoutFromFiles(root: string, branch: string): Promise<string | null | undefined> {
  const common = await commonDir(root);
  if (!common || basename(common) !== ".git" || existsSync(join(common, "reftable"))) return undefined;
  const head = `ref: refs/heads/${branch}`;
  const found: string[] = [];
  if (readText(join(common, "HEAD")) === head) found.push(dirname(common));
  const linked = join(common, "worktrees");
  for (const name of existsSync(linked) ? readdirSync(linked) : []) {
    if (readText(join(linked, name, "HEAD")) !== head) continue;
    const gitdir = readText(join(linked, name, "gitdir"));
    if (!gitdir || !existsSync(gitdir)) return undefined;
    found.push(dirname(gitdir));
  }
  return found[0] ?? null;
}

/**
 * What a person is in the middle of on any checkout of `base` (the main one or a linked worktree):
 * a merge, cherry-pick, revert, `git am` or bisect with `base` out, or a rebase of `base` — which
 * detaches HEAD, so only `rebase-merge/head-name` (`rebase-apply/head-name`) says it is `base` that
 * is being rewritten. Read from the files git keeps in each worktree's git directory: no git call
 * per worktree, and no lock taken.
 */
export async function operationOnBase(root: string, base: string): Promise<{ what: string; where: string } | undefined> {
  const common = await commonDir(root);
  if (!common) return undefined;
  const gitDirs = [common];
  const linked = join(common, "worktrees");
  if (existsSync(linked)) for (const name of readdirSync(linked)) gitDirs.push(join(linked, name));
  const ref = `refs/heads/${base}`;
  for (const dir of gitDirs) {
    const what = operationIn(dir, ref, base);
    if (what === undefined) continue;
    // A linked worktree's `gitdir` names its `.git` file; the main one is the common dir's parent.
    const gitdirFile = dir === common ? undefined : readText(join(dir, "gitdir"));
    return { what, where: gitdirFile ? dirname(gitdirFile) : dirname(common) };
  }
  // The base's ref locked: a git command moving it now, or a lock file one left behind (or made).
  // No update of the base can succeed until it goes, so a merge waits instead of trying again.
  const lock = join(common, ...ref.split("/")) + ".lock";
  if (existsSync(lock)) return { what: `git's lock on ${base} (${lock}; if no git command is running, remove it)`, where: dirname(common) };
  return undefined;
}

function operationIn(dir: string, ref: string, base: string): string | undefined {
  for (const rebase of ["rebase-merge", "rebase-apply"]) {
    if (readText(join(dir, rebase, "head-name")) === ref) return `a rebase of ${base}`;
  }
  if (readText(join(dir, "BISECT_START")) === base) return `a bisect started on ${base}`;
  if (readText(join(dir, "HEAD")) !== `ref: ${ref}`) return undefined;
  const markers: [string, string][] = [
    ["MERGE_HEAD", "a merge"],
    ["CHERRY_PICK_HEAD", "a cherry-pick"],
    ["REVERT_HEAD", "a revert"],
    ["sequencer", "a cherry-pick or revert"],
    ["rebase-merge", "a rebase"],
    ["rebase-apply", "a rebase or git am"],
    ["BISECT_LOG", "a bisect"],
  ];
  return markers.find(([file]) => existsSync(join(dir, file)))?.[1];
}

export async function unlockWorktree(root: string, worktree: string): Promise<boolean> {
  return (await run(root, ["worktree", "unlock", worktree])).ok;
}

/**
 * Records the tip of `branch` in `ref` (autorun's own namespace, which no branch listing shows and
 * `git gc` keeps): false when the branch does not exist (the ref keeps what it had). A tip recorded
 * already (the branch has not moved since: most turns of a stage) is read from the repository's
 * files and costs no git process.
 */
export async function saveStageTip(root: string, ref: `refs/${string}`, branch: string): Promise<boolean> {
  const tip = refFromFiles(root, `refs/heads/${branch}`);
  if (tip !== undefined && refFromFiles(root, ref) === tip) return true;
  return (await run(root, ["update-ref", "-m", `autorun: tip of ${branch}`, ref, `refs/heads/${branch}`])).ok;
}

/** The commit `ref` holds, if it exists. */
export async function stageTip(root: string, ref: string): Promise<string | undefined> {
  const r = await run(root, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
  return r.ok ? r.stdout.trim() : undefined;
}

/**
 * Puts `branch` back at the commit `ref` kept, only when the branch does not exist (git checks that
 * atomically: an empty old value). The commit it gets, or undefined when there was nothing to do.
 */
export async function restoreBranch(root: string, branch: string, ref: string): Promise<string | undefined> {
  const tip = await stageTip(root, ref);
  if (tip === undefined) return undefined;
  const r = await run(root, ["update-ref", "-m", `autorun: restore ${branch} from ${ref}`, `refs/heads/${branch}`, tip, ""]);
  return r.ok ? tip : undefined;
}

export async function dropStageTip(root: string, ref: string): Promise<void> {
  await run(root, ["update-ref", "-d", ref]);
}

/**
 * Ignored files in a checkout (untracked ones git would never show), read without locks: git names
 * an ignored directory once (`--directory`), and its files are found here, directories named in
 * `skip` left out.
 */
export async function ignoredEntries(dir: string): Promise<string[]> {
  const r = await run(dir, ["--no-optional-locks", "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z"]);
  return r.ok ? r.stdout.split("\0").filter(Boolean) : [];
}

/** The files under `rel` in `dir` (a file, or a directory walked without following links), at most `max`. */
export function filesUnder(dir: string, rel: string, skip: (name: string) => boolean, max: number): { files: string[]; skipped: string[] } {
  const files: string[] = [];
  const skipped: string[] = [];
  const walk = (path: string): void => {
    if (files.length >= max) return;
    const stat = lstatSync(join(dir, path), { throwIfNoEntry: false });
    if (!stat) return;
    if (stat.isFile()) files.push(path);
    if (!stat.isDirectory()) return;
    for (const name of readdirSync(join(dir, path)).sort()) {
      const child = path === "" ? name : `${path}/${name}`;
      if (skip(name) && lstatSync(join(dir, child), { throwIfNoEntry: false })?.isDirectory()) skipped.push(`${child}/`);
      else walk(child);
    }
  };
  const top = rel.replace(/\/$/, "");
  const parts = top.split("/");
  if ((rel.endsWith("/") ? parts : parts.slice(0, -1)).some(skip)) skipped.push(rel);
  else walk(top);
  return { files, skipped };
}
