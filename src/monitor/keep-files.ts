/**
 * What a stage's worktree holds that no commit does — the agent's plan, its notes, a person's
 * ignored `notes.log` — copied under the orchestration before the worktree is removed, so removing
 * it loses nothing a person would miss. Dependency and build directories are left out, and ignored
 * files are kept up to a size cap; what is left out is named, for the report.
 */
import { copyFileSync, existsSync, lstatSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import * as git from "../adapters/git.js";
import { filesUnder, ignoredEntries } from "../adapters/git-safety.js";
import { makeDir, type OrchPaths } from "../state/paths.js";

/** Untracked (not ignored) files beyond these keep the worktree itself: too much to copy aside. */
const KEEP_MAX_FILES = 500;
const KEEP_MAX_BYTES = 50 * 1024 * 1024;
/** Ignored files are kept up to this much in all (smallest first); the rest are named as dropped. */
export const KEEP_IGNORED_MAX_BYTES = 10 * 1024 * 1024;
/** At most this many ignored files are looked at. */
const KEEP_IGNORED_MAX_FILES = 2_000;

/** Directories of dependencies, build output and caches: made again by a build, never kept. */
const REBUILT = new Set([
  "node_modules", ".git", "dist", "target", ".venv", "venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
  ".tox", ".gradle", ".next", ".nuxt", ".turbo", ".parcel-cache", ".cache", ".terraform", "coverage", ".nyc_output",
]);

export interface KeptFiles {
  /** False when the untracked files are too many to copy: the worktree must stay. */
  ok: boolean;
  dir: string;
  /** Where the stage's plan was copied, when it was in the worktree. */
  plan?: string;
  count: number;
  /** What was left behind, each with why: `node_modules/ (dependencies or build output)`. */
  dropped: string[];
}

/** Where a stage's notes and plan are kept once its worktree is gone. */
export function keptFilesDir(paths: OrchPaths, id: string): string {
  return join(paths.stagesDir, `stage-${id}-files`);
}

/** Where a retry from the base tip keeps the notes and plan of the stage's attempt before it. */
export function attemptFilesDir(paths: Pick<OrchPaths, "stagesDir">, id: string, attempt: number): string {
  return join(paths.stagesDir, `stage-${id}-attempt-${attempt}-files`);
}

function sizeOf(path: string): number {
  const stat = lstatSync(path, { throwIfNoEntry: false });
  return stat?.isFile() ? stat.size : 0;
}

/** Copies what `worktree` holds beyond its commits into `dir`. Nothing is copied when `ok` is false. */
export async function keepWorktreeFiles(dir: string, worktree: string, planFile: string | null): Promise<KeptFiles> {
  const files = await git.untrackedFiles(worktree);
  if (planFile && existsSync(planFile) && lstatSync(planFile).isFile()) {
    const rel = relative(worktree, planFile);
    if (!rel.startsWith("..") && !files.includes(rel)) files.push(rel);
  }
  const bytes = files.reduce((sum, f) => sum + sizeOf(join(worktree, f)), 0);
  if (files.length > KEEP_MAX_FILES || bytes > KEEP_MAX_BYTES) return { ok: false, dir, count: files.length, dropped: [] };

  const dropped: string[] = [];
  const ignored: { file: string; size: number }[] = [];
  for (const entry of await ignoredEntries(worktree)) {
    const found = filesUnder(worktree, entry, (name) => REBUILT.has(name), KEEP_IGNORED_MAX_FILES - ignored.length);
    dropped.push(...found.skipped.map((d) => `${d} (dependencies or build output)`));
    for (const file of found.files) if (!files.includes(file)) ignored.push({ file, size: sizeOf(join(worktree, file)) });
    if (ignored.length >= KEEP_IGNORED_MAX_FILES) {
      dropped.push(`ignored files after the first ${KEEP_IGNORED_MAX_FILES} (too many)`);
      break;
    }
  }
  // Smallest first: many notes rather than one big artifact.
  let room = KEEP_IGNORED_MAX_BYTES;
  for (const { file, size } of ignored.sort((a, b) => a.size - b.size || a.file.localeCompare(b.file))) {
    if (size <= room) {
      files.push(file);
      room -= size;
    } else dropped.push(`${file} (${(size / 1024 / 1024).toFixed(1)} MB: over the ${KEEP_IGNORED_MAX_BYTES / 1024 / 1024} MB kept of ignored files)`);
  }

  let plan: string | undefined;
  let count = 0;
  for (const f of files) {
    const from = join(worktree, f);
    if (!lstatSync(from, { throwIfNoEntry: false })?.isFile()) continue;
    const to = join(dir, f);
    makeDir(dirname(to));
    copyFileSync(from, to);
    count++;
    if (planFile && from === planFile) plan = to;
  }
  return { ok: true, dir, count, dropped, ...(plan ? { plan } : {}) };
}
