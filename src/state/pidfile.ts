/**
 * monitor.pid: at most one monitor per orchestration. Taken under a lock, and replaced by a rename,
 * so that a reader (a command waiting for the monitor it started, `status`, the monitor checking it
 * still owns the run) sees the old holder or the new one, never no file or an empty one.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { withLock } from "./lock.js";

/** The pid file's `<pid> [<start time>]`: the start time tells this process from a later one given the same pid. */
export function readPidFile(file: string): { pid: number; start?: string } | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const m = /^(\d+)(?: (\d+))?\s*$/.exec(text);
  const pid = Number(m?.[1]);
  return m && Number.isSafeInteger(pid) && pid > 0 ? { pid, ...(m[2] ? { start: m[2] } : {}) } : undefined;
}

export function readPid(file: string): number | undefined {
  return readPidFile(file)?.pid;
}

/** Takes the pid file for `pid`. Returns the other live holder's pid when one exists. */
export async function acquirePid(file: string, pid: number, isAlive: (pid: number) => boolean, startTime?: string): Promise<{ ok: true } | { ok: false; holder: number }> {
  return withLock(`${file}.lock`, () => {
    const holder = readPid(file);
    if (holder !== undefined && holder !== pid && isAlive(holder)) return { ok: false as const, holder };
    const next = `${file}.${pid}.tmp`;
    rmSync(next, { force: true });
    writeFileSync(next, `${pid}${startTime ? ` ${startTime}` : ""}\n`, { flag: "wx", mode: 0o600 });
    renameSync(next, file);
    return { ok: true as const };
  });
}

export function releasePid(file: string, pid: number): void {
  if (readPid(file) === pid) rmSync(file, { force: true });
}
