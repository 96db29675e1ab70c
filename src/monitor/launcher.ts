/**
 * Launching a stage exactly once. Every launch, from `orchestrate` or any monitor, takes the
 * orchestration's launch lock, re-folds events.jsonl, and adopts a session that already exists
 * (a launcher killed between `new-session` and its event) instead of starting a second one.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { buildAgentArgv, sessionEnv } from "../adapters/agent.js";
import type { Tmux } from "../adapters/tmux.js";
import * as git from "../adapters/git.js";
import { appendFor } from "../state/orchestration.js";
import { withLock } from "../state/lock.js";
import { loadStatus } from "../state/status.js";
import type { OrchPaths } from "../state/paths.js";
import type { Config } from "../state/config.js";
import type { Status } from "../state/schemas.js";
import { ToolError } from "../errors.js";
import { stagesToLaunch } from "../core/scheduler.js";

export interface LaunchDeps {
  tmux: Tmux;
  paths: OrchPaths;
  config: Config;
  log: (msg: string) => void;
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
  });
}

/** Worktrees being created in this process, so a second launcher waits for the checkout to finish. */
const creating = new Map<string, Promise<void>>();

/**
 * The stage's worktree at the tip of the base branch: created there unless it exists (or is being
 * created). One that exists for a stage about to start (made ahead at a merge commit that did not
 * become the tip, or by a monitor that stopped) is brought to the tip when it holds no work.
 */
async function ensureWorktree(status: Status, stage: Status["stages"][string]): Promise<void> {
  const inflight = creating.get(stage.worktree);
  if (inflight) await inflight.catch(() => undefined);
  if (existsSync(stage.worktree)) {
    if (stage.status === "pending") await git.bringWorktreeTo(stage.worktree, await git.headCommit(status.project_root, `refs/heads/${status.base_branch}`));
    return;
  }
  const job = git.addStageWorktree(status.project_root, stage.worktree, stage.branch, `refs/heads/${status.base_branch}`).finally(() => creating.delete(stage.worktree));
  creating.set(stage.worktree, job);
  return job;
}

/**
 * Makes, ahead of time, the worktrees of the stages that merging `merged` would launch, at the
 * merge commit (which becomes the base tip a moment later): the slowest step of a launch then
 * runs while the merge is checked and the base moves, not after. Best effort: a launch brings
 * what it finds to the base tip.
 */
export function prepareWorktrees(status: Status, merged: string, commit: string): void {
  const after: Status = { ...status, stages: { ...status.stages, [merged]: { ...status.stages[merged]!, status: "completed" } } };
  for (const id of stagesToLaunch(after)) {
    const stage = status.stages[id]!;
    if (!stage.depends_on.includes(merged) || creating.has(stage.worktree) || existsSync(stage.worktree)) continue;
    const job = git
      .addStageWorktree(status.project_root, stage.worktree, stage.branch, commit)
      .catch(() => undefined)
      .finally(() => creating.delete(stage.worktree));
    creating.set(stage.worktree, job);
  }
}

export type LaunchResult = "launched" | "adopted" | "skipped";

/** Launches several stages under one lock and one fold of the events (what a batch of ready stages needs). */
export async function launchStages(deps: LaunchDeps, ids: readonly string[]): Promise<LaunchResult[]> {
  const { paths, tmux } = deps;
  // Worktrees first, outside the launch lock: creating one is idempotent, and the slowest step of a
  // launch, so launches of different stages must not queue behind each other's `git worktree add`.
  const before = loadStatus(paths);
  if (before) {
    await Promise.all(
      ids.map(async (id) => {
        const stage = before.stages[id];
        if (stage?.status !== "pending") return;
        // Another launcher may be making the same worktree: only a worktree still missing is news.
        await ensureWorktree(before, stage).catch((error: Error) => existsSync(stage.worktree) || deps.log(`stage ${id}: could not create its worktree yet: ${error.message}`));
      }),
    );
  }
  return withLock(paths.launchLock, async () => {
    const status = loadStatus(paths);
    const results: LaunchResult[] = [];
    for (const id of ids) {
      const stage = status?.stages[id];
      if (!status || !stage || stage.status !== "pending") {
        results.push("skipped");
        continue;
      }
      const attempt = 1;
      const sessionId = stageSessionId(status, paths.dir, id, attempt, stage.retries);
      // The stage starts from the tip of the base branch (every merged stage in it), whatever the
      // person's checkout is on; `claude --worktree <name>` reuses this worktree. (One that exists
      // was brought to the tip before the lock.)
      if (creating.has(stage.worktree) || !existsSync(stage.worktree)) await ensureWorktree(status, stage);
      // A session that already exists was started by a launcher killed before it could record it:
      // adopt it. new-session itself says so ("duplicate session"), which saves a has-session call.
      try {
        await tmux.newSession({
          name: stage.session,
          cwd: status.project_root,
          argv: stageArgv(deps, status, paths.dir, id, { sessionId }),
          env: sessionEnv(paths.home, paths.dir, id),
          remainOnExit: true,
        });
      } catch (error) {
        if (!(error instanceof ToolError && /duplicate session/.test(error.stderr)) || !(await tmux.hasSession(stage.session))) throw error;
        appendFor(paths, status, { stage: id, type: "stage_launched", session: stage.session, session_id: sessionId, attempt, adopted: true });
        deps.log(`stage ${id}: adopted existing session ${stage.session}`);
        results.push("adopted");
        continue;
      }
      appendFor(paths, status, { stage: id, type: "stage_launched", session: stage.session, session_id: sessionId, attempt });
      deps.log(`stage ${id}: launched ${stage.session} (session id ${sessionId})`);
      results.push("launched");
    }
    return results;
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
      remainOnExit: true,
    });
    appendFor(paths, status, { stage: id, type: "stage_relaunched", session: stage.session, session_id: sessionId, attempt });
    deps.log(`stage ${id}: relaunched (attempt ${attempt}${worktreeExists ? `, --resume ${sessionId}` : ", fresh worktree"})`);
    return "launched";
  });
}
