/**
 * `autorun retry <plan> <stage…>`: a failed or blocked stage runs again with a fresh attempt
 * budget (its dependants are unblocked), in its existing worktree and branch, or with
 * `--fresh-worktree` from the base tip (the old branch is kept under another name). The plan is
 * read again first: a stage whose section was fixed runs with the new text and settings.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, relative, resolve } from "node:path";
import writeFileAtomic from "write-file-atomic";
import { createTmux } from "../adapters/tmux.js";
import { appendFor } from "../state/orchestration.js";
import { rebuildStatus } from "../state/status.js";
import { startMonitorDetached } from "./monitor.js";
import { monitorLogger } from "../state/monitor-log.js";
import type { Ctx } from "./ctx.js";
import { requireStage, resolveOrchestration, type LoadedOrchestration } from "../state/orchestration.js";
import { RuntimeError, UserError } from "../errors.js";
import { preflightOrchestration } from "./preflight.js";
import { stageState } from "../core/words.js";
import { sentence } from "../core/printable.js";
import * as git from "../adapters/git.js";
import { dropStageTip } from "../adapters/git-safety.js";
import { removeStageWorktree } from "../monitor/worktree-removal.js";
import { retryOnHosts } from "../monitor/person-actions.js";
import { forgetKept } from "../monitor/host-keep.js";
import { attemptFilesDir, keepWorktreeFiles } from "../monitor/keep-files.js";
import { stageTipRef } from "../core/naming.js";
import { parsePlan } from "../core/parse-plan.js";
import { checkModels, type StageSettings } from "../core/stage-settings.js";
import { checkStageHosts, resolveHosts } from "../core/hosts.js";
import { renderContextFile } from "../core/context-file.js";
import { stageChanges } from "../core/plan-changes.js";

/** A retried stage as the plan now gives it. */
interface Reread {
  name: string;
  settings: StageSettings;
  /** What changed, each a short phrase; empty when nothing did. */
  applied: string[];
  kept: string[];
  /** The context file's new text, when it differs from the one on disk. */
  context?: string;
}

/** The failed stages under `id` in the dependency graph. */
function failedBelow(orch: LoadedOrchestration, id: string, seen = new Set<string>()): string[] {
  const out: string[] = [];
  for (const dep of orch.status.stages[id]?.depends_on ?? []) {
    if (seen.has(dep)) continue;
    seen.add(dep);
    if (orch.status.stages[dep]?.status === "failed") out.push(dep);
    out.push(...failedBelow(orch, dep, seen));
  }
  return out;
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/**
 * The retried stages as the plan file now gives them, or undefined when the plan was not changed
 * since the run started (a plan read by `--parse-with claude` is then never parsed here) or is
 * gone. A plan that no longer reads, or that lost a retried stage, is refused before anything is
 * written.
 */
function rereadPlan(ctx: Ctx, orch: LoadedOrchestration, ids: readonly string[]): Map<string, Reread> | undefined {
  const { status } = orch;
  const path = status.plan_path;
  let modified: number;
  try {
    modified = statSync(path).mtimeMs;
  } catch {
    ctx.err(`autorun: warning: the plan ${path} is gone; the stages run again as the run started them.`);
    return undefined;
  }
  if (modified <= Date.parse(status.created_at)) return undefined;
  const rel = relative(ctx.cwd, path);
  const label = rel && !rel.startsWith("..") ? rel : path;
  const again = " (autorun retry reads the plan again; nothing was changed)";
  let stages;
  try {
    const plan = parsePlan(label, readFileSync(path, "utf8"));
    stages = ids.map((id) => {
      const s = plan.stages.find((p) => p.id === id);
      if (!s) throw new UserError(`${label}: stage ${id} is no longer in the plan; put its section back to retry it, or let its dependants go on without it: autorun skip ${status.plan_name} ${id}`);
      return s;
    });
    checkModels(label, stages, orch.config.prices);
    const hosts = resolveHosts(orch.config);
    checkStageHosts(label, stages, hosts);
  } catch (error) {
    if (error instanceof UserError) throw new UserError(`${error.message.replace(/\s*\n[\s\S]*$/, "").replace(/\.$/, "")}${again}.`);
    throw error;
  }
  const out = new Map<string, Reread>();
  for (const s of stages) {
    const run = status.stages[s.id]!;
    const changes = stageChanges(run, s);
    const render = (name: string): string => renderContextFile({ id: s.id, name, scope: s.scope, depends_on: run.depends_on, orchDir: orch.paths.dir, statusFile: orch.paths.status, baseBranch: status.base_branch });
    const onDisk = readOrEmpty(run.context_file);
    const context = render(s.name);
    // The scope changed when the file differs even under the old title.
    const scope = render(run.name) !== onDisk ? ["new scope text"] : [];
    out.set(s.id, { name: s.name, settings: changes.settings, applied: [...scope, ...changes.applied], kept: changes.kept, ...(context !== onDisk ? { context } : {}) });
  }
  return out;
}

/** Refuses (a UserError saying what to do instead) stage `id` of `orch` unless it may be retried with `ids`. */
function refuseUnretriable(orch: LoadedOrchestration, id: string, ids: readonly string[]): void {
  const s = orch.status.stages[id]!;
  const name = orch.status.plan_name;
  if (s.status !== "failed" && s.status !== "blocked") {
    const state = stageState(s);
    // What a person may do instead, for a stage that still has an agent (or had one until a stop).
    if (state === "stopped") throw new UserError(`stage ${id} is stopped, not failed; to go on with it where it was: autorun resume ${name} (retry is for a failed or blocked stage).`);
    if (s.status === "in_progress") throw new UserError(`stage ${id} is running (${state}), not failed; retry is for a failed or blocked stage. To talk to its agent: autorun attach ${name} ${id}; to let what waits go on without it: autorun skip ${name} ${id}.`);
    throw new UserError(`stage ${id} is ${s.status === "merging" ? `running (${state})` : state}; only a failed or blocked stage can be retried.`);
  }
  // A blocked stage runs once what blocks it runs: that must be retried too.
  const failedDeps = failedBelow(orch, id).filter((d) => !ids.includes(d));
  if (s.status === "blocked" && failedDeps.length > 0) {
    throw new UserError(`stage ${id} is blocked by failed stage ${failedDeps.join(", ")}; retry that (its dependants follow): autorun retry ${name} ${failedDeps.join(" ")}`);
  }
}

/**
 * Stage `id`'s worktree here removed and its branch kept aside as `<branch>-attempt-<n>`, for a
 * retry from the base tip. Files no commit holds (the agent's plan and notes) are copied aside
 * first, as a merge keeps them; changes to tracked files refuse it (they are the person's to keep).
 */
async function startAfresh(ctx: Ctx, orch: LoadedOrchestration, id: string): Promise<void> {
  const s = orch.status.stages[id]!;
  const root = orch.status.project_root;
  const attempt = s.retries + 1;
  if (existsSync(s.worktree)) {
    const changed = await git.trackedChanges(s.worktree).catch(() => ["?"]);
    if (changed.length > 0) throw new UserError(`stage ${id}'s worktree ${s.worktree} has uncommitted changes (${changed.slice(0, 5).join(", ")}); commit or undo them, or retry without --fresh-worktree.`);
    if ((await git.untrackedFiles(s.worktree).catch(() => [])).length > 0) {
      const kept = await keepWorktreeFiles(attemptFilesDir(orch.paths, id, attempt), s.worktree, s.plan_file);
      if (!kept.ok) throw new UserError(`stage ${id}'s worktree ${s.worktree} has ${kept.count} uncommitted files, too many to keep aside; commit or remove them, or retry without --fresh-worktree.`);
      ctx.out(`Stage ${id}: its ${kept.count} uncommitted file(s) (plan, notes) are kept in ${kept.dir}.`);
    }
    const removal = await removeStageWorktree(root, s.worktree, { orchDir: orch.paths.dir, stage: id, sessionEnded: true });
    if (!removal.removed) throw new RuntimeError(`could not remove ${s.worktree}: ${removal.why}; remove it with git worktree remove, then retry.`);
  }
  if (await git.branchExists(root, s.branch)) {
    const base = orch.status.base_branch;
    // A branch with nothing of its own keeps nothing: it goes (kept, doctor would call it left over).
    if ((await git.commitsAhead(root, `refs/heads/${base}`, `refs/heads/${s.branch}`).catch(() => -1)) === 0 && (await git.deleteMergedBranch(root, s.branch, base))) {
      ctx.out(`Stage ${id}: its previous branch had no commits of its own; deleted.`);
    } else {
      const kept = `${s.branch}-attempt-${attempt}`;
      await git.renameBranch(root, s.branch, kept);
      ctx.out(`Stage ${id}: its previous branch is kept as ${kept}.`);
    }
  }
  // The stage starts from the base tip: its recorded tip must not bring the old branch back.
  await dropStageTip(root, stageTipRef(orch.status.project_slug, id));
}

export async function runRetry(ctx: Ctx, plan: string, stageArgs: string[], opts: { freshWorktree?: boolean }): Promise<number> {
  const orch = resolveOrchestration(ctx, plan);
  // (A stage named twice is retried once.)
  const ids = [...new Set(stageArgs.map((a) => requireStage(orch, a)))];
  for (const id of ids) refuseUnretriable(orch, id, ids);
  const reread = rereadPlan(ctx, orch, ids);
  const root = orch.status.project_root;
  // The retried stages start an agent: one that cannot start is refused here, with the fix.
  await preflightOrchestration(orch, ctx.env);
  const tmux = createTmux(orch.config.tmuxSocket);
  const log = monitorLogger(orch.paths);
  // Stages that ran on other hosts: their sessions (and, afresh, their worktrees) there first,
  // so that a host that refuses writes nothing here.
  const onHosts = new Map(ids.flatMap((id) => (orch.status.stages[id]!.host !== undefined ? [[id, orch.status.stages[id]!.host!] as const] : [])));
  if (onHosts.size > 0) {
    const there = await retryOnHosts(orch, onHosts, opts.freshWorktree === true);
    for (const why of there.unreached) ctx.err(`autorun: warning: ${why}; its session there is ended when it is back, and the stage goes on elsewhere meanwhile.`);
    for (const line of there.keptFiles) ctx.out(line);
    for (const kept of there.keptBranches) ctx.out(`The previous branch is kept as ${kept}.`);
  }
  for (const id of ids) {
    const s = orch.status.stages[id]!;
    if (!onHosts.has(id)) await tmux.killSession(s.session);
    // The copies of its work kept from a host must not bring the old attempt back.
    else if (opts.freshWorktree) await forgetKept(root, basename(orch.paths.dir), id);
    if (opts.freshWorktree) await startAfresh(ctx, orch, id);
    const fresh = reread?.get(id);
    let keptContext: string | undefined;
    if (fresh?.context !== undefined) {
      // A context file someone edited by hand is kept beside the new one.
      const previous = readOrEmpty(s.context_file);
      const keptAs = s.context_file.replace(/\.md$/, "") + `.before-retry-${s.retries + 1}.md`;
      if (previous) await writeFileAtomic(keptAs, previous, { mode: 0o600 });
      await writeFileAtomic(s.context_file, fresh.context, { mode: 0o600 });
      if (previous) keptContext = keptAs;
    }
    const changed = fresh && fresh.applied.length > 0;
    appendFor(orch.paths, orch.status, {
      type: "stage_retried",
      stage: id,
      fresh_worktree: opts.freshWorktree === true,
      ...(fresh && changed ? { name: fresh.name, settings: fresh.settings, changed: fresh.applied } : {}),
    });
    // The log says every retry, a person's step in the run's story.
    log(`stage ${id}: retried by a person${opts.freshWorktree ? " from the tip of the base branch" : " in its worktree"}${changed ? `, with the plan read again (${fresh.applied.join("; ")})` : ""}`);
    ctx.out(`Stage ${id} will run again${opts.freshWorktree ? " from the tip of the base branch" : " in its worktree, with its commits so far"}.`);
    const planLabel = relative(ctx.cwd, resolve(orch.status.plan_path)) || orch.status.plan_path;
    if (!fresh && !existsSync(orch.status.plan_path)) ctx.out(`  It runs as the run started it (its plan ${planLabel} is gone).`);
    else if (!fresh) ctx.out(`  The plan was not changed since the run started: it runs as before (edit ${planLabel} to change it).`);
    else if (changed) ctx.out(`  From ${planLabel}: ${fresh.applied.join("; ")}.${keptContext ? ` Its previous context file is kept as ${keptContext}.` : ""}`);
    else ctx.out(`  ${planLabel} has nothing new for it: it runs as before.`);
    if (fresh?.kept.length) ctx.err(`autorun: warning: stage ${id}: ${fresh.kept.join("; ")} in the plan; a run keeps what it started with (orchestrate --fresh starts over with the new plan).`);
  }
  // A retry is a person having looked: an open circuit breaker closes, as with resume. A spent
  // budget still holds every launch, these too: said, with what lifts it.
  const hold = orch.status.hold;
  if (hold?.kind === "circuit") {
    appendFor(orch.paths, orch.status, { type: "circuit_closed", reason: "autorun retry" });
    ctx.out(`Circuit breaker closed (${hold.reason}): launches resume.`);
  } else if (hold?.kind === "budget") {
    ctx.out(`${sentence(hold.reason)}: nothing new is launched, ${ids.length === 1 ? "this stage" : "these stages"} neither. To go on: autorun resume ${orch.status.plan_name} --budget <dollars>`);
  }
  await rebuildStatus(orch.paths);
  const pid = await startMonitorDetached(ctx, orch.paths);
  ctx.out(`Monitor running for ${orch.status.plan_name} (pid ${pid}).`);
  return 0;
}
