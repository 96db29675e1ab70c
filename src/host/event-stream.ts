/**
 * A host's events as they are written: one long-lived `autorun host follow <file> <offset>` on the
 * host over its shared ssh connection (src/host/follow-side.ts), whose frames feed a
 * `HostEventFollower`. The host's side wakes on the file's changes, so a line written there is
 * here within one ssh round trip, and says it is there once a second while nothing is written (its
 * heartbeat: how the controller knows the host answers).
 *
 * When the stream ends (ssh failed, the host or its link is lost, the host's side stopped) or
 * stalls (no frame for `stallMs`), it is started again after a backoff, from where the follower's
 * last complete line ended: bytes of a line not yet complete are read again, whole lines never.
 */
import { openScript, type OpenScript, type SshSettings, type SshTarget } from "../adapters/ssh.js";
import type { AutorunEvent } from "../types/schemas.js";
import { RuntimeError, ToolError } from "../errors.js";
import type { HostEventFollower } from "./event-follower.js";
import { FOLLOW_HEARTBEAT_MS } from "./protocol.js";

/** The host's autorun in place of the shell: its stdin is the call's, held open until we close it. */
const FOLLOW = 'exec "$1" host follow "$2" "$3"';

/** A frame's header is short; more than this without a newline is not the host's side talking. */
const MAX_HEADER = 256;

export interface StreamOptions {
  s: SshSettings;
  target: SshTarget;
  /** The host's autorun command. */
  autorun: string;
  /** The host's events file. */
  hostEvents: string;
  follower: HostEventFollower;
  /** Before each start; a throw is a failed start (tried again after the backoff). */
  beforeStart?: () => Promise<void>;
  /** Before each frame is read: false when what the host says may not be read now (the stream is started again, through `beforeStart`). */
  admit?: () => boolean;
  /** A frame was read: the host answers. */
  onAnswer?: () => void;
  onAccepted?: (events: AutorunEvent[]) => void;
  /** The host's file was read to its end since the stream started. */
  onCaughtUp?: () => void;
  /** Why the stream ended or could not start; it starts again after the backoff. */
  onError?: (error: Error) => void;
  /** No frame for this long: the stream is taken for stuck and started again. */
  stallMs?: number;
  backoffMs?: { min: number; max: number };
  /** How long before a stream whose host file could not be followed is tried again. */
  brokenRetryMs?: number;
}

export class HostEventStream {
  private proc: OpenScript | undefined;
  /** Each start and each stop makes the one before it stale: its frames and its end are ignored. */
  private gen = 0;
  private stopped = true;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private caughtUp = false;
  /** Frames, read one after the other. */
  private queue: Promise<void> = Promise.resolve();
  /** Starts so far (the first included). */
  starts = 0;

  constructor(private readonly o: StreamOptions) {}

  get running(): boolean {
    return !this.stopped;
  }

  /** The pid of the ssh client of the stream under way. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.run();
  }

  /** Ends the host's side and stops; resolves once no frame is being read. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.gen++;
    clearTimeout(this.retry);
    clearTimeout(this.watchdog);
    const proc = this.proc;
    this.proc = undefined;
    await proc?.close();
    await this.queue;
  }

  /** Ends the stream under way and starts it again (through `beforeStart`) at once. */
  restart(): void {
    if (this.stopped) return;
    this.end();
    void this.run();
  }

  private end(): void {
    this.gen++;
    clearTimeout(this.retry);
    clearTimeout(this.watchdog);
    const proc = this.proc;
    this.proc = undefined;
    void proc?.close(500);
  }

  private async run(): Promise<void> {
    const gen = ++this.gen;
    try {
      await this.o.beforeStart?.();
      // The frames of the stream before are read (or dropped) before the offset is taken.
      await this.queue;
      if (gen !== this.gen) return;
      const from = this.o.follower.rewind();
      this.buf = Buffer.alloc(0);
      this.caughtUp = false;
      this.starts++;
      const proc = (this.proc = openScript(this.o.s, this.o.target, FOLLOW, [this.o.autorun, this.o.hostEvents, String(from)]));
      proc.stdout.on("data", (b: Buffer) => this.data(gen, b));
      this.arm(gen);
      const end = await proc.exited;
      // The last frames may still be on their way when the client has exited.
      await Promise.race([new Promise((r) => proc.stdout.once("end", r)), new Promise((r) => setTimeout(r, 300))]);
      await this.queue;
      if (gen !== this.gen) return;
      const why = end.stderr || (end.signal ? `ssh ended by ${end.signal}` : `exit ${end.code ?? "?"}`);
      throw new ToolError(`following the events of host ${this.o.target.name}: the stream ended (${why})`, { argv: ["ssh", this.o.target.destination, "autorun", "host", "follow", this.o.hostEvents], code: end.code, stderr: end.stderr });
    } catch (error) {
      this.fail(gen, error as Error);
    }
  }

  /**
   * The stream of `gen` failed: reported, and started again after the backoff. A `broken` one
   * (the host's file cannot be followed as it is: replaced, cut, another run's, a line too long)
   * is tried again only every `brokenRetryMs`: a person has to mend it.
   */
  private fail(gen: number, error: Error, broken = false): void {
    if (gen !== this.gen || this.stopped) return;
    this.end();
    this.o.onError?.(error);
    this.failures++;
    const { min, max } = this.o.backoffMs ?? { min: 250, max: 5_000 };
    const delay = broken ? (this.o.brokenRetryMs ?? 30_000) : Math.min(max, min * 2 ** (this.failures - 1));
    this.retry = setTimeout(() => {
      if (!this.stopped) void this.run();
    }, delay);
  }

  /** A stream that says nothing for `stallMs` (a heartbeat comes every second) is stuck. */
  private arm(gen: number): void {
    clearTimeout(this.watchdog);
    const ms = this.o.stallMs ?? 10 * FOLLOW_HEARTBEAT_MS;
    this.watchdog = setTimeout(() => this.fail(gen, new ToolError(`following the events of host ${this.o.target.name}: nothing from it for ${ms / 1000} s`, { argv: ["ssh", this.o.target.destination, "autorun", "host", "follow", this.o.hostEvents], timedOut: true })), ms);
    this.watchdog.unref();
  }

  private data(gen: number, chunk: Buffer): void {
    if (gen !== this.gen) return;
    this.arm(gen);
    this.buf = this.buf.length > 0 ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) {
        if (this.buf.length > MAX_HEADER) this.fail(gen, this.garbled(this.buf), true);
        return;
      }
      const header = this.buf.toString("latin1", 0, nl);
      const d = /^D (\d{1,15}) (\d{1,9})$/.exec(header);
      if (d) {
        const size = Number(d[2]);
        if (this.buf.length < nl + 1 + size) return;
        const bytes = this.buf.subarray(nl + 1, nl + 1 + size);
        this.buf = this.buf.subarray(nl + 1 + size);
        const at = Number(d[1]);
        this.read(gen, async () => {
          const r = await this.o.follower.take(at, bytes);
          if (r.accepted.length > 0) this.o.onAccepted?.(r.accepted);
        });
        continue;
      }
      this.buf = this.buf.subarray(nl + 1);
      const h = /^H (\d{1,15})$/.exec(header);
      if (h) {
        const size = Number(h[1]);
        this.read(gen, () => {
          if (!this.caughtUp && this.o.follower.next >= size) {
            this.caughtUp = true;
            this.o.onCaughtUp?.();
          }
        });
        continue;
      }
      const i = /^I (\d{1,20}-\d{1,20})$/.exec(header);
      if (i) {
        this.read(gen, () => this.o.follower.identify(i[1]!));
        continue;
      }
      const e = /^E (.*)$/.exec(header);
      this.fail(gen, e ? new RuntimeError(`host ${this.o.target.name}: ${e[1]!}; it is not followed further.`) : this.garbled(Buffer.from(header, "latin1")), true);
      return;
    }
  }

  /** Reads one frame after those before it, unless the stream is stale by then or the host may not be heard yet. */
  private read(gen: number, fn: () => unknown): void {
    this.queue = this.queue.then(async () => {
      if (gen !== this.gen) return;
      if (this.o.admit && !this.o.admit()) {
        this.restart();
        return;
      }
      try {
        await fn();
      } catch (error) {
        this.fail(gen, error as Error, error instanceof RuntimeError);
        return;
      }
      this.failures = 0;
      this.o.onAnswer?.();
    });
  }

  private garbled(bytes: Buffer): Error {
    return new RuntimeError(`following the events of host ${this.o.target.name}: its autorun host follow said ${JSON.stringify(bytes.toString("utf8", 0, 120))}, not a frame`);
  }
}
