/**
 * Launching and relaunching stages on another host, through its `StageHost`: the start commit
 * pushed, `autorun host launch` over the shared connection (the variables the host's `env` names
 * travel inside the JSON on stdin and reach the session through a 0600 file there: never a
 * command line, an event or a log), and `stage_launched` / `stage_relaunched` recording the host
 * and where its events file stood. Called under the orchestration's launch lock.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import * as git from "../adapters/git.js";
import { buildAgentArgv } from "../adapters/agent.js";
import { appendAllFor } from "../state/orchestration.js";
import { readFirstEvent } from "../state/events.js";
import type { Config } from "../state/config.js";
import type { OrchPaths } from "../state/paths.js";
import type { Status } from "../types/schemas.js";
import type { StageLaunch, StageLaunched, StagePaths } from "../host/stage-host.js";
import type { RunHosts } from "./run-hosts.js";
import type { Kept } from "./host-keep.js";

export interface RemoteLaunchDeps {
  paths: OrchPaths;
  config: Config;
  log: (msg: string) => void;
  hosts: RunHosts;
}

interface ArgvOn {
  config: Config;
  /** The host's own agent command, when it names one. */
  hostAgent: readonly string[] | undefined;
  status: Status;
  id: string;
  sessionId: string;
  resume: boolean;
}

/** The agent's argument list with the stage's paths on its host. */
function remoteArgv({ config, hostAgent, status, id, sessionId, resume }: ArgvOn, p: StagePaths): string[] {
  const stage = status.stages[id]!;
  return buildAgentArgv(hostAgent ?? config.agentCommand, {
    worktree: basename(p.worktree),
    sessionId,
    contextFile: p.contextFile,
    pluginDir: p.pluginDir,
    stage: id,
    ...((stage.model ?? config.model) ? { model: (stage.model ?? config.model)! } : {}),
    ...(config.permissionMode ? { permissionMode: config.permissionMode } : {}),
    ...(config.allowedTools.length + status.allowed_tools.length > 0 ? { allowedTools: [...config.allowedTools, ...status.allowed_tools] } : {}),
    ...(resume ? { resume: true } : {}),
    // The sandbox is the host's to add: it reads its own repository for what to close (sandboxHere).
    scope: { worktree: p.worktree, commonDir: join(p.root, ".git"), adminName: basename(p.worktree), baseBranch: status.base_branch },
  });
}

/** The values, on this machine, of the variables the host's `env` names (those set). */
function hostEnv(names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) if (process.env[name] !== undefined) out[name] = process.env[name]!;
  return out;
}

/**
 * Where a stage starts on a host that does not have its branch: the last tip fetched from where
 * it ran (a stage moved, or retried), else the base tip.
 */
async function startOf(status: Status, id: string, baseTip: string): Promise<string> {
  const stage = status.stages[id]!;
  if (stage.status === "pending" && stage.retries === 0) return baseTip;
  return (await git.branchExists(status.project_root, stage.branch)) ? git.headCommit(status.project_root, `refs/heads/${stage.branch}`) : baseTip;
}

interface Planned {
  id: string;
  sessionId: string;
  launch: StageLaunch;
}

/** What one stage's launch on `host` sends there. */
interface Launching {
  host: string;
  id: string;
  sessionId: string;
  resume: boolean;
  baseTip: string;
}

async function planned(deps: RemoteLaunchDeps, status: Status, { host, id, sessionId, resume, baseTip }: Launching): Promise<Planned> {
  const stage = status.stages[id]!;
  const spec = deps.hosts.spec(host)!;
  const started = readFirstEvent(deps.paths.events);
  if (!started) throw new Error(`${deps.paths.events} has no valid first event to give host ${host}`);
  return {
    id,
    sessionId,
    launch: {
      orchestration: basename(deps.paths.dir),
      started,
      stage: id,
      branch: stage.branch,
      worktreeName: basename(stage.worktree),
      session: stage.session,
      socket: deps.hosts.socket(),
      context: readFileSync(stage.context_file, "utf8"),
      start: await startOf(status, id, baseTip),
      baseBranch: status.base_branch,
      argv: (p) => remoteArgv({ config: deps.config, hostAgent: spec.agentCommand, status, id, sessionId, resume }, p),
      env: hostEnv(spec.env),
      ...(resume ? { resume: true } : {}),
      // The host puts the sandbox of its own paths into the settings, where it has what it needs.
      ...(deps.config.sandbox ? { sandbox: { domains: deps.config.sandboxDomains } } : {}),
    },
  };
}

/** A stage launched on `host` without the sandbox it was to have: said, with what the host lacks. */
function sandboxMissing(deps: RemoteLaunchDeps, id: string, host: string, out: StageLaunched): void {
  if (out.sandbox && !out.sandbox.on) {
    const install = out.sandbox.missing.map((m) => (m === "bwrap" ? "bubblewrap" : m)).join(" and ");
    deps.log(`stage ${id}: Claude Code's Bash sandbox is not available on host ${host}${install ? ` (install ${install} there)` : ""}: its Bash commands outside the allow-list wait for a person`);
  }
}

/** First launches of `ids` on `host` (one push and one ssh call for the batch); records `stage_launched`. */
export async function launchOnHost(deps: RemoteLaunchDeps, status: Status, { host, ids, tip }: { host: string; ids: readonly { id: string; sessionId: string }[]; tip?: string }): Promise<void> {
  const stageHost = await deps.hosts.stageHost(host);
  const baseTip = tip ?? (await git.headCommit(status.project_root, `refs/heads/${status.base_branch}`));
  const batch = await Promise.all(ids.map((s) => planned(deps, status, { host, id: s.id, sessionId: s.sessionId, resume: false, baseTip })));
  const out = await stageHost.launchMany(batch.map((b) => b.launch));
  appendAllFor(
    deps.paths,
    status,
    batch.map((b, i) => ({ stage: b.id, type: "stage_launched" as const, session: b.launch.session, session_id: b.sessionId, attempt: 1, host, events_offset: out[i]!.eventsOffset, ...(out[i]!.adopted ? { adopted: true } : {}) })),
  );
  for (const [i, b] of batch.entries()) {
    deps.log(`stage ${b.id}: ${out[i]!.adopted ? "adopted existing session" : "launched"} ${b.launch.session} on host ${host}${out[i]!.adopted ? "" : ` (session id ${b.sessionId})`}`);
    sandboxMissing(deps, b.id, host, out[i]!);
  }
  // A worktree made here ahead of time (at a merge) is not where these stages run: the host has
  // its own. Removed once they run there, so their launch does not wait for it.
  for (const s of ids) {
    const stage = status.stages[s.id]!;
    if (stage.status === "pending" && existsSync(stage.worktree)) await git.removeWorktree(status.project_root, stage.worktree).catch((error: Error) => deps.log(`stage ${s.id}: could not remove the worktree made here ahead of time: ${error.message}`));
  }
}

/**
 * A relaunch on `host`: on the host it ran on, `--resume` in its worktree there; on another host
 * (its own was lost), from its last fetched tip, with what was kept of it (`kept`: its uncommitted
 * files, and its conversation, resumed, when that was kept too), else a new conversation.
 */
export async function relaunchOnHost(deps: RemoteLaunchDeps, status: Status, r: { host: string; id: string; previousId: string; freshId: string; attempt: number; kept?: Kept }): Promise<void> {
  const { host, id, previousId, freshId, attempt, kept } = r;
  const stageHost = await deps.hosts.stageHost(host);
  const same = deps.hosts.hostOf(id) === host;
  const conversation = !same && kept?.transcript !== undefined ? readFileSync(kept.transcript) : undefined;
  const resume = same || conversation !== undefined;
  const sessionId = resume ? previousId : freshId;
  const baseTip = await git.headCommit(status.project_root, `refs/heads/${status.base_branch}`);
  const b = await planned(deps, status, { host, id, sessionId, resume, baseTip });
  if (!same && kept) b.launch.restore = { commit: kept.snapshot, ...(conversation ? { transcript: { sessionId, bytes: conversation } } : {}) };
  const [out] = await stageHost.launchMany([b.launch]);
  appendAllFor(deps.paths, status, [{ stage: id, type: "stage_relaunched", session: b.launch.session, session_id: sessionId, attempt, host, events_offset: out!.eventsOffset }]);
  const moved = kept ? `, with its uncommitted files${conversation ? " and its conversation" : ""} kept from its lost host` : "";
  deps.log(`stage ${id}: relaunched on host ${host} (attempt ${attempt}${resume ? `, --resume ${sessionId}` : `, from ${b.launch.start.slice(0, 10)}`}${moved})`);
  sandboxMissing(deps, id, host, out!);
}
