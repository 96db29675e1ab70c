/**
 * Reads what a stage's Claude Code transcript gained since the last read — only the new bytes,
 * only complete lines — and keeps the stage's running total (see core/usage.ts for the pricing).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { addUsage, messageUsage, type Price } from "../core/usage.js";
import type { Usage } from "../state/schemas.js";

export interface TranscriptState {
  transcript: string;
  /** Bytes of `transcript` already read. */
  offset: number;
  /** The stage's total so far, `last` included. */
  total: Usage;
  /** The message being read when the last read stopped: its lines may continue, with its usage grown. */
  last?: { id: string; usage: Usage };
}

const MAX_READ = 64 * 1024 * 1024;

/** The state after reading what `state.transcript` gained; undefined when it gained nothing (or is gone). */
export function readTranscript(state: TranscriptState, prices: Record<string, Price> = {}): TranscriptState | undefined {
  let fd: number;
  try {
    fd = openSync(state.transcript, "r");
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= state.offset) return undefined;
    const buf = Buffer.alloc(Math.min(size - state.offset, MAX_READ));
    const n = readSync(fd, buf, 0, buf.length, state.offset);
    const end = buf.subarray(0, n).lastIndexOf(0x0a);
    if (end < 0) return undefined;
    let { total, last } = state;
    for (const line of buf.subarray(0, end).toString("utf8").split("\n")) {
      const found = messageUsage(line, prices);
      if (!found) continue;
      // A message's later lines repeat its usage (grown): count each message once, at its latest.
      total = last?.id === found.id ? addUsage(addUsage(total, last.usage, -1), found.usage) : addUsage(total, found.usage);
      last = found;
    }
    return { transcript: state.transcript, offset: state.offset + end + 1, total, ...(last ? { last } : {}) };
  } finally {
    closeSync(fd);
  }
}
