/**
 * events.jsonl: the source of truth. An append is one write(2) of one whole line to a file opened
 * O_APPEND, so writers in many processes never interleave inside a line; readers only consume
 * complete lines and remember the byte offset they reached.
 */
import { closeSync, fstatSync, openSync, readSync, existsSync } from "node:fs";
import { eventSchema, type AutorunEvent, type EventWithoutTs } from "../types/schemas.js";
import { UserError } from "../errors.js";
import { appendLines, nowIso, readFirstLine } from "./append.js";

export { nowIso };

export type NewEvent = EventWithoutTs & { ts?: string };

/** Validates and appends one event; throws a UserError naming the field when it is not valid. */
export function appendEvent(file: string, event: NewEvent | Record<string, unknown>): AutorunEvent {
  return appendEvents(file, [event])[0]!;
}

/**
 * Validates and appends several events in one write (all or none), each stamped with the time of
 * writing unless it has its own.
 */
export function appendEvents(file: string, events: readonly (NewEvent | Record<string, unknown>)[]): AutorunEvent[] {
  const ts = nowIso();
  const valid = events.map((event) => {
    const candidate: Record<string, unknown> = { ts, ...event };
    const parsed = eventSchema.safeParse(candidate);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.join(".") || "event";
      throw new UserError(`invalid ${String(candidate.type ?? "event")} event: ${where}: ${issue?.message ?? "invalid"}; nothing was appended.`);
    }
    return parsed.data;
  });
  if (valid.length > 0) appendLines(file, valid);
  return valid;
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
  const first = readFirstLine(file);
  const parsed = first ? eventSchema.safeParse(first) : undefined;
  return parsed?.success ? parsed.data : undefined;
}
