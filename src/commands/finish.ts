/** `autorun done` and `autorun skip`: a person finishes a stage, and what waits for it goes on. */
import { createTmux } from "../adapters/tmux.js";
import { appendFor } from "../state/orchestration.js";
import { loadStatus, rebuildStatus } from "../state/status.js";
import { cleanup } from "../monitor/cleanup.js";
import { dependantsOf, workInBase, type WorkInBase } from "../monitor/finish.js";
import { sentence, stagesList } from "../core/printable.js";
import { stageState } from "../core/words.js";
import { onThisMachine } from "../core/hosts.js";
import { UserError } from "../errors.js";
import { startMonitorDetached } from "./monitor.js";
import { monitorLogger } from "../state/monitor-log.js";
import type { Ctx } from "./ctx.js";
import { confirmed } from "./confirm.js";
import { requireStage, resolveOrchestration, type LoadedOrchestration } from "../state/orchestration.js";
import { isLocked, withLock } from "../state/lock.js";
import { mergeLockPath } from "../monitor/merge-plan.js";
import { endStageSession, fetchFromStageHost } from "../monitor/person-actions.js";

/** The stage a person may finish: not merged already, and not being merged right now. */
function finishable(orch: LoadedOrchestration, stageArg: string, verb: string): string {
  const id = requireStage(orch, stageArg);
  const s = orch.status.stages[id]!;
  if (s.status === "completed") throw new UserError(`stage ${id} is already ${stageState(s)}; there is nothing to ${verb}.`);
  if (s.status === "merging") throw new UserError(`stage ${id} is being merged right now; wait for the merge (autorun status ${orch.status.plan_name}).`);
  return id;
}

/**
 * `decide` under the project's merge lock, with the run read again there: a merge of the stage that
 * began before is over (or shows as `merging`), and one that begins after sees the person's word.
 * Without it, a merge that had read the stage just before a skip went on and merged it.
 */
async function underMergeLock<T>(ctx: Ctx, orch: LoadedOrchestration, stageArg: string, decide: (now: LoadedOrchestration) => Promise<T>): Promise<T> {
  const lock = mergeLockPath(ctx.home, orch.status.project_root);
  if (isLocked(lock)) ctx.err(`autorun: a merge in this project is under way; stage ${stageArg} is decided on once it is done…`);
  try {
    return await withLock(lock, () => decide({ ...orch, status: loadStatus(orch.paths) ?? orch.status }), 10 * 60_000);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
    throw new UserError(`a merge in this project has been under way for ten minutes (its checks may be slow); nothing was done: run this again once it is over (autorun status ${orch.status.plan_name}).`);
  }
}

/**
 * A stage that has not started, marked done or skipped: nothing undoes either, and a stage id
 * mistyped is the likely cause, so the person says it twice (`--yes`, or y at the prompt).
 * False: they said no, and nothing was changed.
 */
async function confirmUnstarted(ctx: Ctx, orch: LoadedOrchestration, id: string, opts: { what: string; yes: boolean | undefined }): Promise<boolean> {
  const s = orch.status.stages[id]!;
  if (opts.yes || s.status !== "pending" || s.sessions > 0) return true;
  const waits = s.depends_on.filter((d) => orch.status.stages[d]?.status !== "completed");
  const why = `stage ${id} (${s.name}) has not started${waits.length ? ` (it waits for ${stagesList(waits)})` : ""}, and nothing undoes ${opts.what}`;
  return confirmed(ctx, { question: `${sentence(why)}. Go on?`, refusal: `${why}; if that is what you mean, add --yes.` });
}

/**
 * A running stage marked done while its branch has no commits of its own: its agent is ended with
 * nothing of its work merged, and a mistyped stage id is the likely cause, so the person says it
 * twice (`--yes`, or y at the prompt). A branch whose work is in the base (merged or applied by
 * hand) is done without the question. False: they said no, and nothing was changed.
 */
async function confirmRunningEmpty(ctx: Ctx, orch: LoadedOrchestration, id: string, yes: boolean | undefined): Promise<boolean> {
  const s = orch.status.stages[id]!;
  if (yes || (s.status !== "in_progress" && s.status !== "merging")) return true;
  // A stage on a host: its branch there is its work (a host that does not answer is said under the lock).
  if (!onThisMachine(s.host) && !(await fetchFromStageHost(orch, id).then(() => true, () => false))) return true;
  const found = await workInBase(orch.status.project_root, orch.status.base_branch, s, { applied: true }).catch(() => undefined);
  if (found === undefined || found.kind === "not_in_base" || found.kind === "applied" || (found.kind === "in_base" && found.own)) return true;
  const why = `stage ${id} (${s.name}) is running and its branch ${s.branch} has ${found.kind === "no_branch" ? "not been made" : "no commits of its own"}: marking it done ends its session with nothing of it merged`;
  return confirmed(ctx, { question: `${sentence(why)}. Go on?`, refusal: `${why}; if that is what you mean, add --yes.` });
}

/** After the event: the run goes on (its monitor started when none runs), and the person is told what starts. */
async function goOn(ctx: Ctx, orch: LoadedOrchestration, id: string): Promise<void> {
  const status = await rebuildStatus(orch.paths);
  const now = status ?? orch.status;
  const waiting = dependantsOf(now, id);
  // What the stage itself waited for still holds its dependants: they build on the whole chain.
  const before = now.stages[id]!.depends_on.filter((d) => now.stages[d]?.status !== "completed");
  const after = before.length ? `, after ${stagesList(before)} (which stage ${id} waited for) merge${before.length === 1 ? "s" : ""}` : "";
  if (status?.status === "running" || status?.status === "stopped") {
    const pid = await startMonitorDetached(ctx, orch.paths);
    ctx.out(waiting.length ? `The monitor (pid ${pid}) launches what waited for it: ${stagesList(waiting)}${after}, once nothing else holds ${waiting.length === 1 ? "it" : "them"} back.` : `The monitor (pid ${pid}) goes on with the run.`);
  }
}

/** What `done` found of a stage's work in the base, for the event and the person. */
function doneDetail(found: Exclude<WorkInBase, { kind: "not_in_base" }>, branch: string, base: string): string {
  switch (found.kind) {
    case "no_branch":
      return `its branch ${branch} does not exist; marked done as the person said`;
    case "applied":
      return `the changes of ${branch} are in ${base} as other commits (a squash or rebase merge); its branch is kept`;
    case "in_base":
      return found.own ? `${branch} is in ${base}` : `${branch} has no commits of its own; marked done as the person said`;
  }
}

/**
 * `autorun done <plan> <stage>`: the person says the stage is finished. Its branch's work must be in
 * the base (merged by their own `git merge`); its session ends and its worktree and merged branch
 * go as after autorun's own merge.
 */
export async function runDone(ctx: Ctx, plan: string, stageArg: string, opts: { yes?: boolean } = {}): Promise<number> {
  const first = resolveOrchestration(ctx, plan);
  const id = finishable(first, stageArg, "mark done");
  // Asked before the lock: a question left open must not hold up every merge of the project.
  if (!(await confirmUnstarted(ctx, first, id, { what: "marking it done", yes: opts.yes }))) return 1;
  if (!(await confirmRunningEmpty(ctx, first, id, opts.yes))) return 1;
  const { orch, detail, commit } = await underMergeLock(ctx, first, stageArg, (now) => recordDone(now, stageArg));
  const stage = orch.status.stages[id]!;
  const { project_root: root, base_branch: base } = orch.status;
  ctx.out(`Stage ${id} is done: ${detail}${commit ? ` (merged into ${base} by ${commit.slice(0, 12)})` : ""}.`);
  const log = monitorLogger(orch.paths);
  log(`stage ${id}: marked done by a person (${detail})`);
  if (!onThisMachine(stage.host)) {
    // Its worktree there goes with the monitor's clean-up after merges, once one runs.
    const unreached = await endStageSession(orch, id);
    if (unreached) ctx.err(`autorun: could not end stage ${id}'s session (${unreached}); end it there: autorun stop ${orch.status.plan_name} --sessions`);
  } else await cleanup({ tmux: createTmux(orch.config.tmuxSocket), paths: orch.paths, log: (m) => (log(m), ctx.out(m.replace(/^stage \S+: /, `Stage ${id}: `))) }, { id, stage, root, base });
  await goOn(ctx, orch, id);
  return 0;
}

/** Under the merge lock: the stage's work found in the base, and `stage_done_by_person` recorded. */
async function recordDone(orch: LoadedOrchestration, stageArg: string): Promise<{ orch: LoadedOrchestration; detail: string; commit: string | undefined }> {
  const id = finishable(orch, stageArg, "mark done");
  const stage = orch.status.stages[id]!;
  const { project_root: root, base_branch: base, plan_name: name } = orch.status;
  // A stage on a host: its branch there is its work.
  await fetchFromStageHost(orch, id).catch((error: Error) => {
    throw new UserError(`stage ${id} runs on host ${stage.host}, whose branch ${stage.branch} is its work, and that could not be fetched (${error.message}); run this again once the host answers, or let what waits for it go on without it: autorun skip ${name} ${id}`);
  });
  const found = await workInBase(root, base, stage, { applied: true });
  if (found.kind === "not_in_base") {
    throw new UserError(
      `stage ${id}'s branch ${stage.branch} has ${found.ahead} commit${found.ahead === 1 ? "" : "s"} that ${base} does not have; merge ${found.ahead === 1 ? "it" : "them"} first (git merge --no-ff ${stage.branch}, or autorun merge ${name} ${id}) and run this again, or let what waits for it go on without ${found.ahead === 1 ? "it" : "them"}: autorun skip ${name} ${id}`,
    );
  }
  // Only a merge that brought the stage's own commits in is its merge commit (the report's undo).
  const commit = found.kind === "in_base" && found.own ? found.commit : undefined;
  const detail = doneDetail(found, stage.branch, base);
  appendFor(orch.paths, orch.status, { type: "stage_done_by_person", stage: id, how: "command", ...(commit ? { commit } : {}), detail });
  return { orch, detail, commit };
}

/**
 * `autorun skip <plan> <stage>`: what depends on the stage goes on without it. Its session ends;
 * its worktree and branch are kept (their commits are not in the base), and the report says so.
 */
export async function runSkip(ctx: Ctx, plan: string, stageArg: string, opts: { reason?: string; yes?: boolean } = {}): Promise<number> {
  const first = resolveOrchestration(ctx, plan);
  const id = finishable(first, stageArg, "skip");
  // Asked before the lock: a question left open must not hold up every merge of the project.
  if (!(await confirmUnstarted(ctx, first, id, { what: "a skip", yes: opts.yes }))) return 1;
  const reason = opts.reason?.trim() || "with autorun skip";
  const orch = await underMergeLock(ctx, first, stageArg, async (now) => {
    finishable(now, stageArg, "skip");
    const unreached = await endStageSession(now, id);
    if (unreached) ctx.err(`autorun: could not end stage ${id}'s session (${unreached}); end it there: autorun stop ${now.status.plan_name} --sessions, or tmux kill-session on that host`);
    appendFor(now.paths, now.status, { type: "stage_skipped", stage: id, reason });
    return now;
  });
  const stage = orch.status.stages[id]!;
  const { project_root: root, base_branch: base } = orch.status;
  monitorLogger(orch.paths)(`stage ${id}: skipped by a person: ${reason}`);
  const found = await workInBase(root, base, stage).catch(() => undefined);
  const kept = found?.kind === "not_in_base" ? ` Its branch ${stage.branch} keeps its ${found.ahead} commit${found.ahead === 1 ? "" : "s"} that ${base} does not have, in ${stage.worktree}.` : "";
  const waiting = dependantsOf(orch.status, id);
  ctx.out(`Stage ${id} skipped: ${waiting.length ? `${stagesList(waiting)} go${waiting.length === 1 ? "es" : ""} on without its work` : "nothing depends on it"}; the report says so.${kept}`);
  await goOn(ctx, orch, id);
  return 0;
}
