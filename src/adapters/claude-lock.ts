/**
 * Worktree locks Claude Code takes. From 2.1.332 `claude --worktree` runs `git worktree lock --reason
 * "claude session <name> (pid N start T)"` and leaves the lock when it is killed (SIGKILL, tmux
 * kill-session). Such a lock may be lifted once process N is gone — or is another process that got
 * the same pid, when T can be compared with the process's start. Linux reads /proc; elsewhere only
 * whether the pid is alive is known.
 */
import { readFileSync } from "node:fs";
import { isAlive, processStartTime } from "./process.js";

export interface ClaudeLock {
  session: string;
  pid: number;
  /** The start stamp as written, when the reason has one. */
  start?: string;
}

/** The claude process a lock reason names, or undefined for any other lock (a person's own, git's "initializing"). */
export function parseClaudeLock(reason: string): ClaudeLock | undefined {
  const m = /^claude session (.*) \(pid (\d+)(?: start ([^)\s]+))?\)$/.exec(reason.trim());
  if (!m) return undefined;
  const pid = Number(m[2]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return { session: m[1]!, pid, ...(m[3] !== undefined ? { start: m[3] } : {}) };
}

/** When `pid` started: clock ticks since boot and ms since the epoch (Linux), or undefined. */
function processStart(pid: number): { ticks: number; epochMs: number } | undefined {
  try {
    const ticks = Number(processStartTime(pid));
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    if (!Number.isFinite(ticks) || !Number.isFinite(btime)) return undefined;
    // USER_HZ is 100 on every Linux that Node runs on.
    return { ticks, epochMs: btime * 1000 + ticks * 10 };
  } catch {
    return undefined;
  }
}

/**
 * Whether the stamp of a lock describes the process that has the pid now: an integer matched as
 * clock ticks since boot, seconds or milliseconds since the epoch, or a date. Undefined when it
 * cannot be told (no /proc, a stamp of another form).
 */
function sameStart(stamp: string, started: { ticks: number; epochMs: number }): boolean | undefined {
  if (/^\d+$/.test(stamp)) {
    const n = Number(stamp);
    return n === started.ticks || Math.abs(n * 1000 - started.epochMs) <= 2_000 || Math.abs(n - started.epochMs) <= 2_000;
  }
  const at = Date.parse(stamp);
  return Number.isNaN(at) ? undefined : Math.abs(at - started.epochMs) <= 2_000;
}

/** "running": the claude that took the lock may still be using the worktree; "gone": it is not. */
export function lockHolder(lock: ClaudeLock): "running" | "gone" {
  if (!isAlive(lock.pid)) return "gone";
  const started = lock.start === undefined ? undefined : processStart(lock.pid);
  if (lock.start === undefined || started === undefined) return "running";
  return sameStart(lock.start, started) === false ? "gone" : "running";
}

/**
 * Whether `pid` runs with the environment autorun gives stage `stage` of the orchestration in
 * `orchDir` (its agent, or a program the agent started). False when it cannot be read.
 */
export function isStageProcess(pid: number, orchDir: string, stage: string): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    return env.includes(`AUTORUN_ORCH_DIR=${orchDir}`) && env.includes(`AUTORUN_STAGE=${stage}`);
  } catch {
    return false;
  }
}
