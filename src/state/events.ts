/**
 * events.jsonl: the source of truth. An append is one write(2) of one whole line to a file opened
 * O_APPEND, so writers in many processes never interleave inside a line; readers only consume
 * complete lines and remember the byte offset they reached.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync, existsSync } from "node:fs";
import { eventSchema, type AutorunEvent, type EventWithoutTs } from "./schemas.js";
import { RuntimeError, UserError } from "../errors.js";

export type NewEvent = EventWithoutTs & { ts?: string };

export function nowIso(date: Date = new Date()): string {
  return date.toISOString();
}

/** Validates and appends one event; throws a UserError naming the field when it is not valid. */
export function appendEvent(file: string, event: NewEvent | Record<string, unknown>): AutorunEvent {
  const candidate: Record<string, unknown> = { ts: nowIso(), ...event };
  const parsed = eventSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join(".") || "event";
    throw new UserError(`invalid ${String(candidate.type ?? "event")} event: ${where}: ${issue?.message ?? "invalid"}; nothing was appended.`);
  }
  const line = Buffer.from(JSON.stringify(parsed.data) + "\n", "utf8");
  let fd: number;
  try {
    fd = openSync(file, "a+", 0o600);
  } catch (error) {
    throw new RuntimeError(`cannot append to ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; check that the orchestration exists and the disk is writable.`, { cause: error });
  }
  let before = fstatSync(fd).size;
  try {
    // A writer that died mid-line (a crash, a full disk) left a torn tail: start on a new line, so
    // this event is not glued to the broken one and lost with it. (Two writers may both do this;
    // an empty line is harmless.)
    if (before > 0 && tornTail(fd, before)) {
      writeSync(fd, "\n");
      before = fstatSync(fd).size;
    }
    const written = writeSync(fd, line, 0, line.length);
    if (written !== line.length) {
      // Never leave half a line: take the partial bytes back if nobody appended after them.
      if (fstatSync(fd).size === before + written) ftruncateSync(fd, before);
      throw new RuntimeError(`short write to ${file} (${written} of ${line.length} bytes); the disk is full. Nothing was appended.`);
    }
  } catch (error) {
    if (error instanceof RuntimeError) throw error;
    // ENOSPC can still have written some bytes before failing.
    try {
      if (fstatSync(fd).size > before && fstatSync(fd).size < before + line.length) ftruncateSync(fd, before);
    } catch {
      // nothing more we can do
    }
    throw new RuntimeError(`cannot append to ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; free disk space or fix permissions. Nothing was appended.`, { cause: error });
  } finally {
    closeSync(fd);
  }
  return parsed.data;
}

function endsWithNewline(fd: number, size: number): boolean {
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  return last[0] === 0x0a;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * A tail without a newline is torn only if it stays so: another process's append can be seen
 * half-way for an instant, and "repairing" that would add an empty line. So look again shortly.
 */
function tornTail(fd: number, size: number): boolean {
  let seen = size;
  for (let look = 0; look < 20; look++) {
    if (endsWithNewline(fd, seen)) return false;
    Atomics.wait(pause, 0, 0, 15);
    const now = fstatSync(fd).size;
    if (now === seen) return !endsWithNewline(fd, now);
    seen = now;
  }
  return !endsWithNewline(fd, seen);
}

export interface EventChunk {
  events: AutorunEvent[];
  /** Byte offset just after the last complete line read. */
  offset: number;
  /** Lines that did not parse or validate (kept out of the fold, reported by callers). */
  invalid: { offset: number; text: string }[];
}

/** Reads the complete lines from `offset` on. A trailing partial line is left for next time. */
export function readEventsFrom(file: string, offset = 0): EventChunk {
  const chunk: EventChunk = { events: [], offset, invalid: [] };
  if (!existsSync(file)) return chunk;
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return chunk;
    const buf = Buffer.alloc(size - offset);
    let read = 0;
    while (read < buf.length) {
      const n = readSync(fd, buf, read, buf.length - read, offset + read);
      if (n === 0) break;
      read += n;
    }
    const lastNl = buf.lastIndexOf(0x0a, read - 1);
    if (lastNl < 0) return chunk;
    let start = 0;
    while (start <= lastNl) {
      const end = buf.indexOf(0x0a, start);
      const text = buf.toString("utf8", start, end);
      if (text.trim() !== "") {
        try {
          const parsed = eventSchema.safeParse(JSON.parse(text));
          if (parsed.success) chunk.events.push(parsed.data);
          else chunk.invalid.push({ offset: offset + start, text });
        } catch {
          chunk.invalid.push({ offset: offset + start, text });
        }
      }
      start = end + 1;
    }
    chunk.offset = offset + lastNl + 1;
    return chunk;
  } finally {
    closeSync(fd);
  }
}

export function readAllEvents(file: string): AutorunEvent[] {
  return readEventsFrom(file, 0).events;
}

/** The first event (orchestration_started) without reading the rest of the file. */
export function readFirstEvent(file: string): AutorunEvent | undefined {
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, "r");
  try {
    const parts: Buffer[] = [];
    const chunk = Buffer.alloc(64 * 1024);
    for (let pos = 0; ; ) {
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n === 0) return undefined;
      const nl = chunk.subarray(0, n).indexOf(0x0a);
      parts.push(Buffer.from(chunk.subarray(0, nl >= 0 ? nl : n)));
      if (nl >= 0) break;
      pos += n;
    }
    const parsed = eventSchema.safeParse(JSON.parse(Buffer.concat(parts).toString("utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
