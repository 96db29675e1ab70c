/** Cross-process locks (proper-lockfile: mkdir-based, stale after the holder dies). */
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { dirname } from "node:path";
import lockfile from "proper-lockfile";

export async function withLock<T>(target: string, fn: () => Promise<T> | T, waitMs = 30_000): Promise<T> {
  mkdirSync(dirname(target), { recursive: true });
  if (!existsSync(target)) writeFileSync(target, "", { flag: "a" });
  const release = await lockfile.lock(target, {
    // A holder refreshes the lock every second; one killed with SIGKILL frees it within 4 s.
    stale: 4_000,
    update: 1_000,
    retries: { retries: Math.ceil(waitMs / 50), minTimeout: 20, maxTimeout: 100, factor: 1.2 },
    realpath: false,
  });
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
