/**
 * The machines of one run, as the monitor drives them: where each stage runs now (from its
 * launch events), placement of ready stages, a `StageHost` per host, one `Tmux` routing each
 * session to its host's tmux, and the stages' git work on their hosts. The link to each host (its
 * connection, events stream and liveness) is host-links.ts; a lost host's stages are recorded dead
 * and relaunched elsewhere by host-loss.ts. A lost host that answers again has its sessions of
 * stages that moved ended (`fence`, here) before anything it reports is read.
 *
 * Exists only for a run whose configuration names another host with slots (or whose stages ran
 * on one): a run on this machine alone pays nothing for it.
 */
import { basename } from "node:path";
import type { SshSettings } from "../adapters/ssh.js";
import type { Tmux } from "../adapters/tmux.js";
import { otherHostsHaveSlots, resolveHosts, type HostSpec } from "../core/hosts.js";
import { placeStages, type Placement } from "../core/placement.js";
import { runTmuxSocket } from "../host/remote-host.js";
import { LocalStageHost, type StageHost } from "../host/stage-host.js";
import type { Config } from "../state/config.js";
import type { OrchPaths } from "../state/paths.js";
import type { AutorunEvent, Status } from "../types/schemas.js";
import { routedTmux } from "./host-tmux.js";
import { HostKeep } from "./host-keep.js";
import { HostLinks } from "./host-links.js";
import { HostStageWork } from "./host-stage-work.js";
import type { Clock } from "../core/clock.js";
import { stagesList } from "../core/printable.js";

export { LOST_MS } from "./host-links.js";

export interface RunHostsDeps {
  paths: OrchPaths;
  config: Config;
  clock: Clock;
  log: (msg: string) => void;
  /** This machine's tmux. */
  tmux: Tmux;
  wake?: (afterMs?: number) => void;
}

/** How long a host whose launch failed is left out of placement. */
const REFUSED_MS = 60_000;

export class RunHosts {
  readonly specs: HostSpec[];
  readonly tmux: Tmux;
  /** Stages on another host now: host, and the host's events file length when their attempt started. */
  private readonly placed = new Map<string, { host: string; offset: number; session: string }>();
  /** Every host each stage was launched on, this one excepted. */
  private readonly launchedOn = new Map<string, Set<string>>();
  /** Hosts whose last launch failed: until when they are left out of placement, and why. */
  private readonly refused = new Map<string, { until: number; why: string }>();
  private readonly local: LocalStageHost;
  readonly ssh: SshSettings;
  /** The link to each other host: connection, events stream, liveness (host-links.ts). */
  private readonly links: HostLinks;
  /** The copy kept here of the work of the stages on hosts (host-keep.ts). */
  readonly keep: HostKeep;
  /** Stages' git work on their hosts: fetched, the base pushed, cleaned up after merge. */
  private readonly work: HostStageWork;

  constructor(readonly deps: RunHostsDeps, private readonly status: () => Status) {
    this.specs = resolveHosts(deps.config);
    this.ssh = { home: deps.paths.home, connectTimeoutS: 5, aliveIntervalS: 2, aliveCountMax: 2 };
    this.local = new LocalStageHost(status().project_root, deps.paths.home);
    this.links = new HostLinks({
      ssh: this.ssh,
      paths: deps.paths,
      clock: deps.clock,
      log: deps.log,
      agentCommand: deps.config.agentCommand,
      socket: this.socket(),
      status,
      spec: (name) => this.spec(name),
      busy: () => this.busyHosts(),
      placements: (host) => {
        const out = new Map<string, number>();
        for (const [id, p] of this.placed) if (p.host === host) out.set(id, p.offset);
        return out;
      },
      fence: (host, tmux) => this.fence(host, tmux),
      ...(deps.wake ? { wake: deps.wake } : {}),
    });
    this.keep = new HostKeep({
      ssh: this.ssh,
      paths: deps.paths,
      clock: deps.clock,
      log: deps.log,
      status,
      hostOf: (id) => this.hostOf(id),
      up: (host) => this.up(host),
      remote: async (host) => {
        const { remote } = this.links.conn(host);
        return { target: remote.target, root: (await remote.ready()).root };
      },
    });
    this.work = new HostStageWork({
      ssh: this.ssh,
      paths: deps.paths,
      log: deps.log,
      keep: this.keep,
      status,
      hostOf: (id) => this.hostOf(id),
      remoteHost: (host) => (this.spec(host) && !this.spec(host)!.local ? this.links.conn(host) : undefined),
      socket: () => this.socket(),
    });
    this.tmux = routedTmux(deps.tmux, {
      hostOfSession: (session) => this.hostOfSession(session),
      sessionsByHost: () => {
        const out = new Map<string, string[]>();
        for (const p of this.placed.values()) out.set(p.host, [...(out.get(p.host) ?? []), p.session]);
        return out;
      },
      remoteTmux: (host) => this.links.tmux(host),
      unanswered: (host, error) => this.links.note(host, error),
    });
  }

  /** Another host with slots is configured, or a stage ran on one: the run uses hosts. */
  static wanted(config: Config, status: Status): boolean {
    return otherHostsHaveSlots(resolveHosts(config)) || Object.values(status.stages).some((s) => s.host !== undefined);
  }

  observe(event: AutorunEvent): void {
    this.keep.observe(event);
    if (event.stage === undefined || (event.type !== "stage_launched" && event.type !== "stage_relaunched")) return;
    if (event.host !== undefined) this.launchedOn.set(event.stage, (this.launchedOn.get(event.stage) ?? new Set()).add(event.host));
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
    return this.links.up(host);
  }

  /**
   * A launch on `host` failed (it cannot be prepared: unreachable, another autorun there, …): it is
   * left out of placement for `REFUSED_MS`, so stages not pinned to it go elsewhere and those pinned
   * wait, then tried again. Logged when the reason is new; returns whether it is.
   */
  refuse(host: string, why: string, ids: readonly string[]): boolean {
    const before = this.refused.get(host);
    this.refused.set(host, { until: this.deps.clock.now() + REFUSED_MS, why });
    if (before?.why === why) return false;
    this.deps.log(`host ${host}: could not launch ${stagesList(ids)} there: ${why}; no stage is placed there for ${REFUSED_MS / 1000} s (one pinned there waits), then it is tried again`);
    return true;
  }

  /** Left out of placement after a failed launch. */
  private refusedNow(host: string): boolean {
    const r = this.refused.get(host);
    return r !== undefined && this.deps.clock.now() < r.until;
  }

  spec(name: string): HostSpec | undefined {
    return this.specs.find((h) => h.name === name);
  }

  /** The host `name`'s side (made ready before use: the same autorun there, its root prepared). */
  async stageHost(name: string): Promise<StageHost> {
    return name === "local" ? this.local : this.links.ready(name);
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
    void this.links
      .using(host)
      .ahead(status.project_root, { commit, baseBranch: status.base_branch, worktrees })
      .then((why) => why && this.deps.log(`host ${host}: nothing made ahead of ${stagesList(ids)}'s launch there: ${why}`));
  }

  /** Which host each of the ready stages `ids` runs on (or why it waits). */
  place(ids: readonly string[], exclude?: string): Placement[] {
    const status = this.status();
    const active = Object.entries(status.stages).filter(([, s]) => s.status === "in_progress" || s.status === "merging");
    return placeStages({
      hosts: this.specs.map((h) => ({ name: h.name, slots: h.slots, labels: h.labels, up: h.name !== exclude && this.up(h.name) && !this.refusedNow(h.name) })),
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

  /**
   * On the monitor's tick: each busy host's events stream kept running, hosts silent for
   * `LOST_MS` declared lost (host-links.ts), and the copies of hosts' work kept. Returns the hosts
   * lost at this call.
   */
  check(): string[] {
    const lost = this.links.check();
    this.keep.tick();
    return lost;
  }

  /** Seconds since `host` last answered. */
  silentSeconds(host: string): number {
    return this.links.silentSeconds(host);
  }

  /** Hosts with stages running or merging on them. */
  private busyHosts(): Set<string> {
    return new Set([...this.placed.entries()].filter(([id]) => ["in_progress", "merging"].includes(this.status().stages[id]?.status ?? "")).map(([, p]) => p.host));
  }

  /** When `host` was lost (undefined: it answers). */
  lostAt(host: string): number | undefined {
    return this.links.lostAt(host);
  }

  /** Stages placed on `host` now. */
  stagesOn(host: string): string[] {
    return [...this.placed.entries()].filter(([, p]) => p.host === host).map(([id]) => id);
  }

  /**
   * Per host lost now, the sessions of stages that were launched there and run (or ran) elsewhere
   * since: cut off, they may still run there, and only a monitor that hears the host again ends them.
   */
  cutOff(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [id, hosts] of this.launchedOn) {
      const session = this.status().stages[id]?.session;
      for (const host of hosts) {
        if (session === undefined || this.lostAt(host) === undefined || this.placed.get(id)?.host === host) continue;
        out.set(host, [...(out.get(host) ?? []), session]);
      }
    }
    return out;
  }

  /** Ends every host's events stream (the monitor stops; a later tick starts those it needs again). */
  close(): Promise<void> {
    return this.links.close();
  }

  /** Ends the host's sessions of this run's stages that are no longer placed on it. */
  private async fence(name: string, tmux: Tmux): Promise<void> {
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
