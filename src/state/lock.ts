/**
 * Cross-process locks (proper-lockfile: mkdir-based, stale after the holder dies). Callers in the
 * same process queue on a promise first, so they hand over at once instead of polling the file.
 */
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { dirname } from "node:path";
import lockfile from "proper-lockfile";

const queues = new Map<string, Promise<unknown>>();

export async function withLock<T>(target: string, fn: () => Promise<T> | T, waitMs = 30_000): Promise<T> {
  const before = queues.get(target) ?? Promise.resolve();
  const turn = before.catch(() => undefined).then(() => withFileLock(target, fn, waitMs));
  const tracked = turn.catch(() => undefined);
  queues.set(target, tracked);
  try {
    return await turn;
  } finally {
    if (queues.get(target) === tracked) queues.delete(target);
  }
}

/** Another holder has `target` locked now (a look, not a wait: it may be free a moment later). */
export function isLocked(target: string): boolean {
  try {
    return existsSync(target) && lockfile.checkSync(target, { stale: 4_000, realpath: false });
  } catch {
    return false;
  }
}

async function withFileLock<T>(target: string, fn: () => Promise<T> | T, waitMs: number): Promise<T> {
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  if (!existsSync(target)) writeFileSync(target, "", { flag: "a", mode: 0o600 });
  // A holder refreshes the lock every second; one killed with SIGKILL frees it within 4 s.
  const options = { stale: 4_000, update: 1_000, realpath: false };
  // A free lock is taken at once, without a turn of the event loop for each file operation (a busy
  // monitor's loop can make those turns slow); a held one is waited for.
  let release: () => Promise<void> | void;
  try {
    release = lockfile.lockSync(target, options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
    release = await lockfile.lock(target, { ...options, retries: { retries: Math.ceil(waitMs / 50), minTimeout: 10, maxTimeout: 50, factor: 1.2 } });
  }
  try {
    return await fn();
  } finally {
    // Called with no argument: proper-lockfile takes one as its callback.
    await Promise.resolve()
      .then(() => release())
      .catch(() => undefined);
  }
}
