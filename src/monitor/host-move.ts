/**
 * What a stage takes along when it leaves a host, from what `HostKeep` fetched: moving off a lost
 * host (its branch at the kept tip; here, its uncommitted files and its conversation too), and
 * after its merge on a host, its notes (what its worktree held beyond its commits, ignored files
 * but dependencies and build output included) copied under the orchestration the way cleanup here
 * keeps them, before its worktree there goes.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { lastLine, runProgram } from "../adapters/exec.js";
import { appendFor } from "../state/orchestration.js";
import { makeDir, type OrchPaths } from "../state/paths.js";
import type { Status } from "../types/schemas.js";
import { hostWorktree } from "../host/protocol.js";
import type { HostKeep, Kept } from "./host-keep.js";
import { keptFilesDir } from "./keep-files.js";

interface Keeping {
  keep: HostKeep;
  log: (msg: string) => void;
}

/** More files than this beyond its commits: the worktree on the host stays (as cleanup here does). */
const MAX_NOTES = 2_500;

/**
 * Stage `id` leaves lost host `from`: its branch here set to the tip kept from there. What was
 * kept (undefined: nothing was fetched from there, and it starts from its last fetched tip, as the
 * log says).
 */
export async function carryOver(keep: HostKeep, log: (msg: string) => void, from: string, id: string): Promise<Kept | undefined> {
  const kept = await keep.adoptTip(from, id).catch((error: Error) => {
    log(`stage ${id}: could not take up what was kept from host ${from}: ${error.message}`);
    return undefined;
  });
  if (!kept) log(`stage ${id}: nothing of its work was fetched from host ${from} before it was lost; it starts again from its last fetched tip`);
  return kept;
}

/**
 * Stage `id` moved here from lost host `from`, its worktree just made on its branch at the kept
 * tip: its uncommitted files and conversation put back. True: resume its conversation.
 */
export async function movedHere({ keep, log }: Keeping, moved: { from: string; kept: Kept }, id: string, here: { worktree: string; env: NodeJS.ProcessEnv }): Promise<boolean> {
  const { resume, said } = await keep.restoreHere(moved.kept, id, here.worktree, here.env);
  log(`stage ${id}: moved here from lost host ${moved.from} with ${said}`);
  return resume;
}

/**
 * After the merge of stage `id` on `host`: a last snapshot there with its ignored files, and the
 * files it holds beyond the stage's commits written under the orchestration (`stage_files_kept`).
 * False when they could not be brought back: the worktree there must stay.
 */
export async function bringNotesHome({ keep, log, paths, status }: Keeping & { paths: OrchPaths; status: Status }, host: string, id: string, hostRoot: string): Promise<boolean> {
  const dir = keptFilesDir(paths, id);
  const notes = await notesFromHost(keep, status, { host, id, hostRoot, dir });
  if ("why" in notes) {
    log(`stage ${id}: kept its worktree on host ${host}: ${notes.why}`);
    return false;
  }
  if (notes.files === 0) return true;
  appendFor(paths, status, { stage: id, type: "stage_files_kept", dir, files: notes.files, ...(notes.plan ? { plan_file: notes.plan } : {}) });
  log(`stage ${id}: brought back from host ${host} its ${notes.files} uncommitted or ignored file(s) (notes, plan) into ${dir}`);
  return true;
}

/**
 * What stage `id`'s worktree on `host` holds beyond its commits (a snapshot made there now, ignored
 * files but dependencies and build output included), written into `dir` here; the stage's plan
 * among them is named. `why`: they could not be brought back, and the worktree there must stay.
 */
export async function notesFromHost(keep: HostKeep, status: Status, at: { host: string; id: string; hostRoot: string; dir: string }): Promise<{ files: number; plan?: string } | { why: string }> {
  const { host, id, hostRoot, dir } = at;
  const stage = status.stages[id]!;
  let kept: Kept | undefined;
  try {
    kept = await keep.bringNotes(host, id);
  } catch (error) {
    return { why: `its notes could not be brought back (${(error as Error).message})` };
  }
  if (!kept) return { why: "its notes could not be brought back (no snapshot was made there)" };
  const root = status.project_root;
  const diff = await runProgram("git", ["-C", root, "diff-tree", "-r", "-z", "--no-renames", "--name-only", "--diff-filter=AMT", kept.tip, kept.snapshot], { timeoutMs: 60_000 });
  const files = diff.stdout.split("\0").filter(Boolean);
  if (!diff.ok || files.length > MAX_NOTES) return { why: diff.ok ? `it holds ${files.length} uncommitted files, too many to bring back` : "its notes could not be listed" };
  if (files.length === 0) return { files: 0 };
  // git writes them (its own checks on every path: no `..`, no `.git`, nothing through a link),
  // with an index of its own: the project's index and checkout are not touched.
  makeDir(dir);
  const tmp = mkdtempSync(join(tmpdir(), "autorun-notes-"));
  try {
    const r = await runProgram("git", ["-C", root, `--work-tree=${dir}`, "checkout", kept.snapshot, "--pathspec-from-file=-", "--pathspec-file-nul"], {
      timeoutMs: 60_000,
      input: files.join("\0"),
      env: { GIT_INDEX_FILE: join(tmp, "index"), GIT_LITERAL_PATHSPECS: "1", LC_ALL: "C" },
    });
    if (!r.ok) return { why: `its notes could not be written to ${dir}: ${lastLine(r.stderr) ?? `exit ${r.code}`}` };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const rel = stage.plan_file ? relative(hostWorktree(hostRoot, stage.worktree.split("/").pop()!), stage.plan_file) : undefined;
  const plan = rel && !rel.startsWith("..") && files.includes(rel) && existsSync(join(dir, rel)) ? join(dir, rel) : undefined;
  return { files: files.length, ...(plan ? { plan } : {}) };
}
