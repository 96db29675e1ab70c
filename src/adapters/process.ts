/** Other programs: the detached monitor, the user's editor, notify and validate commands. */
import { openSync, closeSync } from "node:fs";
import { spawn } from "node:child_process";
import { execa } from "execa";
import { runProgram } from "./exec.js";

/** Starts `argv` in its own process group with output appended to `logFile`; survives the terminal closing. */
export function spawnDetached(argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env, cwd?: string): number {
  const fd = openSync(logFile, "a");
  try {
    // node's spawn, not execa: a daemon needs its own process group, inherited log fds and unref().
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ["ignore", fd, fd], env, ...(cwd ? { cwd } : {}) });
    child.on("error", () => undefined);
    child.unref();
    if (!child.pid) throw new Error(`could not start ${argv[0]}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Runs the user's editor attached to this terminal. */
export async function runInteractive(argv: readonly string[]): Promise<number> {
  const r = await execa(argv[0]!, argv.slice(1), { stdio: "inherit", reject: false });
  return r.exitCode ?? 1;
}

/** `notifyCommand`: the event JSON on stdin; failures are reported, never fatal. */
export async function runNotify(argv: readonly string[], input: string): Promise<{ ok: boolean; detail: string }> {
  try {
    const r = await runProgram(argv[0]!, argv.slice(1), { input, timeoutMs: 15_000 });
    return { ok: r.ok, detail: r.ok ? "" : `exit ${r.code}: ${r.stderr.trim().slice(-200)}` };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}

/** A `validate` command run in the stage worktree, with the tail of its output. */
export async function runValidate(argv: readonly string[], cwd: string, timeoutMs = 20 * 60_000): Promise<{ ok: boolean; tail: string }> {
  try {
    const r = await runProgram(argv[0]!, argv.slice(1), { cwd, timeoutMs });
    const tail = `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-30).join("\n");
    return { ok: r.ok, tail };
  } catch (error) {
    return { ok: false, tail: (error as Error).message };
  }
}

export async function commandVersion(file: string, args: string[] = ["--version"]): Promise<string | undefined> {
  try {
    const r = await runProgram(file, args, { timeoutMs: 15_000 });
    return r.ok ? r.stdout.trim().split("\n")[0] : undefined;
  } catch {
    return undefined;
  }
}
