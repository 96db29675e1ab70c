/**
 * A stage's scope read from the repository it works in: the worktree's admin directory (as git
 * named it), and, with Claude Code's Bash sandbox on, what else in the git directory the sandbox
 * closes. Read on the machine where the stage runs: this one, or a host (`autorun host launch`).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { StageScope } from "./agent.js";

export interface ScopeAt {
  /** The repository's git directory (`<root>/.git`). */
  commonDir: string;
  worktree: string;
  baseBranch: string;
  /** Claude Code's Bash sandbox, on: its network domains. */
  sandbox?: { domains: readonly string[] };
  /** The session starts now: the files the sandbox closes are made ready (a dry run writes nothing). */
  launch?: boolean;
}

export function scopeAt(at: ScopeAt): StageScope {
  const { commonDir, worktree, baseBranch } = at;
  const adminName = adminNameOf(commonDir, worktree);
  if (!at.sandbox) return { worktree, commonDir, adminName, baseBranch };
  const guarded = [...gitGuarded(commonDir), worktreeConfig(commonDir, adminName, at.launch === true)];
  return { worktree, commonDir, adminName, baseBranch, gitGuarded: guarded, sandbox: { domains: at.sandbox.domains } };
}

/** The name git gave the worktree's admin directory (found from git's side, never from the worktree's `.git` file, which the agent can write). */
function adminNameOf(commonDir: string, worktree: string): string {
  try {
    for (const name of readdirSync(join(commonDir, "worktrees"))) {
      if (readFileSync(join(commonDir, "worktrees", name, "gitdir"), "utf8").trim() === join(worktree, ".git")) return name;
    }
  } catch {
    // Not made yet (a dry run): git's default name.
  }
  return basename(worktree);
}

/** The paths of `StageScope.gitGuarded` that exist in `commonDir` now (none of them ever goes away). */
function gitGuarded(commonDir: string): string[] {
  return ["HEAD", "index", "packed-refs", "info", join("objects", "info"), "modules"].map((p) => join(commonDir, p)).filter((p) => existsSync(p));
}

/**
 * The worktree record's own configuration (`config.worktree`), closed by the sandbox: in a
 * repository with `extensions.worktreeConfig`, git in the worktree obeys it, and that includes the
 * git Claude Code runs outside the sandbox. At a launch it is made empty if missing, so that there
 * is a file to close (its worktree exists by then).
 */
function worktreeConfig(commonDir: string, adminName: string, make: boolean): string {
  const file = join(commonDir, "worktrees", adminName, "config.worktree");
  if (make && existsSync(dirname(file))) {
    try {
      writeFileSync(file, "", { flag: "wx" });
    } catch {
      // already there (or the record cannot be written: the sandbox closes the path all the same)
    }
  }
  return file;
}

/**
 * `argv` with `sandbox` (Claude Code's sandbox settings) in its `--settings`: how a host puts the
 * sandbox of its own paths into the settings the controller wrote. Unchanged without `--settings`.
 */
export function withSandbox(argv: readonly string[], sandbox: Record<string, unknown>): string[] {
  const at = argv.indexOf("--settings");
  if (at < 0 || at + 1 >= argv.length) return [...argv];
  const settings = JSON.parse(argv[at + 1]!) as Record<string, unknown>;
  return [...argv.slice(0, at + 1), JSON.stringify({ ...settings, sandbox }), ...argv.slice(at + 2)];
}
