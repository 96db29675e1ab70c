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
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import * as git from "../adapters/git.js";
import * as gitMerge from "../adapters/git-merge.js";
import { checkoutFromFiles, commonDir, operationOnBase } from "../adapters/git-safety.js";
import { boxedArgv, checkBoxProgram } from "../adapters/check-box.js";
import { runValidate, validateEnvironment } from "../adapters/process.js";
import type { Tmux } from "../adapters/tmux.js";
import type { Clock } from "../core/clock.js";
import { commandLine } from "../core/printable.js";
import { RuntimeError } from "../errors.js";
import { readAllEvents, readFirstEvent } from "../state/events.js";
import { appendFor } from "../state/orchestration.js";
import { isLocked, withLock } from "../state/lock.js";
import { makeDir, type OrchPaths } from "../state/paths.js";
import { loadStatus } from "../state/status.js";
import type { Config } from "../state/config.js";
import type { EventBody, EventOf, Status } from "../types/schemas.js";
import { cleanup } from "./cleanup.js";
import type { Worktrees } from "./worktrees.js";
import { keepOrRestoreBranch } from "./tips.js";
import { learnableRules } from "../core/permissions.js";
import { integrationWorktree, mergeLockPath, planMerge, describePlan, validationWorktree, type MergePlan } from "./merge-plan.js";
import { localAllowRules, WORKFLOW_ALLOW } from "../adapters/agent.js";

export interface MergeDeps {
  tmux: Tmux;
  paths: OrchPaths;
  config: Config;
  log: (msg: string) => void;
  /** The monitor's clock: what the cleanup's wait for the agent's turn goes by (default: the real one). */
  clock?: Clock;
  /** Given by the monitor, which then launches the dependants: their worktrees are made while the merge is checked. */
  worktrees?: Worktrees;
  /** A person's `autorun merge`: a stage that changes guarded files (see guardedChanges) merges too. */
  byPerson?: boolean;
}


type Reason = EventOf<"merge_conflict">["reason"];

export type MergeOutcome =
  /** `cleanup` ends the session and removes the worktree and branch; callers may launch first. */
  | { kind: "merged"; commit: string; cleanup: () => Promise<void> }
  /** Not merged; `message` is for its agent, queued by the caller (sendBackMessage) once the base it names is where the agent looks. */
  | { kind: "sent_back"; reason: Reason; detail: string; message: string }
  /** The person's checkout is in the way (`files`); retried once they are committed or stashed. */
  | { kind: "refused"; reason: Reason; detail: string; files: string[] }
  /** The same unchanged branch was sent back too often: a person has to look. */
  | { kind: "stuck"; reason: Reason; detail: string }
  | { kind: "skipped"; detail: string };

/** Send-backs of the same unchanged stage branch before autorun stops repeating itself. */
export const MAX_SEND_BACKS = 3;

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
  const status = loadStatus(deps.paths)!;
  const stage = status.stages[id];
  if (!stage) return { kind: "skipped", detail: `no stage ${id}` };
  if (stage.status === "completed") return { kind: "skipped", detail: "already merged" };
  return new StageMerge(deps, status, id, stage).run();
}

/** One merge of one stage, under the merge lock: the plan of each round carried out, and what came of it recorded. */
class StageMerge {
  private readonly root: string;
  private readonly base: string;

  constructor(private readonly deps: MergeDeps, private readonly status: Status, private readonly id: string, private readonly stage: Status["stages"][string]) {
    this.root = status.project_root;
    this.base = status.base_branch;
  }

  async run(): Promise<MergeOutcome> {
    const { deps, status, id, stage } = this;
    const input = { home: deps.paths.home, config: deps.config, status, id, ...(deps.byPerson ? { byPerson: true } : {}) };
    // The hand-over's tip is recorded; a branch claude deleted (on /exit) is put back from the last
    // one. Beside the first plan (each is a git process on the way to the merge, under its lock); a
    // branch put back is planned again.
    const [restored, first] = await Promise.all([keepOrRestoreBranch(status, id, stage.branch), planMerge(input)]);
    if (restored) deps.log(`stage ${id}: ${restored}`);
    for (let round = 1; ; round++) {
      const plan = round === 1 && !restored ? first : await planMerge(input);
      if (plan.step !== "merge") return this.settle(plan);
      const outcome = await this.apply(plan, round);
      if (outcome) return outcome;
      // The base moved meanwhile: merge again on top of it.
      if (round >= 10) throw new Error(`${this.base} kept moving during 10 merge attempts`);
    }
  }

  /** A plan that merges nothing: what it means for the stage. */
  private async settle(plan: Exclude<MergePlan, { step: "merge" }>): Promise<MergeOutcome> {
    const { id, stage, base, status } = this;
    const commitIt = `Commit your work on ${stage.branch} in your worktree, then run: autorun phase implement done`;
    switch (plan.step) {
      case "nothing":
        return { kind: "skipped", detail: plan.detail };
      case "no_branch":
        return this.sendBack({ reason: "no_commits", files: [], detail: `branch ${stage.branch} does not exist`, tip: "none", message: `autorun could not merge stage ${id}: its branch ${stage.branch} does not exist. ${commitIt}` });
      case "wait":
        return this.waitFor(plan.busy);
      case "record":
        await recoverCheckout(this.root, base, plan.baseTip, this.deps.log);
        return this.merged(plan.baseTip, false);
      case "by_hand":
        return { kind: "skipped", detail: `${stage.branch} is already in ${base}, merged by a person; the monitor records the stage as done (or run: autorun done ${status.plan_name} ${id})` };
      case "no_commits": {
        const detail = `branch ${stage.branch} has no commits beyond ${base}`;
        return this.sendBack({ reason: "no_commits", files: [], detail, tip: plan.stageTip, message: `autorun could not merge stage ${id}: ${detail}. ${commitIt}` });
      }
      case "conflict":
        return this.sendBack({ reason: "conflict", files: plan.files, detail: plan.detail, tip: plan.stageTip, message: `autorun could not merge stage ${id}: merging ${stage.branch} into ${base} conflicts in ${plan.files.join(", ") || "some files"}. In your worktree run: git rebase ${base}, resolve the conflicts, commit, then run: autorun phase implement done` });
      case "guarded": {
        const detail = `stage ${id} changes ${plan.files.join(", ")}, which ${plan.files.length === 1 ? "decides" : "decide"} how the run checks stages and what agents may do; read the change (git diff ${base}...${stage.branch}) and, if it is right, merge it yourself: autorun merge ${status.plan_name} ${id}`;
        this.conflict("guarded_files", plan.files, detail, plan.stageTip);
        this.deps.log(`stage ${id}: not merged: ${detail}`);
        return { kind: "stuck", reason: "guarded_files", detail };
      }
    }
  }

  /**
   * A plan that merges: the dependants' worktrees made ahead, the checks, the person's checkout
   * looked at again, the base moved by compare-and-swap and the checkout with it. Undefined: the
   * base moved meanwhile (another round).
   */
  private async apply(plan: Extract<MergePlan, { step: "merge" }>, round: number): Promise<MergeOutcome | undefined> {
    const { deps, id, stage, root, base } = this;
    const baseRef = `refs/heads/${base}`;
    const { baseTip, stageTip, commit, checks } = plan;
    // The dependants' worktrees are made now, at this commit, while it is checked and the base moves.
    if (round === 1) deps.worktrees?.prepareFor(this.status, id, commit);
    const failed = checks.length > 0 ? await validateCommit(deps, root, commit, checks) : undefined;
    if (failed) {
      const said = failed.tail.trim() !== "";
      const detail = `validate ${JSON.stringify(failed.argv)} failed on the merge of ${stage.branch} into ${base}${said ? `:\n${failed.tail}` : " (it printed nothing)"}`;
      const tail = said ? `Output tail: ${failed.tail.split("\n").slice(-8).join(" | ")}` : "It printed nothing.";
      return this.sendBack({ reason: "validate_failed", files: [], detail, tip: stageTip, message: `autorun did not merge stage ${id}: the check ${commandLine(failed.argv)} failed on your branch merged with the current ${base}. ${tail} -- run git rebase ${base} in your worktree, fix it, commit, then run: autorun phase implement done` });
    }
    // A person half-way through their own merge or rebase of the base, on any checkout: wait, never
    // abort it (a rebase of the base would then fail to move it: "cannot lock ref").
    // Where the base is checked out, the merge must fit around the person's uncommitted work.
    const [busy, checkout] = await Promise.all([operationOnBase(root, base), checkoutOfBase(root, base)]);
    if (busy) return this.waitFor(busy);
    if (checkout) {
      const inTheWay = (await git.dirtyFiles(checkout)).filter((f) => plan.touched.includes(f));
      if (inTheWay.length > 0) return this.refuse(inTheWay, checkout);
    }
    appendFor(deps.paths, this.status, { stage: id, type: "merge_started", branch: stage.branch });
    if (!(await gitMerge.casRef(root, { ref: baseRef, from: baseTip, to: commit, reason: `autorun: merge stage ${id}` }))) {
      // Locked meanwhile, not moved: wait for the lock to go rather than merging again and again.
      const locked = await operationOnBase(root, base);
      if (locked) return this.waitFor(locked);
      deps.log(`stage ${id}: ${base} moved while merging; merging again on its new tip (round ${round + 1})`);
      return undefined;
    }
    if (checkout) {
      // Still on the base (the person may have switched branches meanwhile): read from the files, else git.
      const now = await checkoutFromFiles(root, base);
      const onBase = now === undefined ? (await git.checkedOutBranch(checkout)) === base : now === checkout;
      const refusal = onBase ? await git.moveCheckout(checkout, baseTip, commit) : undefined;
      if (refusal !== undefined) {
        // An edit appeared between the check and the move: put the base back where it was.
        await gitMerge.casRef(root, { ref: baseRef, from: commit, to: baseTip, reason: `autorun: undo merge stage ${id} (checkout in the way)` });
        return this.refuse(parseInTheWay(refusal), checkout);
      }
    }
    return this.merged(commit, checks.length > 0);
  }

  private conflict(reason: Reason, files: string[], detail: string, commit?: string): void {
    // A failed stage has no agent to tell, and recording it would take it for one at work (to be
    // relaunched): a person who asked for its merge is told why not, and nothing is recorded.
    if (this.stage.status !== "in_progress" && this.stage.status !== "merging") {
      const { plan_name: name } = this.status;
      const next = reason === "checkout_overlap" ? "clear that (commit or stash the changes, or finish what is under way) and run this again" : `it has no agent at work to fix that: fix its branch ${this.stage.branch} yourself and run this again, or run it again with its commits: autorun retry ${name} ${this.id}`;
      throw new RuntimeError(`stage ${this.id} (${this.stage.status}) was not merged: ${detail.split("\n")[0]}; ${next}`);
    }
    appendFor(this.deps.paths, this.status, { stage: this.id, type: "merge_conflict", reason, files, detail, ...(commit ? { commit } : {}) });
  }

  private merged(commit: string, validated: boolean): MergeOutcome {
    const { deps, status, id, stage, root, base } = this;
    // Read before the worktree goes; kept for later stages only once a person says so (its review).
    proposePermissions(deps, status, id, stage.worktree);
    appendFor(deps.paths, status, { stage: id, type: "merge_complete", branch: stage.branch, commit, validated });
    deps.log(`stage ${id}: merged ${stage.branch} into ${base} as ${commit.slice(0, 10)}${validated ? " (the merged result passed validate)" : ""}`);
    return { kind: "merged", commit, cleanup: () => cleanup(deps, { id, stage, root, base }) };
  }

  /** Not merged: the agent is told `message` at its next idle moment (or a person, once it repeats with no new commit). */
  private sendBack({ reason, files, detail, tip, message }: { reason: Reason; files: string[]; detail: string; tip: string; message: string }): MergeOutcome {
    const { deps, id } = this;
    // Counted before this one is recorded.
    const stuck = sendBacksOf(deps.paths, id, tip) >= MAX_SEND_BACKS;
    this.conflict(reason, files, detail, tip);
    if (stuck) {
      deps.log(`stage ${id}: not merged (${detail.split("\n")[0]}); sent back ${MAX_SEND_BACKS} times with no new commit, so autorun stops repeating it and asks a person`);
      return { kind: "stuck", reason, detail };
    }
    // The files, unless the detail already names them ("conflicts in a.txt").
    const first = detail.split("\n")[0]!;
    const named = files.length > 0 && !files.slice(0, 5).every((f) => first.includes(f)) ? ` (${files.slice(0, 5).join(", ")})` : "";
    deps.log(`stage ${id}: not merged: ${first}${named}; the agent is told what to do at its next idle moment`);
    return { kind: "sent_back", reason, detail, message };
  }

  private waitFor(busy: { what: string; where: string }): MergeOutcome {
    return this.refuse([`(${busy.what} in progress)`], busy.where, `${busy.what} is in progress in ${busy.where}`);
  }

  private refuse(files: string[], checkout: string, why?: string): MergeOutcome {
    const detail = why ?? `uncommitted changes in ${checkout} overlap the merge: ${files.slice(0, 8).join(", ")}`;
    this.conflict("checkout_overlap", files, detail);
    this.deps.log(`stage ${this.id}: merge waits: ${detail}; ${why ? "finish it" : "commit them, stash them (git stash -u takes untracked files too) or move them aside"} and autorun merges by itself`);
    return { kind: "refused", reason: "checkout_overlap", detail, files };
  }
}

/**
 * The event that queues a send-back's message for the stage's agent: not typed, the monitor
 * delivers it at the agent's next idle moment, however busy it is now.
 */
export function sendBackMessage(id: string, sent: Extract<MergeOutcome, { kind: "sent_back" }>): EventBody {
  return { stage: id, type: "message_queued", id: `${id}-${randomUUID().slice(0, 8)}`, message: sent.message, reason: sent.reason };
}

/**
 * What `mergeStage` would do now: the same plan, in words, changing nothing a person can see
 * (merge-tree and commit-tree write only unreferenced objects).
 */
export async function describeMerge(deps: Pick<MergeDeps, "paths" | "config">, id: string): Promise<string[]> {
  const input = { home: deps.paths.home, config: deps.config, status: loadStatus(deps.paths)!, id };
  const busy = isLocked(mergeLockPath(deps.paths.home, input.status.project_root));
  const said = await describePlan(input, await planMerge(input));
  // Looked at beside a merge under way: the base and its checkout may be mid-move.
  return busy ? [...said, "a merge in this project is under way now (its files may show as changes in the checkout): run this again once it is done"] : said;
}

function parseInTheWay(gitError: string): string[] {
  const files = [...gitError.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
  return files.length > 0 ? files : [gitError.split("\n")[0]!];
}

/**
 * Runs every `validate` command on `commit` in the project's validation worktree; the first failure.
 * A check runs code the stage wrote: with the sandbox on (and bubblewrap here) it runs boxed, as the
 * stage's own Bash does (adapters/check-box.ts), able to write only that worktree and /tmp.
 */
async function validateCommit(deps: MergeDeps, root: string, commit: string, checks: readonly string[][]): Promise<{ argv: string[]; tail: string } | undefined> {
  const dir = validationWorktree(deps.paths.home, root);
  makeDir(dirname(dir));
  await git.detachedWorktreeAt(root, dir, commit);
  const bwrap = deps.config.sandbox ? checkBoxProgram() : undefined;
  const gitDir = bwrap ? await commonDir(root) : undefined;
  const box = { cwd: dir, hidden: [deps.paths.home], readable: gitDir ? [gitDir] : [] };
  for (const argv of checks) {
    const r = await runValidate(bwrap ? boxedArgv(bwrap, argv, box) : argv, dir, undefined, validateEnvironment(deps.config.validateEnv));
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

/** Where the base is checked out: from the repository's files, else from git. */
async function checkoutOfBase(root: string, base: string): Promise<string | undefined> {
  const found = await checkoutFromFiles(root, base);
  return found === undefined ? git.checkoutOf(root, base) : (found ?? undefined);
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
 * The person's "don't ask again" answers in the merged stage's session, proposed for the stages
 * launched after it (`permissions_proposed`; the controller files the review whose `keep` records
 * `permissions_learned`). Claude Code writes them to the worktree's `.claude/settings.local.json`
 * (2.1.197) or the main checkout's (later versions); both are files an agent can write, and a
 * dialog on its screen is text an agent can draw, so a rule is proposed only when a dialog for its
 * command was seen there, and kept only when a person answers its review.
 * `status` is the merge's own (merges run one at a time, and only they record these).
 */
function proposePermissions(deps: Pick<MergeDeps, "paths" | "log">, status: Status, id: string, worktree: string): void {
  const known = new Set([...WORKFLOW_ALLOW, ...status.allowed_tools]);
  const found = [...localAllowRules(worktree), ...localAllowRules(status.project_root)].filter((r) => !known.has(r));
  if (found.length === 0) return;
  const dialogs = readAllEvents(deps.paths.events)
    .filter((e): e is EventOf<"stage_needs_permission"> => e.type === "stage_needs_permission" && e.stage === id && e.source === "screen")
    .map((e) => ({ message: e.message, ...(e.command !== undefined ? { command: e.command } : {}) }));
  const { carried, dropped } = learnableRules(found, dialogs);
  if (dropped.length > 0) deps.log(`stage ${id}: not carried to later stages, since no person was asked for them in its session: ${dropped.join(", ")}`);
  if (carried.length === 0) return;
  appendFor(deps.paths, status, { stage: id, type: "permissions_proposed", rules: carried });
  deps.log(`stage ${id}: allowed for good in its session: ${carried.join(", ")}; later stages get them once a person keeps them (its review)`);
}
