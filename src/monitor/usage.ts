/**
 * Reads what a stage's Claude Code transcripts gained since the last read — only the new bytes,
 * only complete lines — and keeps the stage's running total (see core/usage.ts for the pricing).
 *
 * The path comes from a hook payload, which the agent can write: it is opened non-blocking (a
 * FIFO or a device never holds the monitor in `open()`), read only when it is a regular file, and
 * read a bounded amount at a time. Each transcript is read on from where it was read last, so a
 * stage whose hooks name two transcripts in turn counts each byte once.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { addUsage, messageUsage, ZERO, type Price } from "../core/usage.js";
import type { EventOf, Usage } from "../types/schemas.js";

export interface TranscriptState {
  transcript: string;
  /** Bytes of `transcript` already read. */
  offset: number;
  /** The stage's total so far, `last` included. */
  total: Usage;
  /** The message being read when the last read stopped: its lines may continue, with its usage grown. */
  last?: { id: string; usage: Usage };
}

/** Bytes read from a transcript in one go (the rest is read at the next pass). */
const MAX_READ = 16 * 1024 * 1024;
/** A line longer than this is not a transcript line worth parsing. */
const MAX_LINE = 4 * 1024 * 1024;
/** Time spent parsing in one go; the rest is read at the next pass. */
const MAX_PARSE_MS = 250;

/** Why a named transcript is not read: it is not a regular file (a FIFO, a device, a directory). */
export interface TranscriptRefused {
  refused: string;
}

// O_NOFOLLOW: a transcript is a file Claude Code wrote, never a link to one elsewhere.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_NOFOLLOW;

/**
 * The state after reading what `state.transcript` gained; undefined when it gained nothing (or is
 * gone); `{ refused }` when the path names something that is not a regular file.
 */
export function readTranscript(state: TranscriptState, prices: Record<string, Price> = {}, now: () => number = Date.now): TranscriptState | TranscriptRefused | undefined {
  let fd: number;
  try {
    fd = openSync(state.transcript, OPEN_FLAGS);
  } catch {
    return undefined;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { refused: `${state.transcript} is not a regular file` };
    const size = stat.size;
    if (size <= state.offset) return undefined;
    const buf = Buffer.alloc(Math.min(size - state.offset, MAX_READ));
    const n = readSync(fd, buf, 0, buf.length, state.offset);
    const end = buf.subarray(0, n).lastIndexOf(0x0a);
    if (end < 0) {
      // A line longer than a whole read is skipped rather than waited on for ever.
      return n >= MAX_READ ? { ...state, offset: state.offset + n } : undefined;
    }
    let { total, last } = state;
    const started = now();
    let at = 0;
    while (at <= end) {
      const nl = buf.indexOf(0x0a, at);
      const line = nl - at <= MAX_LINE ? buf.subarray(at, nl).toString("utf8") : "";
      at = nl + 1;
      const found = messageUsage(line, prices);
      if (found) {
        // A message's later lines repeat its usage (grown): count each message once, at its latest.
        total = last?.id === found.id ? addUsage(addUsage(total, last.usage, -1), found.usage) : addUsage(total, found.usage);
        last = found;
      }
      if (now() - started > MAX_PARSE_MS) break;
    }
    return { transcript: state.transcript, offset: state.offset + at, total, ...(last ? { last } : {}) };
  } finally {
    closeSync(fd);
  }
}

/** How far each transcript a stage's hooks named was read, and the stage's total over all of them. */
export interface StageUsage {
  total: Usage;
  reads: Map<string, { offset: number; last?: { id: string; usage: Usage } }>;
}

/** Transcripts remembered per stage; hooks naming more new ones are not read (an agent could name any number). */
export const MAX_TRANSCRIPTS = 64;

/** The stage's usage after a `usage_recorded` event (replayed or just written). */
export function recordUsage(prev: StageUsage | undefined, event: Pick<EventOf<"usage_recorded">, "transcript" | "offset" | "usage" | "last_message">): StageUsage {
  const reads = new Map(prev?.reads);
  reads.set(event.transcript, { offset: event.offset, ...(event.last_message ? { last: event.last_message } : {}) });
  return { total: event.usage, reads };
}

/**
 * Where to read `transcript` on from: where it was left (a transcript named again after another
 * one is not counted twice), or its start; undefined when the stage already has too many.
 */
export function resumeFrom(usage: StageUsage | undefined, transcript: string): TranscriptState | undefined {
  // The same session's transcript read under another path (kept from a host, then placed where
  // a resumed claude appends to it): the bytes read there are the same, and counted once.
  const read = usage?.reads.get(transcript) ?? [...(usage?.reads ?? [])].find(([path]) => basename(path) === basename(transcript))?.[1];
  if (!read && (usage?.reads.size ?? 0) >= MAX_TRANSCRIPTS) return undefined;
  return { transcript, offset: read?.offset ?? 0, total: usage?.total ?? ZERO, ...(read?.last ? { last: read.last } : {}) };
}

/** Bytes of a transcript's end read to find the agent's pending tool calls. */
const TAIL_BYTES = 1024 * 1024;

/**
 * The complete lines of a transcript's last `maxBytes` (the agent's latest messages and tool
 * calls), opened as `readTranscript` opens it; undefined when it is missing or not a regular file.
 */
export function readTranscriptTail(path: string, maxBytes = TAIL_BYTES): string[] | undefined {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch {
    return undefined;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return undefined;
    const start = Math.max(0, stat.size - maxBytes);
    const buf = Buffer.alloc(stat.size - start);
    const n = readSync(fd, buf, 0, buf.length, start);
    const lines = buf.subarray(0, n).toString("utf8").split("\n");
    // The first line may be cut by the window, the last may be half written.
    if (start > 0) lines.shift();
    lines.pop();
    return lines;
  } finally {
    closeSync(fd);
  }
}
