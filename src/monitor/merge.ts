/**
 * Merging a finished stage: a queue that keeps the base branch green and never gets in the way of
 * the person's checkout (docs/ARCHITECTURE.md, "Merge").
 *
 * One merge per project at a time (a lock). The merge is computed without a working tree
 * (`git merge-tree --write-tree`), committed with `git commit-tree`, validated in a private detached
 * worktree under $AUTORUN_HOME, and the base branch advanced by compare-and-swap `git update-ref`
 * (redone when the base moved meanwhile). A checkout that has the base branch out is then brought
 * forward like `git merge --ff-only`; only an uncommitted edit in the merge's way makes it wait.
 * autorun never runs `git merge` in a person's checkout, so it never leaves or aborts a MERGE_HEAD.
 */
import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import * as git from "../adapters/git.js";
import { operationOnBase } from "../adapters/git-safety.js";
import { runValidate, validateEnvironment } from "../adapters/process.js";
import type { Tmux } from "../adapters/tmux.js";
import { readAllEvents, readFirstEvent } from "../state/events.js";
import { appendFor } from "../state/orchestration.js";
import { withLock } from "../state/lock.js";
import { locksDir, makeDir, type OrchPaths } from "../state/paths.js";
import { loadStatus } from "../state/status.js";
import type { Config } from "../state/config.js";
import type { EventOf, Status } from "../state/schemas.js";
import { cleanup } from "./cleanup.js";
import type { Worktrees } from "./worktrees.js";
import { keepOrRestoreBranch } from "./tips.js";
import { mergeSubject } from "../core/naming.js";
import { guardedChanges, learnableRules } from "../core/permissions.js";
import { localAllowRules, WORKFLOW_ALLOW } from "../adapters/agent.js";

export interface MergeDeps {
  tmux: Tmux;
  paths: OrchPaths;
  config: Config;
  log: (msg: string) => void;
  /** Given by the monitor, which then launches the dependants: their worktrees are made while the merge is checked. */
  worktrees?: Worktrees;
  /** A person's `autorun merge`: a stage that changes guarded files (see guardedChanges) merges too. */
  byPerson?: boolean;
}


type Reason = EventOf<"merge_conflict">["reason"];

export type MergeOutcome =
  /** `cleanup` ends the session and removes the worktree and branch; callers may launch first. */
  | { kind: "merged"; commit: string; cleanup: () => Promise<void> }
  | { kind: "sent_back"; reason: Reason; detail: string }
  /** The person's checkout is in the way (`files`); retried once they are committed or stashed. */
  | { kind: "refused"; reason: Reason; detail: string; files: string[] }
  /** The same unchanged branch was sent back too often: a person has to look. */
  | { kind: "stuck"; reason: Reason; detail: string }
  | { kind: "skipped"; detail: string };

/** Send-backs of the same unchanged stage branch before autorun stops repeating itself. */
export const MAX_SEND_BACKS = 3;

function projectKey(projectRoot: string): string {
  return createHash("sha1").update(projectRoot).digest("hex").slice(0, 16);
}

function mergeLockPath(home: string, projectRoot: string): string {
  return join(locksDir(home), `merge-${projectKey(projectRoot)}.lock`);
}

/** The private worktree where `validate` runs on merge results, one per project. */
function validationWorktree(home: string, projectRoot: string): string {
  return join(home, "worktrees", projectKey(projectRoot), "validate");
}

/** The private worktree where merges are computed when git is older than 2.38. */
function integrationWorktree(home: string, projectRoot: string): string {
  return join(home, "worktrees", projectKey(projectRoot), "integrate");
}

async function computeMerge(home: string, root: string, ours: string, theirs: string): Promise<git.TreeMerge> {
  if (await git.supportsMergeTreeWriteTree()) return git.mergeTree(root, ours, theirs);
  const dir = integrationWorktree(home, root);
  makeDir(dirname(dir));
  return git.mergeTreeInWorktree(root, dir, ours, theirs);
}

export async function mergeStage(deps: MergeDeps, id: string): Promise<MergeOutcome> {
  const { paths } = deps;
  const started = readFirstEvent(paths.events);
  if (started?.type !== "orchestration_started") return { kind: "skipped", detail: "no orchestration" };
  return withLock(mergeLockPath(paths.home, started.project_root), () => mergeLocked(deps, id), 30 * 60_000);
}

/** How many times in a row this exact stage commit has been sent back already. */
function sendBacksOf(paths: OrchPaths, id: string, stageTip: string): number {
  const status = loadStatus(paths);
  return status?.stages[id]?.send_backs.filter((c) => c === stageTip).length ?? 0;
}

async function mergeLocked(deps: MergeDeps, id: string): Promise<MergeOutcome> {
  const { paths, log } = deps;
  const status = loadStatus(paths)!;
  const stage = status.stages[id];
  if (!stage) return { kind: "skipped", detail: `no stage ${id}` };
  if (stage.status === "completed") return { kind: "skipped", detail: "already merged" };
  const root = status.project_root;
  const base = status.base_branch;
  const baseRef = `refs/heads/${base}`;
  const conflict = (reason: Reason, files: string[], detail: string, commit?: string) =>
    appendFor(paths, status, { stage: id, type: "merge_conflict", reason, files, detail, ...(commit ? { commit } : {}) });
  const merged = (commit: string, validated: boolean): MergeOutcome => {
    // Before the merge is recorded, so the dependants it launches get them.
    learnPermissions(deps, status, id, stage.worktree);
    appendFor(paths, status, { stage: id, type: "merge_complete", branch: stage.branch, commit, validated });
    log(`stage ${id}: merged ${stage.branch} into ${base} as ${commit.slice(0, 10)}${validated ? " (the merged result passed validate)" : ""}`);
    return { kind: "merged", commit, cleanup: () => cleanup(deps, id, stage, root, base) };
  };
  const sendBack = async (reason: Reason, files: string[], detail: string, tip: string, message: string): Promise<MergeOutcome> => {
    if (sendBacksOf(paths, id, tip) >= MAX_SEND_BACKS) {
      conflict(reason, files, detail, tip);
      log(`stage ${id}: not merged (${detail.split("\n")[0]}); sent back ${MAX_SEND_BACKS} times with no new commit, so autorun stops repeating it and asks a person`);
      return { kind: "stuck", reason, detail };
    }
    conflict(reason, files, detail, tip);
    log(`stage ${id}: not merged: ${detail.split("\n")[0]}${files.length ? ` (${files.slice(0, 5).join(", ")})` : ""}; the agent is told what to do at its next idle moment`);
    // Queued, not typed: the monitor delivers it at the agent's next idle moment, however busy it is now.
    appendFor(paths, status, { stage: id, type: "message_queued", id: `${id}-${randomUUID().slice(0, 8)}`, message, reason });
    return { kind: "sent_back", reason, detail };
  };

  // The hand-over's tip is recorded; a branch claude deleted (on /exit) is put back from the last one.
  const restored = await keepOrRestoreBranch(status, id, stage.branch);
  if (restored) log(`stage ${id}: ${restored}`);
  if (!(await git.branchExists(root, stage.branch))) {
    return sendBack("no_commits", [], `branch ${stage.branch} does not exist`, "none", `autorun could not merge stage ${id}: its branch ${stage.branch} does not exist. Commit your work on ${stage.branch} in your worktree, then run: autorun phase implement done`);
  }
  const checks = stageChecks(deps, stage);
  for (let round = 1; ; round++) {
    // Checked first too: no merge is computed and checked while it could not go in anyway.
    const before = await operationOnBase(root, base);
    if (before) return waitFor(before);
    const baseTip = await git.headCommit(root, baseRef);
    const stageTip = await git.headCommit(root, `refs/heads/${stage.branch}`);
    if (await git.isAncestor(root, stageTip, baseTip)) {
      // Everything on the branch is in the base: a merge that finished before a crash, or nothing new.
      if (stage.status === "merging" || stage.merge_commit !== null) {
        await recoverCheckout(root, base, baseTip, log);
        return merged(baseTip, false);
      }
      // Its own commits came in through a merge: a person merged it by hand (the monitor records it as done).
      if (!(await git.onFirstParentChain(root, stageTip, baseTip))) return { kind: "skipped", detail: `${stage.branch} is already in ${base}, merged by a person; the monitor records the stage as done (or run: autorun done ${status.plan_name} ${id})` };
      const detail = `branch ${stage.branch} has no commits beyond ${base}`;
      return sendBack("no_commits", [], detail, stageTip, `autorun could not merge stage ${id}: ${detail}. Commit your work on ${stage.branch} in your worktree, then run: autorun phase implement done`);
    }
    const tree = await computeMerge(paths.home, root, baseTip, stageTip);
    if (!tree.ok) {
      return sendBack(
        "conflict",
        tree.files,
        tree.detail,
        stageTip,
        `autorun could not merge stage ${id}: merging ${stage.branch} into ${base} conflicts in ${tree.files.join(", ") || "some files"}. In your worktree run: git rebase ${base}, resolve the conflicts, commit, then run: autorun phase implement done`,
      );
    }
    const commit = await git.commitTree(root, tree.tree, [baseTip, stageTip], mergeSubject(id, stage.name));
    const guarded = deps.byPerson ? [] : guardedChanges(await git.changedFiles(root, baseTip, commit), checks);
    if (guarded.length > 0) {
      const detail = `stage ${id} changes ${guarded.join(", ")}, which ${guarded.length === 1 ? "decides" : "decide"} how the run checks stages and what agents may do; read the change (git diff ${base}...${stage.branch}) and, if it is right, merge it yourself: autorun merge ${status.plan_name} ${id}`;
      conflict("guarded_files", guarded, detail, stageTip);
      log(`stage ${id}: not merged: ${detail}`);
      return { kind: "stuck", reason: "guarded_files", detail };
    }
    // The dependants' worktrees are made now, at this commit, while it is checked and the base moves.
    if (round === 1) deps.worktrees?.prepareFor(status, id, commit);
    if (checks.length > 0) {
      const failed = await validateCommit(deps, root, commit, checks);
      if (failed) {
        const detail = `validate ${JSON.stringify(failed.argv)} failed on the merge of ${stage.branch} into ${base}:\n${failed.tail}`;
        const tail = failed.tail.split("\n").slice(-8).join(" | ");
        return sendBack(
          "validate_failed",
          [],
          detail,
          stageTip,
          `autorun did not merge stage ${id}: the check ${failed.argv.join(" ")} failed on your branch merged with the current ${base}. Output tail: ${tail} -- run git rebase ${base} in your worktree, fix it, commit, then run: autorun phase implement done`,
        );
      }
    }
    // A person half-way through their own merge or rebase of the base, on any checkout: wait, never
    // abort it (a rebase of the base would then fail to move it: "cannot lock ref").
    const busy = await operationOnBase(root, base);
    if (busy) return waitFor(busy);
    // Where the base is checked out, the merge must fit around the person's uncommitted work.
    const checkout = await git.checkoutOf(root, base);
    if (checkout) {
      const touched = new Set(await git.changedFiles(root, baseTip, commit));
      const inTheWay = (await git.dirtyFiles(checkout)).filter((f) => touched.has(f));
      if (inTheWay.length > 0) return refuse(inTheWay, checkout);
    }
    appendFor(paths, status, { stage: id, type: "merge_started", branch: stage.branch });
    if (!(await git.casRef(root, baseRef, commit, baseTip, `autorun: merge stage ${id}`))) {
      // Someone committed to the base meanwhile: merge again on top of their commit.
      log(`stage ${id}: ${base} moved while merging; merging again on its new tip (round ${round + 1})`);
      if (round >= 10) throw new Error(`${base} kept moving during 10 merge attempts`);
      continue;
    }
    if (checkout) {
      const refusal = (await git.checkedOutBranch(checkout)) === base ? await git.moveCheckout(checkout, baseTip, commit) : undefined;
      if (refusal !== undefined) {
        // An edit appeared between the check and the move: put the base back where it was.
        await git.casRef(root, baseRef, baseTip, commit, `autorun: undo merge stage ${id} (checkout in the way)`);
        return refuse(parseInTheWay(refusal), checkout);
      }
    }
    return merged(commit, checks.length > 0);
  }

  function waitFor(busy: { what: string; where: string }): MergeOutcome {
    return refuse([`(${busy.what} in progress)`], busy.where, `${busy.what} is in progress in ${busy.where}`);
  }

  function refuse(files: string[], checkout: string, why?: string): MergeOutcome {
    const detail = why ?? `uncommitted changes in ${checkout} overlap the merge: ${files.slice(0, 8).join(", ")}`;
    conflict("checkout_overlap", files, detail);
    log(`stage ${id}: merge waits: ${detail}; ${why ? "finish it" : "commit or stash them"} and autorun merges by itself`);
    return { kind: "refused", reason: "checkout_overlap", detail, files };
  }
}

/**
 * What `mergeStage` would do now, computed the same way and changing nothing a person can see
 * (merge-tree writes only unreferenced objects): one line per step.
 */
export async function describeMerge(deps: Pick<MergeDeps, "paths" | "config">, id: string): Promise<string[]> {
  const status = loadStatus(deps.paths)!;
  const stage = status.stages[id]!;
  const root = status.project_root;
  const base = status.base_branch;
  const out: string[] = [`stage ${id} (${stage.status}${stage.implement_done ? ", handed over" : ""}): ${stage.branch} into ${base}`];
  if (stage.status === "completed") return [...out, `already merged as ${stage.merge_commit?.slice(0, 12) ?? "?"}; nothing to do`];
  if (!(await git.branchExists(root, stage.branch))) return [...out, `branch ${stage.branch} does not exist: the agent would be told to commit its work`];
  const baseTip = await git.headCommit(root, `refs/heads/${base}`);
  const stageTip = await git.headCommit(root, `refs/heads/${stage.branch}`);
  if (await git.isAncestor(root, stageTip, baseTip)) return [...out, `${stage.branch} has no commits beyond ${base}: the agent would be told to commit its work`];
  const tree = await computeMerge(deps.paths.home, root, baseTip, stageTip);
  if (!tree.ok) return [...out, `conflicts in ${tree.files.join(", ")}: sent back to the agent to rebase onto ${base}`];
  const touched = await git.changedFiles(root, baseTip, tree.tree);
  out.push(`merges cleanly onto ${base} at ${baseTip.slice(0, 12)}; brings ${touched.length} file(s): ${touched.slice(0, 8).join(", ")}${touched.length > 8 ? ", …" : ""}`);
  const checks = stageChecks(deps, stage);
  out.push(checks.length > 0 ? `checks the merge result in ${validationWorktree(deps.paths.home, root)}: ${checks.map((a) => a.join(" ")).join("; ")}` : "no validate configured: no check before the base moves");
  const checkout = await git.checkoutOf(root, base);
  const busy = await operationOnBase(root, base);
  if (busy) out.push(`waits: ${busy.what} is in progress in ${busy.where}`);
  else if (!checkout) out.push(`${base} is not checked out anywhere: only the branch moves`);
  else {
    const inTheWay = (await git.dirtyFiles(checkout)).filter((f) => touched.includes(f));
    if (inTheWay.length > 0) out.push(`waits: your uncommitted changes in ${checkout} overlap it: ${inTheWay.join(", ")}`);
    else out.push(`${checkout} (on ${base}) is brought forward; your uncommitted edits there are kept`);
  }
  return out;
}

/** The checks a stage's merge must pass: the plan's own for the stage, else the configured `validate`. */
function stageChecks(deps: Pick<MergeDeps, "config">, stage: Status["stages"][string]): string[][] {
  return stage.settings.validate ?? deps.config.validate;
}

function parseInTheWay(gitError: string): string[] {
  const files = [...gitError.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
  return files.length > 0 ? files : [gitError.split("\n")[0]!];
}

/** Runs every `validate` command on `commit` in the project's validation worktree; the first failure. */
async function validateCommit(deps: MergeDeps, root: string, commit: string, checks: readonly string[][]): Promise<{ argv: string[]; tail: string } | undefined> {
  const dir = validationWorktree(deps.paths.home, root);
  makeDir(dirname(dir));
  await git.detachedWorktreeAt(root, dir, commit);
  for (const argv of checks) {
    const r = await runValidate(argv, dir, undefined, validateEnvironment(deps.config.validateEnv));
    if (!r.ok) return { argv, tail: r.tail };
  }
  return undefined;
}

/** Removes the project's validation and integration worktrees (autorun's own, under $AUTORUN_HOME) once a run ends. */
export async function removeValidationWorktree(home: string, projectRoot: string): Promise<void> {
  const dirs = [validationWorktree(home, projectRoot), integrationWorktree(home, projectRoot)].filter((d) => existsSync(d));
  if (dirs.length === 0) return;
  // Under the merge lock: another orchestration of the project may be merging in them.
  await withLock(mergeLockPath(home, projectRoot), async () => {
    for (const dir of dirs) await git.removeWorktree(projectRoot, dir);
    await git.pruneWorktrees(projectRoot);
  }, 30 * 60_000);
}

/**
 * A monitor killed between moving the base and moving the checkout left the checkout's index on
 * the merge's first parent: finish the move (nothing else can have put the index exactly there).
 */
async function recoverCheckout(root: string, base: string, tip: string, log: (msg: string) => void): Promise<void> {
  const checkout = await git.checkoutOf(root, base);
  if (!checkout) return;
  const parent = await git.headCommit(root, `${tip}^1`).catch(() => undefined);
  if (!parent || (await git.indexMatches(checkout, tip)) || !(await git.indexMatches(checkout, parent))) return;
  const refusal = await git.moveCheckout(checkout, parent, tip);
  log(refusal === undefined ? `brought ${checkout} forward to ${tip.slice(0, 10)} (an interrupted merge)` : `could not bring ${checkout} forward to ${tip.slice(0, 10)}: ${refusal}`);
}

/**
 * The person's "don't ask again" answers in the merged stage's session, kept for the stages
 * launched after it: recorded before `merge_complete`, so the dependants it launches get them.
 * Claude Code writes them to the worktree's `.claude/settings.local.json` (2.1.197) or the main
 * checkout's (later versions); both are files an agent can write, so a rule is kept only when a
 * dialog for its command was seen on this stage's screen and left to a person (core/permissions.ts).
 * `status` is the merge's own (merges run one at a time, and only they record these).
 */
function learnPermissions(deps: Pick<MergeDeps, "paths" | "log">, status: Status, id: string, worktree: string): void {
  const known = new Set([...WORKFLOW_ALLOW, ...status.allowed_tools]);
  const found = [...localAllowRules(worktree), ...localAllowRules(status.project_root)].filter((r) => !known.has(r));
  if (found.length === 0) return;
  const dialogs = readAllEvents(deps.paths.events)
    .filter((e): e is EventOf<"stage_needs_permission"> => e.type === "stage_needs_permission" && e.stage === id && e.source === "screen")
    .map((e) => ({ message: e.message, ...(e.command !== undefined ? { command: e.command } : {}) }));
  const { carried, dropped } = learnableRules(found, dialogs);
  if (dropped.length > 0) deps.log(`stage ${id}: not carried to later stages, since no person was asked for them in its session: ${dropped.join(", ")}`);
  if (carried.length === 0) return;
  appendFor(deps.paths, status, { stage: id, type: "permissions_learned", rules: carried });
  deps.log(`stage ${id}: kept the permissions a person allowed for good there, for the stages launched from now on: ${carried.join(", ")}`);
}
