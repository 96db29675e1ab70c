/**
 * Launching a stage exactly once. Every launch, from `orchestrate` or any monitor, takes the
 * orchestration's launch lock, re-folds events.jsonl, and adopts a session that already exists
 * (a launcher killed between `new-session` and its event) instead of starting a second one.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { onThisMachine } from "../core/hosts.js";
import { buildAgentArgv, sandboxAvailable, sessionEnv, type StageScope } from "../adapters/agent.js";
import { scopeAt } from "../adapters/stage-scope.js";
import { findExecutable } from "../adapters/process.js";
import type { NewSession, Tmux } from "../adapters/tmux.js";
import { appendAllFor, appendFor } from "../state/orchestration.js";
import { withLock } from "../state/lock.js";
import { loadStatus } from "../state/status.js";
import type { OrchPaths } from "../state/paths.js";
import type { Config } from "../state/config.js";
import type { StageStatus, Status } from "../types/schemas.js";
import { ToolError } from "../errors.js";
import { keepOrRestoreBranch } from "./tips.js";
import type { Worktrees } from "./worktrees.js";
import type { RunHosts } from "./run-hosts.js";
import { launchOnHost, relaunchOnHost } from "./remote-launch.js";
import { carryOver, movedHere } from "./host-move.js";
import type { Kept } from "./host-keep.js";

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
  /** The process's worktree bookkeeping (adds in flight, those made ahead). */
  worktrees: Worktrees;
  /** A run that uses other hosts: where stages run; `placement`: the host each stage of this launch goes to. */
  hosts?: RunHosts;
  placement?: ReadonlyMap<string, string>;
  /** The person's environment the sessions get (default: this process's, as the monitor was started with it). */
  env?: NodeJS.ProcessEnv;
}

/** A stable UUID per (orchestration, stage, attempt, retry), so a restarted launcher knows the id it used. */
export function stageSessionId(status: Pick<Status, "created_at" | "plan_name">, stage: { orchDir: string; id: string }, n: { attempt: number; retries?: number }): string {
  const { orchDir, id } = stage;
  const { attempt, retries = 0 } = n;
  const h = createHash("sha256").update(`${orchDir}\0${status.plan_name}\0${status.created_at}\0${id}\0${attempt}${retries > 0 ? `\0retry ${retries}` : ""}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** What a stage's argument list is built from: the run's place and tools, the stage's worktree, context file and model. */
export type ArgvView = Pick<Status, "project_root" | "base_branch" | "allowed_tools"> & { stages: Record<string, Pick<StageStatus, "worktree" | "context_file" | "model">> };

/** `launch`: for a session started now (not a dry run's listing): what the sandbox closes is made ready. */
export function stageArgv(deps: Pick<LaunchDeps, "config">, status: ArgvView, opts: { id: string; resume?: boolean; sessionId: string; launch?: boolean }): string[] {
  const { id } = opts;
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
    scope: stageScope(deps.config, status, stage.worktree, opts.launch === true),
  });
}

/**
 * Where a stage may work: its worktree and, in the repository's git directory, the admin directory
 * git keeps for it (found from git's side, never from the worktree's `.git` file, which the agent
 * can write); the sandbox when the configuration wants it and this machine has it. `launch`: the
 * session starts now, so the files the sandbox closes are made (a dry run writes nothing).
 */
export function stageScope(config: Pick<Config, "sandbox" | "sandboxDomains">, status: Pick<Status, "project_root" | "base_branch">, worktree: string, launch = false): StageScope {
  const on = config.sandbox && sandboxAvailable((p) => findExecutable(p)).ok;
  return scopeAt({ commonDir: join(status.project_root, ".git"), worktree, baseBranch: status.base_branch, ...(on ? { sandbox: { domains: config.sandboxDomains } } : {}), launch });
}

/** "held": placed on a host where its launch failed (the host is left out of placement a while). */
export type LaunchResult = "launched" | "adopted" | "skipped" | "held";

/**
 * Launches several stages under one lock and one fold of the events (what a batch of ready stages
 * needs). `tip`: the base tip, when the caller knows it (a merge that just moved it).
 */
export async function launchStages(deps: LaunchDeps, ids: readonly string[], tip?: string): Promise<LaunchResult[]> {
  const { paths } = deps;
  // The stages launched here go to this machine's tmux (a stage may have run on a host before).
  const tmux = deps.hosts ? deps.hosts.deps.tmux : deps.tmux;
  const current = deps.current ?? (() => loadStatus(paths));
  const remote = (id: string) => deps.hosts !== undefined && !onThisMachine(deps.placement?.get(id));
  // Worktrees first, outside the launch lock: creating one is idempotent, and the slowest step of a
  // launch, so launches of different stages must not queue behind each other's `git worktree add`.
  const before = current();
  if (before) {
    await Promise.all(
      ids.map(async (id) => {
        const stage = before.stages[id];
        if (stage?.status !== "pending" || remote(id)) return;
        // A retried stage runs on with its commits: its branch is put back if it was deleted meanwhile.
        if (stage.retries > 0) {
          const restored = await keepOrRestoreBranch(before, id, stage.branch).catch(() => undefined);
          if (restored) deps.log(`stage ${id}: ${restored}`);
        }
        // Another launcher may be making the same worktree: only a worktree still missing is news.
        await deps.worktrees.ensure(before, stage, tip).catch((error: Error) => existsSync(stage.worktree) || deps.log(`stage ${id}: could not create its worktree yet: ${error.message}`));
      }),
    );
  }
  return withLock(paths.launchLock, async () => {
    const status = current();
    const results = new Map<string, LaunchResult>();
    const starting: { id: string; session: string; sessionId: string; spec: NewSession }[] = [];
    const elsewhere = new Map<string, { id: string; sessionId: string }[]>();
    for (const id of ids) {
      const stage = status?.stages[id];
      if (!status || !stage || stage.status !== "pending") {
        results.set(id, "skipped");
        continue;
      }
      const sessionId = stageSessionId(status, { orchDir: paths.dir, id }, { attempt: 1, retries: stage.retries });
      if (remote(id)) {
        const host = deps.placement!.get(id)!;
        elsewhere.set(host, [...(elsewhere.get(host) ?? []), { id, sessionId }]);
        continue;
      }
      // The stage starts from the tip of the base branch (every merged stage in it), whatever the
      // person's checkout is on; `claude --worktree <name>` reuses this worktree. (One that exists
      // was brought to the tip before the lock.)
      if (deps.worktrees.inFlight(stage.worktree) || !existsSync(stage.worktree)) await deps.worktrees.ensure(status, stage, tip);
      // From here on the stage's agent changes it.
      deps.worktrees.handedOver(stage.worktree);
      const spec = { name: stage.session, cwd: status.project_root, argv: stageArgv(deps, status, { id, sessionId, launch: true }), env: sessionEnv({ home: paths.home, orchDir: paths.dir, stage: id }, { env: deps.env }), envDir: `${paths.dir}/session-env`, remainOnExit: true };
      starting.push({ id, session: stage.session, sessionId, spec });
    }
    if (!status) return ids.map(() => "skipped" as const);
    // Other hosts' batches beside this machine's (each an ssh round trip or two). A host that
    // cannot launch them holds them, and is left out of placement a while: this machine's launches go on.
    const away = [...elsewhere].map(async ([host, those]) => {
      try {
        await launchOnHost({ paths, config: deps.config, log: deps.log, hosts: deps.hosts! }, status, { host, ids: those, tip });
        for (const s of those) results.set(s.id, "launched");
      } catch (error) {
        const why = (error as Error).message;
        // Recorded too when the reason is new: `status` says why the stages pinned there wait.
        if (deps.hosts!.refuse(host, why, those.map((s) => s.id))) appendFor(paths, status, { type: "host_launch_failed", host, reason: why.split("\n")[0]!, stages: those.map((s) => s.id) });
        for (const s of those) results.set(s.id, "held");
      }
    });
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
    await Promise.all(away);
    return ids.map((id) => results.get(id) ?? "skipped");
  });
}

/**
 * Relaunch a stage whose session died: in its worktree with `--resume <session-id>` when the
 * worktree exists, else a fresh start. `expectAttempts` guards against two monitors racing.
 */
export async function relaunchStage(deps: LaunchDeps, id: string, expectAttempts: number): Promise<LaunchResult> {
  const { paths } = deps;
  return withLock(paths.launchLock, async () => {
    const status = loadStatus(paths);
    const stage = status?.stages[id];
    if (!status || !stage || stage.status !== "in_progress" || stage.attempts !== expectAttempts) return "skipped";
    if (deps.hosts) {
      // Its host while that is up, else another that can run it (a pinned stage waits for its own).
      const [where] = deps.hosts.place([id]);
      if (!where || !("host" in where)) {
        deps.log(`stage ${id}: not relaunched yet: ${where && "detail" in where ? where.detail : "no host"}`);
        return "skipped";
      }
      // Off a lost host: its branch here at the tip kept from there, and (here) its uncommitted files and conversation.
      const from = deps.hosts.hostOf(id);
      const kept = from !== "local" && from !== where.host ? await carryOver(deps.hosts.keep, deps.log, from, id) : undefined;
      if (where.host !== "local") {
        const previousId = stage.session_id ?? stageSessionId(status, { orchDir: paths.dir, id }, { attempt: stage.attempts, retries: stage.retries });
        const freshId = stageSessionId(status, { orchDir: paths.dir, id }, { attempt: stage.attempts + 1, retries: stage.retries });
        await relaunchOnHost({ paths, config: deps.config, log: deps.log, hosts: deps.hosts }, status, { host: where.host, id, previousId, freshId, attempt: stage.attempts + 1, ...(kept ? { kept } : {}) });
        return "launched";
      }
      return relaunchHere({ ...deps, tmux: deps.hosts.deps.tmux }, status, id, kept ? { from, kept } : undefined);
    }
    return relaunchHere(deps, status, id);
  });
}

/** The relaunch on this machine (under the launch lock). */
async function relaunchHere(deps: LaunchDeps, status: Status, id: string, moved?: { from: string; kept: Kept }): Promise<LaunchResult> {
  const { paths, tmux } = deps;
  const stage = status.stages[id]!;
  if (await tmux.hasSession(stage.session)) return "skipped";
  // Its commits so far go on with it, even when claude deleted its branch (on /exit) meanwhile.
  const restored = await keepOrRestoreBranch(status, id, stage.branch).catch(() => undefined);
  if (restored) deps.log(`stage ${id}: ${restored}`);
  const attempt = stage.attempts + 1;
  const worktreeExists = existsSync(stage.worktree);
  const previousId = stage.session_id ?? stageSessionId(status, { orchDir: paths.dir, id }, { attempt: stage.attempts, retries: stage.retries });
  if (!worktreeExists) await deps.worktrees.ensure(status, stage);
  // Moved off a lost host: the work kept from there in the worktree just made, its conversation resumed when it was kept.
  const resume = worktreeExists || (moved !== undefined && deps.hosts !== undefined && (await movedHere({ keep: deps.hosts.keep, log: deps.log }, moved, id, { worktree: stage.worktree, env: deps.env ?? process.env })));
  const sessionId = resume ? previousId : stageSessionId(status, { orchDir: paths.dir, id }, { attempt, retries: stage.retries });
  await tmux.newSession({
    name: stage.session,
    cwd: resume ? stage.worktree : status.project_root,
    argv: stageArgv(deps, status, { id, sessionId, resume, launch: true }),
    env: sessionEnv({ home: paths.home, orchDir: paths.dir, stage: id }, { env: deps.env }),
    envDir: `${paths.dir}/session-env`,
    remainOnExit: true,
  });
  appendFor(paths, status, { stage: id, type: "stage_relaunched", session: stage.session, session_id: sessionId, attempt });
  const counted = stage.relaunch_free ? `not counted against its attempts, ${stage.attempts} used` : `attempt ${attempt}`;
  deps.log(`stage ${id}: relaunched (${counted}${resume ? `, --resume ${sessionId}` : worktreeExists || moved ? `, new conversation ${sessionId}` : ", fresh worktree"})`);
  return "launched";
}
