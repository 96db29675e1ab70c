/**
 * Launching a stage exactly once. Every launch, from `orchestrate` or any monitor, takes the
 * orchestration's launch lock, re-folds events.jsonl, and adopts a session that already exists
 * (a launcher killed between `new-session` and its event) instead of starting a second one.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { buildAgentArgv, sandboxAvailable, sessionEnv, type StageScope } from "../adapters/agent.js";
import { findExecutable } from "../adapters/process.js";
import type { NewSession, Tmux } from "../adapters/tmux.js";
import * as git from "../adapters/git.js";
import { appendAllFor, appendFor } from "../state/orchestration.js";
import { withLock } from "../state/lock.js";
import { loadStatus } from "../state/status.js";
import type { OrchPaths } from "../state/paths.js";
import type { Config } from "../state/config.js";
import type { Status } from "../state/schemas.js";
import { ToolError } from "../errors.js";
import { stagesToLaunch } from "../core/scheduler.js";
import { MERGE_SUBJECT_PREFIX } from "../core/naming.js";
import { keepOrRestoreBranch } from "./tips.js";

export interface LaunchDeps {
  tmux: Tmux;
  paths: OrchPaths;
  config: Config;
  log: (msg: string) => void;
  /**
   * The status with every event written so far. By default a fold of events.jsonl; the monitor,
   * which keeps its fold, folds only what is new (the launch lock is held meanwhile).
   */
  current?: () => Status | undefined;
}

/** A stable UUID per (orchestration, stage, attempt, retry), so a restarted launcher knows the id it used. */
export function stageSessionId(status: Pick<Status, "created_at" | "plan_name">, orchDir: string, id: string, attempt: number, retries = 0): string {
  const h = createHash("sha256").update(`${orchDir}\0${status.plan_name}\0${status.created_at}\0${id}\0${attempt}${retries > 0 ? `\0retry ${retries}` : ""}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function stageArgv(deps: Pick<LaunchDeps, "config">, status: Status, orchDir: string, id: string, opts: { resume?: boolean; sessionId: string }): string[] {
  const stage = status.stages[id]!;
  return buildAgentArgv(deps.config.agentCommand, {
    worktree: stage.worktree.split("/").pop()!,
    sessionId: opts.sessionId,
    contextFile: stage.context_file,
    stage: id,
    // The stage's own model (from the plan, or an escalation) over the configured one.
    ...((stage.model ?? deps.config.model) ? { model: (stage.model ?? deps.config.model)! } : {}),
    ...(deps.config.permissionMode ? { permissionMode: deps.config.permissionMode } : {}),
    ...(deps.config.allowedTools.length + status.allowed_tools.length > 0 ? { allowedTools: [...deps.config.allowedTools, ...status.allowed_tools] } : {}),
    ...(opts.resume ? { resume: true } : {}),
    scope: stageScope(deps.config, status, stage.worktree),
  });
}

/**
 * Where a stage may work: its worktree and, in the repository's git directory, the admin directory
 * git keeps for it (found from git's side, never from the worktree's `.git` file, which the agent
 * can write); the sandbox when the configuration wants it and this machine has it.
 */
export function stageScope(config: Pick<Config, "sandbox" | "sandboxDomains">, status: Pick<Status, "project_root" | "base_branch">, worktree: string): StageScope {
  const commonDir = join(status.project_root, ".git");
  let adminName = basename(worktree);
  try {
    for (const name of readdirSync(join(commonDir, "worktrees"))) {
      if (readFileSync(join(commonDir, "worktrees", name, "gitdir"), "utf8").trim() === join(worktree, ".git")) adminName = name;
    }
  } catch {
    // Not made yet (a dry run): git's default name.
  }
  const on = config.sandbox && sandboxAvailable((p) => findExecutable(p)).ok;
  if (!on) return { worktree, commonDir, adminName, baseBranch: status.base_branch };
  return { worktree, commonDir, adminName, baseBranch: status.base_branch, gitGuarded: gitGuarded(commonDir), sandbox: { domains: config.sandboxDomains } };
}

/** The paths of `StageScope.gitGuarded` that exist in `commonDir` now (none of them ever goes away). */
function gitGuarded(commonDir: string): string[] {
  return ["HEAD", "index", "packed-refs", "info", join("objects", "info"), "modules"].map((p) => join(commonDir, p)).filter((p) => existsSync(p));
}

/** Worktrees being created in this process, so a second launcher waits for the checkout to finish. */
const creating = new Map<string, Promise<void>>();
/** Worktrees made ahead at a merge commit, and that commit: one still there needs no git call to know it. */
const madeAt = new Map<string, string>();

/**
 * The stage's worktree at the tip of the base branch: created there unless it exists (or is being
 * created). One that exists for a stage about to start (made ahead at a merge commit that did not
 * become the tip, or by a monitor that stopped) is brought to the tip when it holds no work. `tip`:
 * the commit a merge just made the tip, when the caller is that merge.
 */
async function ensureWorktree(status: Status, stage: Status["stages"][string], tip?: string): Promise<void> {
  const inflight = creating.get(stage.worktree);
  if (inflight) await inflight.catch(() => undefined);
  if (existsSync(stage.worktree)) {
    if (stage.status !== "pending") return;
    // Made ahead at the very commit the caller's merge made the tip: nothing to ask git. Anything
    // else is compared with the tip as it is now (the base may have moved on since `tip`).
    if (tip !== undefined && madeAt.get(stage.worktree) === tip) return;
    return toTip(status, stage);
  }
  const job = git
    .addStageWorktree(status.project_root, stage.worktree, stage.branch, `refs/heads/${status.base_branch}`)
    // A branch that existed already (left by a monitor killed while it made this worktree ahead,
    // at a merge commit that never became the tip) is brought to the tip like a worktree found.
    .then(async (how) => {
      if (how === "existing branch" && stage.status === "pending") await toTip(status, stage);
    })
    .catch(async (error: unknown) => {
      // Made meanwhile by another process: a second launcher, or the git of a monitor killed while
      // it made this worktree ahead at a merge commit that then never became the tip. Once that
      // add is over, the worktree is brought to the tip like any worktree found.
      if (!existsSync(stage.worktree)) throw error;
      await git.worktreeAddOver(stage.worktree);
      if (stage.status === "pending") await toTip(status, stage);
    })
    .finally(() => creating.delete(stage.worktree));
  creating.set(stage.worktree, job);
  return job;
}

/** A worktree found for a stage about to start, at the base tip as it is now, unless it holds work. */
async function toTip(status: Status, stage: Status["stages"][string]): Promise<void> {
  const target = await git.headCommit(status.project_root, `refs/heads/${status.base_branch}`);
  if (madeAt.get(stage.worktree) !== target) await git.bringWorktreeTo(stage.worktree, target, MERGE_SUBJECT_PREFIX);
}

/**
 * Makes, ahead of time, the worktrees of the stages `ids` at `commit`, the base tip they will start
 * from: the slowest step of their launch then runs beside what comes before it (a merge being
 * checked and moving the base, orchestrate writing its files), and a launch told that tip needs no
 * git call for them. Best effort: a launch brings what it finds to the base tip. Resolves to the
 * stages whose worktree this call made.
 */
export function makeWorktreesAhead(status: Status, ids: readonly string[], commit: string): Promise<string[]> {
  const made: Promise<string | undefined>[] = [];
  for (const id of ids) {
    const stage = status.stages[id];
    if (!stage || creating.has(stage.worktree) || existsSync(stage.worktree)) continue;
    const job = git
      .addStageWorktree(status.project_root, stage.worktree, stage.branch, commit)
      .then((how) => void (how === "made at start" && madeAt.set(stage.worktree, commit)))
      .finally(() => creating.delete(stage.worktree));
    creating.set(stage.worktree, job);
    made.push(job.then(() => id, () => undefined));
  }
  return Promise.all(made).then((all) => all.filter((id): id is string => id !== undefined));
}

/** The worktrees of the stages that merging `merged` (as `commit`, the next base tip) would launch. */
export function prepareWorktrees(status: Status, merged: string, commit: string): void {
  const after: Status = { ...status, stages: { ...status.stages, [merged]: { ...status.stages[merged]!, status: "completed" } } };
  void makeWorktreesAhead(status, stagesToLaunch(after).filter((id) => status.stages[id]!.depends_on.includes(merged)), commit);
}

export type LaunchResult = "launched" | "adopted" | "skipped";

/**
 * Launches several stages under one lock and one fold of the events (what a batch of ready stages
 * needs). `tip`: the base tip, when the caller knows it (a merge that just moved it).
 */
export async function launchStages(deps: LaunchDeps, ids: readonly string[], tip?: string): Promise<LaunchResult[]> {
  const { paths, tmux } = deps;
  const current = deps.current ?? (() => loadStatus(paths));
  // Worktrees first, outside the launch lock: creating one is idempotent, and the slowest step of a
  // launch, so launches of different stages must not queue behind each other's `git worktree add`.
  const before = current();
  if (before) {
    await Promise.all(
      ids.map(async (id) => {
        const stage = before.stages[id];
        if (stage?.status !== "pending") return;
        // A retried stage runs on with its commits: its branch is put back if it was deleted meanwhile.
        if (stage.retries > 0) {
          const restored = await keepOrRestoreBranch(before, id, stage.branch).catch(() => undefined);
          if (restored) deps.log(`stage ${id}: ${restored}`);
        }
        // Another launcher may be making the same worktree: only a worktree still missing is news.
        await ensureWorktree(before, stage, tip).catch((error: Error) => existsSync(stage.worktree) || deps.log(`stage ${id}: could not create its worktree yet: ${error.message}`));
      }),
    );
  }
  return withLock(paths.launchLock, async () => {
    const status = current();
    const results = new Map<string, LaunchResult>();
    const starting: { id: string; session: string; sessionId: string; spec: NewSession }[] = [];
    for (const id of ids) {
      const stage = status?.stages[id];
      if (!status || !stage || stage.status !== "pending") {
        results.set(id, "skipped");
        continue;
      }
      const sessionId = stageSessionId(status, paths.dir, id, 1, stage.retries);
      // The stage starts from the tip of the base branch (every merged stage in it), whatever the
      // person's checkout is on; `claude --worktree <name>` reuses this worktree. (One that exists
      // was brought to the tip before the lock.)
      if (creating.has(stage.worktree) || !existsSync(stage.worktree)) await ensureWorktree(status, stage, tip);
      // From here on the stage's agent changes it.
      madeAt.delete(stage.worktree);
      const spec = { name: stage.session, cwd: status.project_root, argv: stageArgv(deps, status, paths.dir, id, { sessionId }), env: sessionEnv(paths.home, paths.dir, id), envDir: `${paths.dir}/session-env`, remainOnExit: true };
      starting.push({ id, session: stage.session, sessionId, spec });
    }
    if (!status) return ids.map(() => "skipped" as const);
    // Several recorded in one write: the agents started by then are taking the CPU.
    const launched = (those: readonly (typeof starting)[number][], adopted: boolean) => {
      appendAllFor(paths, status, those.map((s) => ({ stage: s.id, type: "stage_launched", session: s.session, session_id: s.sessionId, attempt: 1, ...(adopted ? { adopted: true } : {}) })));
      for (const s of those) {
        deps.log(adopted ? `stage ${s.id}: adopted existing session ${s.session}` : `stage ${s.id}: launched ${s.session} (session id ${s.sessionId})`);
        results.set(s.id, adopted ? "adopted" : "launched");
      }
    };
    // Every session in as few tmux calls as fit (one per session, before, and each agent started
    // took CPU from the calls still to come).
    const made = starting.length > 0 ? await tmux.newSessions(starting.map((s) => s.spec)) : [];
    launched(starting.filter((_, i) => made[i]), false);
    // Those of a call that failed, one at a time. A session that already exists was started by a
    // launcher killed before it could record it (or by the call that failed): adopt it.
    // new-session itself says so ("duplicate session"), which saves a has-session call.
    for (const s of starting.filter((_, i) => !made[i])) {
      try {
        await tmux.newSession(s.spec);
      } catch (error) {
        if (!(error instanceof ToolError && /duplicate session/.test(error.stderr)) || !(await tmux.hasSession(s.session))) throw error;
        launched([s], true);
        continue;
      }
      launched([s], false);
    }
    return ids.map((id) => results.get(id) ?? "skipped");
  });
}

/**
 * Relaunch a stage whose session died: in its worktree with `--resume <session-id>` when the
 * worktree exists, else a fresh start. `expectAttempts` guards against two monitors racing.
 */
export async function relaunchStage(deps: LaunchDeps, id: string, expectAttempts: number): Promise<LaunchResult> {
  const { paths, tmux } = deps;
  return withLock(paths.launchLock, async () => {
    const status = loadStatus(paths);
    const stage = status?.stages[id];
    if (!status || !stage || stage.status !== "in_progress" || stage.attempts !== expectAttempts) return "skipped";
    if (await tmux.hasSession(stage.session)) return "skipped";
    // Its commits so far go on with it, even when claude deleted its branch (on /exit) meanwhile.
    const restored = await keepOrRestoreBranch(status, id, stage.branch).catch(() => undefined);
    if (restored) deps.log(`stage ${id}: ${restored}`);
    const attempt = stage.attempts + 1;
    const worktreeExists = existsSync(stage.worktree);
    const previousId = stage.session_id ?? stageSessionId(status, paths.dir, id, stage.attempts, stage.retries);
    const sessionId = worktreeExists ? previousId : stageSessionId(status, paths.dir, id, attempt, stage.retries);
    if (!worktreeExists) await ensureWorktree(status, stage);
    await tmux.newSession({
      name: stage.session,
      cwd: worktreeExists ? stage.worktree : status.project_root,
      argv: stageArgv(deps, status, paths.dir, id, { sessionId, resume: worktreeExists }),
      env: sessionEnv(paths.home, paths.dir, id),
      envDir: `${paths.dir}/session-env`,
      remainOnExit: true,
    });
    appendFor(paths, status, { stage: id, type: "stage_relaunched", session: stage.session, session_id: sessionId, attempt });
    deps.log(`stage ${id}: relaunched (attempt ${attempt}${worktreeExists ? `, --resume ${sessionId}` : ", fresh worktree"})`);
    return "launched";
  });
}
