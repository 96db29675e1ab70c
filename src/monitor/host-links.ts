/**
 * The monitor's link to each other host of a run: one connection per host (its `RemoteHost` and
 * `RemoteStageHost`), its events stream (started from the monitor's tick, started again when it
 * ends), and liveness: a host that has not answered for `LOST_MS` (its stream says it is there
 * every second) is lost. A lost host that answers again has its stale sessions fenced (ended by
 * the caller's `fence`) before anything it reports is read. A host with no stage for `LINGER_MS`
 * has its stream and its `host serve` ended.
 *
 * Knows nothing of which stage runs where beyond what it is asked: `busy` and `placements` come
 * from the run (run-hosts.ts).
 */
import { basename } from "node:path";
import type { SshSettings } from "../adapters/ssh.js";
import type { Tmux } from "../adapters/tmux.js";
import type { Clock } from "../core/clock.js";
import type { HostSpec } from "../core/hosts.js";
import type { HostEventFollower } from "../host/event-follower.js";
import { HostEventStream } from "../host/event-stream.js";
import { hostEventsFile } from "../host/protocol.js";
import { RemoteHost } from "../host/remote-host.js";
import { RemoteStageHost } from "../host/stage-host.js";
import type { Config } from "../state/config.js";
import type { OrchPaths } from "../state/paths.js";
import type { Status } from "../types/schemas.js";
import { hostFollower, logRejected, type Rejected } from "./host-follower.js";

/** A host that has not answered for this long is lost (its stream says it is there every second: ≤ 10 s from link loss). */
export const LOST_MS = 6_000;
const POLL_MS = 1_000;
/** A host's stream outlives its last stage by this long (a stage launched there soon after needs no new one). */
const LINGER_MS = 60_000;

export interface HostLinksDeps {
  ssh: SshSettings;
  paths: OrchPaths;
  clock: Clock;
  log: (msg: string) => void;
  agentCommand: Config["agentCommand"];
  /** The run's tmux socket name (the same on every host). */
  socket: string;
  status: () => Status;
  spec: (name: string) => HostSpec | undefined;
  /** Hosts with stages running or merging on them. */
  busy: () => Set<string>;
  /** The stages placed on `host` now, with the byte offset of its events file their attempt there started at. */
  placements: (host: string) => Map<string, number>;
  /** Ends `host`'s sessions of stages that moved elsewhere while it was lost. */
  fence: (host: string, tmux: Tmux) => Promise<void>;
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

export class HostLinks {
  private readonly conns = new Map<string, Conn>();
  /** When the pass this asked for last is due. */
  private wakeAt: number | undefined;

  constructor(private readonly d: HostLinksDeps) {}

  /** The connection to `name` (made on first use, not yet opened). */
  conn(name: string): { remote: RemoteHost; stageHost: RemoteStageHost } {
    return this.entry(name);
  }

  private entry(name: string): Conn {
    let c = this.conns.get(name);
    if (c) return c;
    const spec = this.d.spec(name);
    if (!spec || spec.local) throw new Error(`host ${name} is not configured`);
    const status = this.d.status();
    const remote = new RemoteHost(this.d.ssh, spec, status.project_slug, this.d.agentCommand);
    c = { remote, stageHost: new RemoteStageHost(remote, status.project_root), lastOk: this.d.clock.now() };
    this.conns.set(name, c);
    return c;
  }

  /** The host `name`'s side, made ready (the same autorun there, its root prepared); it answered. */
  async ready(name: string): Promise<RemoteStageHost> {
    const c = this.entry(name);
    await c.stageHost.ready();
    c.tmux ??= c.stageHost.tmux(this.d.socket);
    c.lastOk = Math.max(c.lastOk, this.d.clock.now());
    return c.stageHost;
  }

  /** About to be used: not ended as idle under work being made ready there. */
  using(name: string): RemoteHost {
    const c = this.entry(name);
    c.idleSince = undefined;
    return c.remote;
  }

  up(host: string): boolean {
    return host === "local" || this.conns.get(host)?.lostAt === undefined;
  }

  /** The tmux of `host` while it answers and its stages' reports are read. */
  tmux(host: string): Tmux | undefined {
    const c = this.conns.get(host);
    return c && c.lostAt === undefined && c.tmux ? c.tmux : undefined;
  }

  /** An ssh call to `host` failed: no answer is no news of its sessions. */
  note(host: string, error: unknown): void {
    const c = this.conns.get(host);
    const message = (error as Error).message;
    if (c && c.lastError !== message) {
      c.lastError = message;
      this.d.log(`host ${host}: ${message}`);
    }
  }

  /**
   * On the monitor's tick: the events stream of each host that has stages started (it runs in the
   * background, and starts itself again when it ends); hosts silent for LOST_MS declared lost.
   * Returns the hosts lost at this call.
   */
  check(): string[] {
    const now = this.d.clock.now();
    const lost: string[] = [];
    const busy = this.d.busy();
    // A monitor started while stages run on hosts follows them from its first pass.
    for (const name of busy) if (this.d.spec(name)) this.entry(name);
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
    return lost;
  }

  /**
   * A pass in `ms`, unless one is already asked for by then: each pass asks again, so asking
   * every time would start a new chain of passes at each pass.
   */
  private wakeIn(ms: number): void {
    const now = this.d.clock.now();
    if (this.wakeAt !== undefined && this.wakeAt > now && this.wakeAt <= now + ms) return;
    this.wakeAt = now + ms;
    this.d.wake?.(ms);
  }

  /** Seconds since `host` last answered. */
  silentSeconds(host: string): number {
    const c = this.conns.get(host);
    return c ? Math.round((this.d.clock.now() - c.lastOk) / 1000) : 0;
  }

  /** When `host` was lost (undefined: it answers). */
  lostAt(host: string): number | undefined {
    return this.conns.get(host)?.lostAt;
  }

  /** Ends every host's events stream and connection (the monitor stops; a later tick starts those it needs again). */
  async close(): Promise<void> {
    await Promise.all([...this.conns.values()].map((c) => c.stream?.stop()));
    for (const c of this.conns.values()) c.remote.close();
  }

  /** Starts the events stream of `name` unless it runs. */
  private follow(name: string, c: Conn): void {
    if (c.stream) return c.stream.start();
    if (c.starting) return;
    c.starting = true;
    this.startStream(name, c)
      .catch((error: unknown) => this.note(name, error))
      .finally(() => {
        c.starting = false;
      });
  }

  private async startStream(name: string, c: Conn): Promise<void> {
    const info = await c.remote.ready();
    // What launches there next (a dependant, a relaunch) finds the host's server running.
    c.remote.server.warm();
    const follower = (c.follower = hostFollower({
      ssh: this.d.ssh,
      target: c.remote.target,
      home: info.home,
      paths: this.d.paths,
      name,
      placements: () => this.d.placements(name),
      rejected: (c.rejected ??= new Map()),
    }));
    c.stream = new HostEventStream({
      s: this.d.ssh,
      target: c.remote.target,
      autorun: c.remote.spec.autorun,
      hostEvents: hostEventsFile(info.home, basename(this.d.paths.dir)),
      follower,
      // Back after a loss: the sessions of stages that moved on are ended before anything it says is read.
      beforeStart: async () => {
        if (c.lostAt !== undefined && !c.fenced) {
          await this.d.fence(name, c.stageHost.tmux(this.d.socket));
          c.fenced = true;
        }
      },
      admit: () => c.lostAt === undefined || c.fenced === true,
      onAnswer: () => this.answered(name, c),
      onAccepted: () => this.d.wake?.(),
      // Its panes are read once what its stages said is read: a monitor started again must not
      // take a stage that reported "implement done" and exited for a dead one.
      onCaughtUp: () => {
        c.tmux ??= c.stageHost.tmux(this.d.socket);
      },
      onError: (error) => {
        logRejected(this.d.log, name, c.rejected);
        this.note(name, error);
      },
    });
    c.stream.start();
  }

  private answered(name: string, c: Conn): void {
    c.lastOk = this.d.clock.now();
    if (c.lostAt !== undefined) {
      this.d.log(`host ${name}: answers again`);
      c.lostAt = undefined;
      c.fenced = false;
    }
    c.lastError = undefined;
    logRejected(this.d.log, name, c.rejected);
  }
}
