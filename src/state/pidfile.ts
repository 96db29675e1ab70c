/** monitor.pid: at most one monitor per orchestration. Created with O_EXCL under a lock. */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { withLock } from "./lock.js";

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Takes the pid file for `pid`. Returns the other live holder's pid when one exists. */
export async function acquirePid(file: string, pid: number, isAlive: (pid: number) => boolean): Promise<{ ok: true } | { ok: false; holder: number }> {
  return withLock(`${file}.lock`, () => {
    const holder = readPid(file);
    if (holder !== undefined && holder !== pid && isAlive(holder)) return { ok: false as const, holder };
    rmSync(file, { force: true });
    writeFileSync(file, `${pid}\n`, { flag: "wx", mode: 0o600 });
    return { ok: true as const };
  });
}

export function releasePid(file: string, pid: number): void {
  if (readPid(file) === pid) rmSync(file, { force: true });
}
