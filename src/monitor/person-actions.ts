/**
 * What a person does to a running orchestration from `autorun stop` / `autorun nudge` and from the
 * dashboard's keys: one implementation for both, so both record the same events.
 */
import { basename } from "node:path";
import { createTmux } from "../adapters/tmux.js";
import { runScript } from "../adapters/ssh.js";
import { openRunHost } from "../host/remote-host.js";
import { hostWorktree, stageBranchRefspec } from "../host/protocol.js";
import { isAlive, signal } from "../adapters/process.js";
import { RuntimeError, UserError } from "../errors.js";
import { loadStatus, rebuildStatus } from "../state/status.js";
import { appendFor, type LoadedOrchestration } from "../state/orchestration.js";
import { monitorLogger } from "../state/monitor-log.js";
import { runningMonitor } from "./monitor-pid.js";
import { verifiedNudge, type NudgeResult } from "./nudge.js";
import { lastLine } from "../adapters/exec.js";
import { fetchFromHost } from "../adapters/git-ssh.js";
import { onThisMachine } from "../core/hosts.js";
import { realClock, type Clock } from "../core/clock.js";
import { HostKeep } from "./host-keep.js";
import { notesFromHost } from "./host-move.js";
import { attemptFilesDir } from "./keep-files.js";

export interface Stopped {
  /** The monitor that was stopped, if one was running. */
  monitorPid?: number;
  /** The stages whose sessions were ended (with `sessions`), here and on hosts. */
  ended: string[];
  /** A line for each host whose sessions could not be ended. */
  unreached: string[];
}

/**
 * Stops the orchestration's monitor (SIGTERM, then up to 15 s for it to go), with `sessions` ends
 * the running stages' sessions too, and records `orchestration_stopped`.
 */
export async function stopRun(orch: LoadedOrchestration, opts: { sessions?: boolean }, clock: Clock): Promise<Stopped> {
  const pid = runningMonitor(orch.paths);
  if (pid !== undefined) {
    signal(pid, "SIGTERM");
    const deadline = clock.now() + 15_000;
    while (isAlive(pid) && clock.now() < deadline) await clock.sleep(100);
    if (isAlive(pid)) throw new RuntimeError(`the monitor (pid ${pid}) did not stop within 15 s; kill it with: kill ${pid}`);
  }
  const ended: string[] = [];
  const unreached: string[] = [];
  if (opts.sessions) {
    const tmux = createTmux(orch.config.tmuxSocket);
    const elsewhere = new Map<string, { host: string; session: string }>();
    // As the monitor left it: a stage it launched while this command started is ended too.
    const stages = (pid !== undefined ? loadStatus(orch.paths) : undefined)?.stages ?? orch.status.stages;
    for (const [id, s] of Object.entries(stages)) {
      if (s.status !== "in_progress" && s.status !== "merging") continue;
      if (!onThisMachine(s.host)) elsewhere.set(id, { host: s.host, session: s.session });
      else if (await tmux.killSession(s.session)) ended.push(id);
    }
    if (elsewhere.size > 0) {
      const there = await endOnHosts(orch, elsewhere);
      ended.push(...there.ended);
      unreached.push(...there.unreached);
    }
  }
  appendFor(orch.paths, orch.status, { type: "orchestration_stopped", sessions: opts.sessions === true });
  await rebuildStatus(orch.paths);
  return { ...(pid !== undefined ? { monitorPid: pid } : {}), ended, unreached };
}

/** Ends the sessions of `stages` (id → its host and session) on their hosts, over each host's shared connection. */
async function endOnHosts(orch: LoadedOrchestration, stages: ReadonlyMap<string, { host: string; session: string }>): Promise<{ ended: string[]; unreached: string[] }> {
  const ended: string[] = [];
  const unreached: string[] = [];
  for (const host of new Set([...stages.values()].map((s) => s.host))) {
    try {
      const there = await openRunHost({ home: orch.paths.home, projectSlug: orch.status.project_slug, config: orch.config }, host);
      if (!there) throw new Error("not configured");
      for (const [id, s] of stages) if (s.host === host && (await there.tmux.killSession(s.session))) ended.push(id);
    } catch (error) {
      unreached.push(`host ${host}: ${(error as Error).message}`);
    }
  }
  return { ended, unreached };
}

/**
 * Ends stage `id`'s session wherever it runs: here, or on its host over the shared connection.
 * Undefined when it is ended (or there was none); else why its host could not be reached.
 */
export async function endStageSession(orch: LoadedOrchestration, id: string): Promise<string | undefined> {
  const stage = orch.status.stages[id]!;
  if (onThisMachine(stage.host)) {
    await createTmux(orch.config.tmuxSocket).killSession(stage.session);
    return undefined;
  }
  return (await endOnHosts(orch, new Map([[id, { host: stage.host, session: stage.session }]]))).unreached[0];
}

/**
 * Stage `id`'s branch as its host has it, into this repository's branch of that name (what `done`
 * checks is in the base): nothing for a stage that runs here. Throws when the host cannot be reached.
 */
export async function fetchFromStageHost(orch: LoadedOrchestration, id: string): Promise<void> {
  const stage = orch.status.stages[id]!;
  if (onThisMachine(stage.host)) return;
  const there = await openRunHost({ home: orch.paths.home, projectSlug: orch.status.project_slug, config: orch.config }, stage.host);
  if (!there) throw new Error(`host ${stage.host} is not in the configuration`);
  await fetchFromHost({ home: orch.paths.home }, there.target, { cwd: orch.status.project_root, remoteDir: there.info.root }, [stageBranchRefspec(stage.branch)]);
}

/**
 * A fresh start of a stage's worktree on a host, run there: $1 the project root, $2 the worktree,
 * $3 the branch, $4 the name it is kept under, $5 `check` or `act`. A change to a tracked file
 * refuses (exit 3, the first five listed); `check` says `notes` when the worktree holds files no
 * commit has (brought here before `act`), and refuses a kept name that is taken (exit 5); `act`
 * removes the worktree and keeps the branch aside (`kept`).
 */
const FRESH_ON_HOST = `cd -- "$1" || exit 0
if [ -d "$2" ]; then
  changed=$(git -C "$2" status --porcelain=v1 --untracked-files=no | head -n 5)
  if [ -n "$changed" ]; then printf '%s\\n' "$changed"; exit 3; fi
fi
if [ "$5" = check ]; then
  git rev-parse --verify -q "refs/heads/$4" >/dev/null && exit 5
  if [ -d "$2" ] && [ -n "$(git -C "$2" status --porcelain=v1 --untracked-files=all --ignored | head -n 1)" ]; then echo notes; fi
  exit 0
fi
if [ -d "$2" ]; then git worktree remove --force -- "$2" || exit 4; fi
git worktree prune
if git rev-parse --verify -q "refs/heads/$3" >/dev/null; then git branch -m -- "$3" "$4" || exit 5; echo kept; fi
exit 0`;

type ReachedHost = NonNullable<Awaited<ReturnType<typeof openRunHost>>>;

/** What a retry did on the stages' hosts, in lines for the person. */
export interface RetriedOnHosts {
  unreached: string[];
  keptBranches: string[];
  keptFiles: string[];
}

/**
 * Before a retry of stages that ran on other hosts (`stages`: id → host): their sessions there
 * end (a launch there would take a session it finds as its own), and with `fresh` their worktrees
 * there go and their branches are kept aside as `<branch>-attempt-<n>`, the files no commit holds
 * (the agent's plan and notes) brought here first, as a local retry keeps them. Without `fresh`, a
 * host that cannot be reached is said and left (the stage goes on elsewhere, and the host is
 * fenced when it is back); with it, that is refused, as is a change to a tracked file there.
 */
export async function retryOnHosts(orch: LoadedOrchestration, stages: ReadonlyMap<string, string>, fresh: boolean): Promise<RetriedOnHosts> {
  const done: RetriedOnHosts = { unreached: [], keptBranches: [], keptFiles: [] };
  // Every host first: one that refuses (unreachable, or a worktree there with changes) refuses the
  // retry before anything is done on any of them.
  const reached: { host: string; ids: string[]; there: ReachedHost }[] = [];
  for (const host of new Set(stages.values())) {
    const ids = [...stages].filter(([, h]) => h === host).map(([id]) => id);
    try {
      const there = await openRunHost({ home: orch.paths.home, projectSlug: orch.status.project_slug, config: orch.config }, host);
      if (!there) throw new Error("it is not in the configuration any more");
      reached.push({ host, ids, there });
    } catch (error) {
      const why = `host ${host} cannot be reached (${(error as Error).message})`;
      if (fresh) throw new RuntimeError(`stage ${ids.join(", ")} ran on ${why}: its worktree there cannot be removed; retry without --fresh-worktree (it then goes on elsewhere from its last copy kept here), or once the host is back.`);
      done.unreached.push(why);
    }
  }
  const afresh = new Map<string, FreshOnHost>();
  if (fresh) for (const { host, ids, there } of reached) for (const id of ids) afresh.set(id, await FreshOnHost.check({ orch, host, there, id }));
  for (const { ids, there } of reached) {
    for (const id of ids) {
      await there.tmux.killSession(orch.status.stages[id]!.session);
      await afresh.get(id)?.act(done);
    }
  }
  return done;
}

/** One stage's worktree on a host started afresh: looked at on every host first, then done. */
interface StageThere {
  orch: LoadedOrchestration;
  host: string;
  there: ReachedHost;
  id: string;
}

class FreshOnHost {
  private readonly orch: LoadedOrchestration;
  private readonly host: string;
  private readonly there: ReachedHost;
  private readonly id: string;

  private constructor(at: StageThere, private readonly notes: boolean) {
    ({ orch: this.orch, host: this.host, there: this.there, id: this.id } = at);
  }

  static async check(at: StageThere): Promise<FreshOnHost> {
    const looked = new FreshOnHost(at, false);
    const r = await looked.run("check");
    looked.refuse(r, "a branch of that name exists there");
    return new FreshOnHost(at, r.stdout.split("\n").includes("notes"));
  }

  private get stage(): LoadedOrchestration["status"]["stages"][string] {
    return this.orch.status.stages[this.id]!;
  }

  private get worktree(): string {
    return hostWorktree(this.there.info.root, basename(this.stage.worktree));
  }

  private get keptAs(): string {
    return `${this.stage.branch}-attempt-${this.stage.retries + 1}`;
  }

  private run(step: "check" | "act") {
    return runScript({ home: this.orch.paths.home }, this.there.target, FRESH_ON_HOST, { args: [this.there.info.root, this.worktree, this.stage.branch, this.keptAs, step], deadlineMs: 30_000 });
  }

  private refuse(r: { code: number | undefined; stdout: string }, taken: string): void {
    const { id, host } = this;
    if (r.code === 3) throw new UserError(`stage ${id}'s worktree on host ${host} (${this.worktree}) has uncommitted changes (${r.stdout.split("\n").filter((l) => l.length > 3).map((l) => l.slice(3)).join(", ")}); commit or undo them there, or retry without --fresh-worktree.`);
    if (r.code === 5) throw new RuntimeError(`could not keep stage ${id}'s branch ${this.stage.branch} on host ${host} as ${this.keptAs}: ${taken}; rename or delete it there, then retry.`);
  }

  /** Its session ended: its notes brought here, its worktree there removed, its branch kept aside. */
  async act(done: RetriedOnHosts): Promise<void> {
    const { orch, id, host } = this;
    if (this.notes) {
      const dir = attemptFilesDir(orch.paths, id, this.stage.retries + 1);
      const keep = new HostKeep({ ssh: { home: orch.paths.home }, paths: orch.paths, clock: realClock, log: monitorLogger(orch.paths), status: () => orch.status, hostOf: () => host, up: () => true, remote: async () => ({ target: this.there.target, root: this.there.info.root }) });
      const notes = await notesFromHost(keep, orch.status, { host, id, hostRoot: this.there.info.root, dir });
      if ("why" in notes) throw new RuntimeError(`stage ${id}'s worktree on host ${host} (${this.worktree}) holds files no commit has, and ${notes.why.replace(/^its notes /, "they ")}; commit or remove them there, or retry without --fresh-worktree.`);
      if (notes.files > 0) done.keptFiles.push(`Stage ${id}: its ${notes.files} uncommitted file(s) (plan, notes) on host ${host} are kept in ${dir}.`);
    }
    const r = await this.run("act");
    this.refuse(r, lastLine(r.stderr) ?? "git branch -m failed");
    if (!r.ok) throw new RuntimeError(`could not remove stage ${id}'s worktree on host ${host} (${this.worktree}): ${lastLine(r.stderr) ?? `exit ${r.code}`}; remove it there with git worktree remove, then retry.`);
    if (r.stdout.includes("kept")) done.keptBranches.push(`${this.keptAs} on host ${host}`);
  }
}

/**
 * Types `text` into stage `id`'s session, verified, and records it (`stall_continue_sent`, its
 * evidence marked `manual:`) when it was typed.
 */
export async function nudgeStage(orch: LoadedOrchestration, id: string, text: string, clock: Clock): Promise<NudgeResult> {
  const stage = orch.status.stages[id]!;
  const result = await verifiedNudge(createTmux(orch.config.tmuxSocket), stage.session, text, { clock });
  const log = monitorLogger(orch.paths);
  if (!result.sent) {
    log(`stage ${id}: a person's nudge was not typed: ${result.evidence}`);
    return result;
  }
  log(`stage ${id}: nudged by a person, ${result.verified ? "verified" : "not verified"}: ${result.evidence}`);
  appendFor(orch.paths, orch.status, {
    type: "stall_continue_sent",
    stage: id,
    message: text.slice(0, 500),
    verified: result.verified,
    attempt: stage.nudges + 1,
    evidence: `manual: ${result.evidence}`,
  });
  return result;
}
