/**
 * The machines of one run, as the monitor drives them: where each stage runs now (from its
 * launch events), a `StageHost` per host, one `Tmux` routing each session to its host's tmux, one
 * event stream per host with stages (started from the monitor's tick, started again when it ends),
 * and host loss: a host that has not answered for `LOST_MS` (its stream says it is there every
 * second) is lost (its stages' sessions are recorded dead with reason `host_lost`),
 * and after the grace period its stages are relaunched elsewhere. A lost host that answers again
 * has its sessions of stages that moved ended before anything it reports is read.
 *
 * Exists only for a run whose configuration names another host with slots (or whose stages ran
 * on one): a run on this machine alone pays nothing for it.
 */
import { basename } from "node:path";
import type { SshSettings } from "../adapters/ssh.js";
import type { Tmux } from "../adapters/tmux.js";
import { otherHostsHaveSlots, resolveHosts, type HostSpec } from "../core/hosts.js";
import { placeStages, type Placement } from "../core/placement.js";
import type { HostEventFollower } from "../host/event-follower.js";
import { HostEventStream } from "../host/event-stream.js";
import { hostEventsFile } from "../host/protocol.js";
import { RemoteHost, runTmuxSocket } from "../host/remote-host.js";
import { LocalStageHost, RemoteStageHost, type StageHost } from "../host/stage-host.js";
import type { Config } from "../state/config.js";
import type { OrchPaths } from "../state/paths.js";
import type { AutorunEvent, Status } from "../types/schemas.js";
import { routedTmux } from "./host-tmux.js";
import { HostKeep } from "./host-keep.js";
import { HostStageWork } from "./host-stage-work.js";
import { hostFollower, logRejected, type Rejected } from "./host-follower.js";
import type { Clock } from "../core/clock.js";
import { stagesList } from "../core/printable.js";

/** A host that has not answered for this long is lost (its stream says it is there every second: ≤ 10 s from link loss). */
export const LOST_MS = 6_000;
const POLL_MS = 1_000;
/** A host's stream outlives its last stage by this long (a stage launched there soon after needs no new one). */
const LINGER_MS = 60_000;

export interface RunHostsDeps {
  paths: OrchPaths;
  config: Config;
  clock: Clock;
  log: (msg: string) => void;
  /** This machine's tmux. */
  tmux: Tmux;
  wake?: (afterMs?: number) => void;
}

interface Conn {
  remote: RemoteHost;
  stageHost: RemoteStageHost;
  follower?: HostEventFollower;
  stream?: HostEventStream;
  /** The stream is being made (the host's autorun checked first). */
  starting?: boolean;
  /** Since when the host has had no stage (its stream and its `host serve` end LINGER_MS later). */
  idleSince?: number;
  tmux?: Tmux;
  lastOk: number;
  /** When the host was declared lost (undefined: it answers). */
  lostAt?: number;
  /** Its stale sessions were ended since it was lost: what it says may be read. */
  fenced?: boolean;
  lastError?: string;
  /** Lines the follower refused since they were last logged, by reason. */
  rejected?: Rejected;
}

export class RunHosts {
  readonly specs: HostSpec[];
  readonly tmux: Tmux;
  /** Stages on another host now: host, and the host's events file length when their attempt started. */
  private readonly placed = new Map<string, { host: string; offset: number; session: string }>();
  private readonly conns = new Map<string, Conn>();
  private readonly local: LocalStageHost;
  /** When the pass this asked for last is due. */
  private wakeAt: number | undefined;
  readonly ssh: SshSettings;
  /** The copy kept here of the work of the stages on hosts (host-keep.ts). */
  readonly keep: HostKeep;
  /** Stages' git work on their hosts: fetched, the base pushed, cleaned up after merge. */
  private readonly work: HostStageWork;

  constructor(readonly deps: RunHostsDeps, private readonly status: () => Status) {
    this.specs = resolveHosts(deps.config);
    this.ssh = { home: deps.paths.home, connectTimeoutS: 5, aliveIntervalS: 2, aliveCountMax: 2 };
    this.local = new LocalStageHost(status().project_root, deps.paths.home);
    this.keep = new HostKeep({
      ssh: this.ssh,
      paths: deps.paths,
      clock: deps.clock,
      log: deps.log,
      status,
      hostOf: (id) => this.hostOf(id),
      up: (host) => this.up(host),
      remote: async (host) => {
        const c = this.conn(host);
        return { target: c.remote.target, root: (await c.remote.ready()).root };
      },
    });
    this.work = new HostStageWork({
      ssh: this.ssh,
      paths: deps.paths,
      log: deps.log,
      keep: this.keep,
      status,
      hostOf: (id) => this.hostOf(id),
      remoteHost: (host) => (this.spec(host) && !this.spec(host)!.local ? this.conn(host) : undefined),
      socket: () => this.socket(),
    });
    this.tmux = routedTmux(deps.tmux, {
      hostOfSession: (session) => this.hostOfSession(session),
      sessionsByHost: () => {
        const out = new Map<string, string[]>();
        for (const p of this.placed.values()) out.set(p.host, [...(out.get(p.host) ?? []), p.session]);
        return out;
      },
      remoteTmux: (host) => {
        const c = this.conns.get(host);
        return c && c.lostAt === undefined && c.tmux ? c.tmux : undefined;
      },
      unanswered: (host, error) => this.note(host, error),
    });
  }

  /** Another host with slots is configured, or a stage ran on one: the run uses hosts. */
  static wanted(config: Config, status: Status): boolean {
    return otherHostsHaveSlots(resolveHosts(config)) || Object.values(status.stages).some((s) => s.host !== undefined);
  }

  observe(event: AutorunEvent): void {
    this.keep.observe(event);
    if (event.stage === undefined || (event.type !== "stage_launched" && event.type !== "stage_relaunched")) return;
    if (event.host === undefined) {
      this.placed.delete(event.stage);
      return;
    }
    // A relaunch on the same host goes on from where the stage came to it: what its earlier
    // attempt there wrote, not yet read, is still its own.
    const before = this.placed.get(event.stage);
    const offset = before?.host === event.host && event.type === "stage_relaunched" ? before.offset : (event.events_offset ?? 0);
    this.placed.set(event.stage, { host: event.host, offset, session: event.session });
  }

  hostOf(stage: string): string {
    return this.placed.get(stage)?.host ?? "local";
  }

  private hostOfSession(session: string): string | undefined {
    for (const p of this.placed.values()) if (p.session === session) return p.host;
    return undefined;
  }

  up(host: string): boolean {
    return host === "local" || this.conns.get(host)?.lostAt === undefined;
  }

  spec(name: string): HostSpec | undefined {
    return this.specs.find((h) => h.name === name);
  }

  /** The host `name`'s side (made ready before use: the same autorun there, its root prepared). */
  async stageHost(name: string): Promise<StageHost> {
    if (name === "local") return this.local;
    const c = this.conn(name);
    await c.stageHost.ready();
    c.tmux ??= c.stageHost.tmux(this.socket());
    c.lastOk = Math.max(c.lastOk, this.deps.clock.now());
    return c.stageHost;
  }

  socket(): string {
    return runTmuxSocket(this.deps.config);
  }

  /**
   * Ahead of the launches on `host` of the stages `ids` from `commit` (a merge being checked): the
   * commit pushed there and their worktrees made there; best effort, beside the merge.
   */
  ahead(host: string, commit: string, ids: readonly string[]): void {
    if (!this.spec(host) || this.spec(host)!.local || !this.up(host)) return;
    const status = this.status();
    const worktrees = ids.map((id) => ({ worktree: basename(status.stages[id]!.worktree), branch: status.stages[id]!.branch }));
    const c = this.conn(host);
    // About to be used: not ended as idle under the work made ready there.
    c.idleSince = undefined;
    void c
      .remote.ahead(status.project_root, { commit, baseBranch: status.base_branch, worktrees })
      .then((why) => why && this.deps.log(`host ${host}: nothing made ahead of ${stagesList(ids)}'s launch there: ${why}`));
  }

  private conn(name: string): Conn {
    let c = this.conns.get(name);
    if (c) return c;
    const spec = this.spec(name);
    if (!spec || spec.local) throw new Error(`host ${name} is not configured`);
    const remote = new RemoteHost(this.ssh, spec, this.status().project_slug, this.deps.config.agentCommand);
    c = { remote, stageHost: new RemoteStageHost(remote, this.status().project_root), lastOk: this.deps.clock.now() };
    this.conns.set(name, c);
    return c;
  }

  /** Which host each of the ready stages `ids` runs on (or why it waits). */
  place(ids: readonly string[], exclude?: string): Placement[] {
    const status = this.status();
    const active = Object.entries(status.stages).filter(([, s]) => s.status === "in_progress" || s.status === "merging");
    return placeStages({
      hosts: this.specs.map((h) => ({ name: h.name, slots: h.slots, labels: h.labels, up: h.name !== exclude && this.up(h.name) })),
      running: active.filter(([id]) => !ids.includes(id)).map(([id, s]) => ({ stage: id, host: this.hostOf(id), exclusive_resources: s.settings.exclusive_resources ?? [] })),
      maxParallel: status.max_parallel,
      ready: ids.map((id) => {
        const s = status.stages[id]!;
        const previous = this.placed.get(id)?.host;
        return { id, ...(s.settings.host !== undefined ? { host: s.settings.host } : {}), needs: s.settings.needs ?? [], exclusive_resources: s.settings.exclusive_resources ?? [], ...(previous ? { previousHost: previous } : {}) };
      }),
    });
  }

  /** The stage's branch as the host has it, into this repository's branch of that name (the stage's last known tip). */
  fetchStage(id: string): Promise<void> {
    return this.work.fetch(id);
  }

  /** The base tip here, to the host of stage `id`, before it is told to rebase onto it. */
  pushBaseTo(id: string): Promise<void> {
    return this.work.pushBase(id);
  }

  /** After a merge: the stage's notes back from its host, its worktree and branch there gone, the copies here forgotten. */
  cleanupStage(id: string): Promise<void> {
    return this.work.cleanup(id);
  }

  /** Once per monitor: what merged stages `ids` left on their hosts (a predecessor killed mid-cleanup) goes. */
  reap(ids: readonly string[]): Promise<void> {
    return this.work.reap(ids);
  }

  /** An ssh call to `host` failed: no answer is no news of its sessions. */
  private note(host: string, error: unknown): void {
    const c = this.conns.get(host);
    const message = (error as Error).message;
    if (c && c.lastError !== message) {
      c.lastError = message;
      this.deps.log(`host ${host}: ${message}`);
    }
  }

  /**
   * On the monitor's tick: the events stream of each host that has stages started (it runs in the
   * background, and starts itself again when it ends); hosts silent for LOST_MS declared lost.
   * Returns the hosts lost at this call.
   */
  check(): string[] {
    const now = this.deps.clock.now();
    const lost: string[] = [];
    const busy = this.busyHosts();
    // A monitor started while stages run on hosts follows them from its first pass.
    for (const name of busy) if (this.spec(name)) this.conn(name);
    for (const [name, c] of this.conns) {
      if (!busy.has(name) && c.lostAt === undefined) {
        c.idleSince ??= now;
        if (now - c.idleSince >= LINGER_MS) {
          if (c.stream?.running) void c.stream.stop();
          c.remote.close();
        }
        continue;
      }
      c.idleSince = undefined;
      this.follow(name, c);
      if (c.lostAt === undefined && now - c.lastOk >= LOST_MS) {
        c.lostAt = now;
        c.fenced = false;
        lost.push(name);
      }
    }
    // A pass when a host's stream must start again or the host would count as lost (a lost one:
    // each second, for its return and its grace period); between those a healthy host's stream
    // runs on its own, and the monitor's passes keep their own pace.
    const due = [...this.conns].filter(([name]) => busy.has(name)).map(([, c]) => (c.stream?.running || c.starting ? Math.max(0, c.lastOk + LOST_MS - now) + 10 : POLL_MS));
    if (lost.length > 0 || [...this.conns.values()].some((c) => c.lostAt !== undefined)) this.wakeIn(POLL_MS);
    else if (due.length > 0) this.wakeIn(Math.min(...due));
    this.keep.tick();
    return lost;
  }

  /**
   * A pass in `ms`, unless one is already asked for by then: each pass asks again, so asking
   * every time would start a new chain of passes at each pass.
   */
  private wakeIn(ms: number): void {
    const now = this.deps.clock.now();
    if (this.wakeAt !== undefined && this.wakeAt > now && this.wakeAt <= now + ms) return;
    this.wakeAt = now + ms;
    this.deps.wake?.(ms);
  }

  /** Seconds since `host` last answered. */
  silentSeconds(host: string): number {
    const c = this.conns.get(host);
    return c ? Math.round((this.deps.clock.now() - c.lastOk) / 1000) : 0;
  }

  /** Hosts with stages running or merging on them. */
  private busyHosts(): Set<string> {
    return new Set([...this.placed.entries()].filter(([id]) => ["in_progress", "merging"].includes(this.status().stages[id]?.status ?? "")).map(([, p]) => p.host));
  }

  /** When `host` was lost (undefined: it answers). */
  lostAt(host: string): number | undefined {
    return this.conns.get(host)?.lostAt;
  }

  /** Stages placed on `host` now. */
  stagesOn(host: string): string[] {
    return [...this.placed.entries()].filter(([, p]) => p.host === host).map(([id]) => id);
  }

  /** Ends every host's events stream (the monitor stops; a later tick starts those it needs again). */
  async close(): Promise<void> {
    await Promise.all([...this.conns.values()].map((c) => c.stream?.stop()));
    for (const c of this.conns.values()) c.remote.close();
  }

  /** Starts the events stream of `name` unless it runs. */
  private follow(name: string, c: Conn): void {
    if (c.stream) return c.stream.start();
    if (c.starting) return;
    c.starting = true;
    const start = async (): Promise<void> => {
      const info = await c.remote.ready();
      // What launches there next (a dependant, a relaunch) finds the host's server running.
      c.remote.server.warm();
      const follower = (c.follower = hostFollower({
        ssh: this.ssh,
        target: c.remote.target,
        home: info.home,
        paths: this.deps.paths,
        name,
        placements: () => {
          const out = new Map<string, number>();
          for (const [id, p] of this.placed) if (p.host === name) out.set(id, p.offset);
          return out;
        },
        rejected: (c.rejected ??= new Map()),
      }));
      c.stream = new HostEventStream({
        s: this.ssh,
        target: c.remote.target,
        autorun: c.remote.spec.autorun,
        hostEvents: hostEventsFile(info.home, basename(this.deps.paths.dir)),
        follower,
        // Back after a loss: the sessions of stages that moved on are ended before anything it says is read.
        beforeStart: async () => {
          if (c.lostAt !== undefined && !c.fenced) {
            await this.fence(name, c);
            c.fenced = true;
          }
        },
        admit: () => c.lostAt === undefined || c.fenced === true,
        onAnswer: () => {
          c.lastOk = this.deps.clock.now();
          if (c.lostAt !== undefined) {
            this.deps.log(`host ${name}: answers again`);
            c.lostAt = undefined;
            c.fenced = false;
          }
          c.lastError = undefined;
          logRejected(this.deps.log, name, c.rejected);
        },
        onAccepted: () => this.deps.wake?.(),
        // Its panes are read once what its stages said is read: a monitor started again must not
        // take a stage that reported "implement done" and exited for a dead one.
        onCaughtUp: () => {
          c.tmux ??= c.stageHost.tmux(this.socket());
        },
        onError: (error) => {
          logRejected(this.deps.log, name, c.rejected);
          this.note(name, error);
        },
      });
      c.stream.start();
    };
    start()
      .catch((error: unknown) => this.note(name, error))
      .finally(() => {
        c.starting = false;
      });
  }

  /** Ends the host's sessions of this run's stages that are no longer placed on it. */
  private async fence(name: string, c: Conn): Promise<void> {
    const tmux = c.stageHost.tmux(this.socket());
    const mine = new Set(Object.values(this.status().stages).map((s) => s.session));
    for (const session of await tmux.listSessions()) {
      if (!mine.has(session)) continue;
      const id = Object.entries(this.status().stages).find(([, s]) => s.session === session)?.[0];
      if (id !== undefined && this.placed.get(id)?.host === name) continue;
      await tmux.killSession(session);
      // Its worktree there too: the stage went on elsewhere from the last tip fetched from here.
      if (id !== undefined) await this.work.remove(name, id);
      this.deps.log(`host ${name}: ended its stale session ${session} and removed its worktree there (stage ${id ?? "?"} runs elsewhere now)`);
    }
  }
}
