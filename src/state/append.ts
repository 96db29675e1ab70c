/**
 * The one way a line gets into events.jsonl: one write(2) of one whole line to a file opened
 * O_APPEND, so writers in many processes never interleave inside a line. No schema here: this
 * module is what agents' hooks load, and must start fast; callers hand it a valid event.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { RuntimeError } from "../errors.js";

export function nowIso(date: Date = new Date()): string {
  return date.toISOString();
}

/** Appends `record` as one JSON line. Throws a RuntimeError naming the file when the disk refuses. */
export function appendLine(file: string, record: object): void {
  appendLines(file, [record]);
}

/** Appends `records`, one JSON line each, in one write: all of them, or (the disk refusing) none. */
export function appendLines(file: string, records: readonly object[]): void {
  const line = Buffer.from(records.map((r) => JSON.stringify(r) + "\n").join(""), "utf8");
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
}

function endsWithNewline(fd: number, size: number): boolean {
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  return last[0] === 0x0a;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** How long a tail without a newline must stay as it is before it counts as torn. */
const TORN_AFTER_MS = 200;

/**
 * A tail without a newline is torn only if it stays so: another process's append can be seen
 * half-way (the file grows a page at a time), and that writer can be off the CPU for a while on a
 * busy machine; "repairing" that would add an empty line. So it must stay unchanged for
 * TORN_AFTER_MS (a writer that died mid-line costs the next append that wait, once).
 */
function tornTail(fd: number, size: number): boolean {
  let seen = size;
  let since = Date.now();
  const giveUp = since + 10 * TORN_AFTER_MS;
  while (!endsWithNewline(fd, seen)) {
    if (Date.now() - since >= TORN_AFTER_MS || Date.now() >= giveUp) return true;
    Atomics.wait(pause, 0, 0, 15);
    const now = fstatSync(fd).size;
    if (now !== seen) {
      seen = now;
      since = Date.now();
    }
  }
  return false;
}

/** The first line of events.jsonl as plain JSON (no schema), without reading the rest. */
export function readFirstLine(file: string): Record<string, unknown> | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    const parts: Buffer[] = [];
    const chunk = Buffer.alloc(64 * 1024);
    for (let pos = 0; ; ) {
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n === 0) break;
      const nl = chunk.subarray(0, n).indexOf(0x0a);
      parts.push(Buffer.from(chunk.subarray(0, nl >= 0 ? nl : n)));
      if (nl >= 0) break;
      pos += n;
    }
    const value: unknown = JSON.parse(Buffer.concat(parts).toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
