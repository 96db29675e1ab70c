/**
 * Where a git call runs, and with which repository records. A stage's worktree
 * (`<root>/.claude/worktrees/<name>`) is its agent's to write, `.git` file and submodules
 * included, so git there is told the repository's own worktree record (`--git-dir`, never the
 * `.git` file's word) and never runs what an agent could have configured: no fsmonitor, no hooks,
 * no walk into submodules (whose own configuration the agent wrote). A `.git` file that points
 * anywhere but the repository's worktree records refuses the call: nothing runs there. So does a
 * worktree record whose own configuration (`config.worktree`, read by git in a repository with
 * `extensions.worktreeConfig`) sets anything but sparse checkout: a filter or a diff driver named
 * there would run in autorun's git.
 */
import { lstatSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { execFileSync } from "node:child_process";

/** Set for every git call in a stage's worktree (and passed on to the git processes it starts). */
const CONTAINED = ["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "submodule.recurse=false", "-c", "diff.ignoreSubmodules=dirty", "-c", "status.submoduleSummary=false"];

/** The root of the project a stage worktree path belongs to, or undefined for any other path. */
export function stageWorktreeRoot(dir: string): string | undefined {
  const parent = dirname(resolve(dir));
  if (basename(parent) !== "worktrees" || basename(dirname(parent)) !== ".claude") return undefined;
  return dirname(dirname(parent));
}

const commonDirs = new Map<string, string>();

/** The repository's common git directory of `root` (its `.git` directory, else what git says). */
function commonDirOf(root: string): string {
  let dir = commonDirs.get(root);
  if (dir) return dir;
  const dotGit = join(root, ".git");
  dir = statSync(dotGit, { throwIfNoEntry: false })?.isDirectory()
    ? dotGit
    : execFileSync("git", ["-C", root, "rev-parse", "--path-format=absolute", "--git-common-dir"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  dir = realpathSync(dir);
  commonDirs.set(root, dir);
  return dir;
}

export type GitPlace = { argv: string[] } | { refused: string };

/**
 * The arguments that put a git call in `cwd`: `-C cwd`, and in a stage's worktree the repository's
 * own record of it as the git directory, with the containment settings above.
 */
export function gitPlace(cwd: string): GitPlace {
  const root = stageWorktreeRoot(cwd);
  const dotGit = join(cwd, ".git");
  const st = root === undefined ? undefined : lstatSync(dotGit, { throwIfNoEntry: false });
  // Not a stage's worktree, or one not made yet (git says so itself).
  if (root === undefined || st === undefined) return { argv: ["-C", cwd] };
  const refuse = (why: string): GitPlace => ({ refused: `${dotGit} ${why}; autorun runs no git there (remove the worktree, or put its .git file back: git -C ${root} worktree repair)` });
  if (!st.isFile()) return refuse("is not the file git made for a worktree");
  const said = /^gitdir: (.+)$/m.exec(readFileSync(dotGit, "utf8").slice(0, 4096))?.[1]?.trim();
  if (!said) return refuse("names no git directory");
  let admin: string;
  let records: string;
  try {
    admin = realpathSync(isAbsolute(said) ? said : resolve(cwd, said));
    records = join(commonDirOf(root), "worktrees");
  } catch {
    return refuse(`points at ${said}, which is not there`);
  }
  if (dirname(admin) !== records || !statSync(admin).isDirectory()) return refuse(`points at ${said}, not at a worktree record of ${root}`);
  const set = worktreeSettings(join(admin, "config.worktree"));
  if (set.length > 0) {
    return { refused: `${join(admin, "config.worktree")} sets ${set.join(", ")}, which autorun's git would obey there; autorun runs no git in ${cwd} (remove it: git -C ${cwd} config --worktree --unset <name>, or remove the worktree)` };
  }
  return { argv: ["-C", cwd, `--git-dir=${admin}`, `--work-tree=${cwd}`, ...CONTAINED] };
}

/** What a worktree's own configuration may set: the sparse checkout that `git sparse-checkout` writes there. */
const WORKTREE_SETTINGS = new Set(["core.sparsecheckout", "core.sparsecheckoutcone", "index.sparse"]);

/**
 * The settings of a worktree's `config.worktree` beyond sparse checkout (none when it is missing or
 * empty). Read by git itself, outside any repository and without following includes, so reading it
 * runs nothing; a file git cannot read counts as setting something.
 */
function worktreeSettings(file: string): string[] {
  if (!(statSync(file, { throwIfNoEntry: false })?.size ?? 0)) return [];
  try {
    const names = execFileSync("git", ["config", "--file", file, "--no-includes", "--null", "--name-only", "--list"], { cwd: "/", encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return [...new Set(names.split("\0").filter((n) => n !== "" && !WORKTREE_SETTINGS.has(n.toLowerCase())))];
  } catch {
    return ["something git cannot read"];
  }
}
