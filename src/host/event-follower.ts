/**
 * Follows one host's copy of an orchestration's events file from a byte offset and appends each
 * line it accepts to the controller's events.jsonl, tagged with `host` and `host_offset` (where
 * the line ended on the host). The bytes come from a stream (`HostEventStream`, one long-lived
 * ssh call per host: `take`) or from one read of what the file holds now (`poll`).
 *
 * Exactly once: the complete lines of what was taken are appended in one write (all or none), and
 * the offset they reach travels inside them (`host_offset`). The offset is also kept in a small
 * state file (written atomically after the append), but a follower starting up resumes from the
 * larger of that file and the last `host_offset` of this host in events.jsonl: one killed between
 * its append and its state write neither repeats nor loses a line. Only complete lines are taken;
 * the bytes of a line still being written wait for the rest of it (a line longer than `maxBytes`
 * stops the follower: no event is that long).
 *
 * What a host may say: only the events agents and their hooks write (phase, hooks, reviews), each
 * naming a stage placed on that host and written after that stage's current attempt started there
 * (its launch reported the host file's length then), with this orchestration's identity on that
 * host. Anything else is rejected (reported, skipped, never appended).
 */
import { existsSync, readFileSync } from "node:fs";
import writeFileAtomic from "write-file-atomic";
import { runScript, type SshSettings, type SshTarget } from "../adapters/ssh.js";
import { AGENT_EVENT_TYPES } from "../types/agent-events.js";
import { appendEvents, readEventsFrom } from "../state/events.js";
import { eventSchema, type AutorunEvent, type EventType } from "../types/schemas.js";
import type { OrchPaths } from "../state/paths.js";
import { RuntimeError, ToolError } from "../errors.js";
import { lastLine } from "../adapters/exec.js";

/** Prints the file's size on a line, then its bytes from $2 (at most $3 of them); exit 4: no file. */
const READ = `[ -f "$1" ] || exit 4
wc -c < "$1" | tr -d ' '
tail -c +"$(($2 + 1))" -- "$1" | head -c "$3"`;

export interface FollowerOptions {
  s: SshSettings;
  target: SshTarget;
  /** The host's events file and orchestration directory (as `prepare` reported its home). */
  hostEvents: string;
  hostOrchDir: string;
  /** The controller's orchestration: where accepted lines go, and whose they must be. */
  paths: OrchPaths;
  identity: { plan_name: string; project_slug: string; started_ts: string };
  /** Stages placed on this host now → the host file's length when their current attempt started there. */
  placements: () => ReadonlyMap<string, number>;
  /** Where the offset reached is kept. */
  stateFile: string;
  /** At most this many bytes per poll, and in a line. */
  maxBytes?: number;
  /** A line the host may not write (its offset, why). */
  onRejected?: (offset: number, reason: string) => void;
  /** Test hook: called after the append, before the state file is written. */
  afterAppend?: () => void;
}

export interface TakeResult {
  accepted: AutorunEvent[];
  rejected: number;
}

export interface PollResult extends TakeResult {
  /** The host's file is longer than what was read: poll again now. */
  more: boolean;
}

export class HostEventFollower {
  private offset = 0;
  /** Bytes from `offset` on, taken but not yet a complete line. */
  private pending: Buffer = Buffer.alloc(0);
  private started = false;
  /** The host file's identity (device-inode) as its host reported it. */
  private fileId: string | undefined;
  /** Takes, one after the other. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: FollowerOptions) {}

  /** Where the lines judged so far end on the host. */
  get position(): number {
    return this.offset;
  }

  /** The host's offset the next bytes taken must start at. */
  get next(): number {
    return this.offset + this.pending.length;
  }

  get host(): string {
    return this.o.target.name;
  }

  /** The offset to resume from: the state file's, or further when events.jsonl has lines past it. */
  resume(): number {
    let saved = 0;
    try {
      const state = JSON.parse(readFileSync(this.o.stateFile, "utf8")) as { offset?: unknown; started_ts?: unknown; file?: unknown };
      if (typeof state.offset === "number" && state.started_ts === this.o.identity.started_ts) {
        saved = state.offset;
        if (typeof state.file === "string") this.fileId = state.file;
      }
    } catch {
      // none yet
    }
    let logged = 0;
    if (existsSync(this.o.paths.events)) {
      for (const e of readEventsFrom(this.o.paths.events).events) if (e.host === this.o.target.name && e.host_offset !== undefined && e.host_offset > logged) logged = e.host_offset;
    }
    this.offset = Math.max(saved, logged);
    this.pending = Buffer.alloc(0);
    this.started = true;
    return this.offset;
  }

  /**
   * The host reports which file it reads (device-inode): another file than the one read so far
   * under that name was put in its place, and is not followed.
   */
  async identify(id: string): Promise<void> {
    if (!this.started) this.resume();
    if (this.fileId === undefined) {
      this.fileId = id;
      await this.saveState();
    } else if (this.fileId !== id) {
      throw new RuntimeError(`host ${this.o.target.name}: ${this.o.hostEvents} was replaced by another file since it was read; it is not followed further.`);
    }
  }

  private async saveState(): Promise<void> {
    await writeFileAtomic(this.o.stateFile, JSON.stringify({ offset: this.offset, started_ts: this.o.identity.started_ts, ...(this.fileId !== undefined ? { file: this.fileId } : {}) }) + "\n", { mode: 0o600 });
  }

  /** Drops the bytes of a line not yet complete: the next read starts where the last complete line ended. */
  rewind(): number {
    if (!this.started) this.resume();
    this.pending = Buffer.alloc(0);
    return this.offset;
  }

  /**
   * The host file's bytes from `at` (which must be `next`): its complete lines judged, those
   * accepted appended in one write, the offset reached kept. Takes run one after the other.
   */
  take(at: number, bytes: Buffer): Promise<TakeResult> {
    const run = this.queue.then(() => this.takeNow(at, bytes));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** One read of what the host's file holds now past the offset reached (at most `maxBytes`). */
  async poll(): Promise<PollResult> {
    const from = this.rewind();
    const r = await runScript(this.o.s, this.o.target, READ, { args: [this.o.hostEvents, String(from), String(this.max)], deadlineMs: 10_000 });
    if (r.code === 4) return { accepted: [], rejected: 0, more: false };
    if (!r.ok) throw new ToolError(`reading the events of host ${this.o.target.name} failed: ${lastLine(r.stderr) ?? `exit ${r.code}`}`, { argv: ["ssh", this.o.target.destination, "tail", this.o.hostEvents], code: r.code, stderr: r.stderr });
    const nl = r.bytes.indexOf(0x0a);
    const size = Number(r.bytes.subarray(0, nl).toString("utf8"));
    if (!Number.isInteger(size)) throw new RuntimeError(`host ${this.o.target.name}: could not read the size of ${this.o.hostEvents}`);
    if (size < from) throw new RuntimeError(`host ${this.o.target.name}: ${this.o.hostEvents} is shorter (${size} bytes) than what was already read (${from}); it was replaced or cut, and is not followed further.`);
    const taken = await this.take(from, r.bytes.subarray(nl + 1));
    return { ...taken, more: this.next < size };
  }

  private get max(): number {
    return this.o.maxBytes ?? 1024 * 1024;
  }

  private tooLong(): RuntimeError {
    return new RuntimeError(`host ${this.o.target.name}: a line of ${this.o.hostEvents} at byte ${this.offset} is longer than ${this.max} bytes; no event is, so the file is not followed further.`);
  }

  private async takeNow(at: number, bytes: Buffer): Promise<TakeResult> {
    if (!this.started) this.resume();
    if (at !== this.next) throw new RuntimeError(`host ${this.o.target.name}: got the bytes of ${this.o.hostEvents} from ${at}, expected them from ${this.next}`);
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, bytes]) : bytes;
    const end = data.lastIndexOf(0x0a);
    if (end < 0) {
      if (data.length >= this.max) throw this.tooLong();
      this.pending = Buffer.from(data);
      return { accepted: [], rejected: 0 };
    }
    const accepted: Record<string, unknown>[] = [];
    let rejected = 0;
    const placements = this.o.placements();
    // Where the lines taken end: before a line too long, or after the last complete one.
    let taken = end + 1;
    for (let start = 0; start <= end; ) {
      const stop = data.indexOf(0x0a, start);
      if (stop - start >= this.max) {
        taken = start;
        break;
      }
      const at = this.offset + start;
      const verdict = this.judge(data.toString("utf8", start, stop), at, this.offset + stop + 1, placements);
      if (typeof verdict === "string") {
        if (verdict !== "") {
          rejected++;
          this.o.onRejected?.(at, verdict);
        }
      } else accepted.push(verdict);
      start = stop + 1;
    }
    const written = accepted.length > 0 ? appendEvents(this.o.paths.events, accepted) : [];
    this.o.afterAppend?.();
    this.offset += taken;
    this.pending = Buffer.from(data.subarray(taken));
    await this.saveState();
    if (taken <= end || this.pending.length >= this.max) throw this.tooLong();
    return { accepted: written, rejected };
  }

  /** The event to append for a line, or why not ("" for what is no news: blank lines, the first event). */
  private judge(text: string, at: number, lineEnd: number, placements: ReadonlyMap<string, number>): Record<string, unknown> | string {
    if (text.trim() === "") return "";
    let line: Record<string, unknown>;
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value !== "object" || value === null || Array.isArray(value)) return "not a JSON object";
      line = value as Record<string, unknown>;
    } catch {
      return "not JSON";
    }
    const id = this.o.identity;
    if (at === 0 && line.type === "orchestration_started") {
      if (line.ts !== id.started_ts || line.plan_name !== id.plan_name || line.project_slug !== id.project_slug) throw new RuntimeError(`host ${this.o.target.name}: ${this.o.hostEvents} belongs to another run (started ${String(line.ts)}); it is not followed.`);
      return "";
    }
    if (!AGENT_EVENT_TYPES.includes(line.type as EventType)) return `${String(line.type)} events are not written on a host`;
    if (line.orch_dir !== this.o.hostOrchDir || line.plan_name !== id.plan_name || line.project_slug !== id.project_slug) return "another orchestration's event";
    if (line.host !== undefined || line.host_offset !== undefined) return "a host may not set host or host_offset";
    const stage = typeof line.stage === "string" ? line.stage : undefined;
    if (stage === undefined) return "no stage";
    const from = placements.get(stage);
    if (from === undefined) return `stage ${stage} is not placed on host ${this.o.target.name}`;
    if (at < from) return `stage ${stage}: written before its current attempt started on this host`;
    const event = { ...line, orch_dir: this.o.paths.dir, host: this.o.target.name, host_offset: lineEnd };
    const parsed = eventSchema.safeParse(event);
    if (!parsed.success) return `invalid ${String(line.type)}: ${parsed.error.issues[0]?.path.join(".") ?? ""} ${parsed.error.issues[0]?.message ?? ""}`.trim();
    return event;
  }
}
