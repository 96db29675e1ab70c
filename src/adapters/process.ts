/** Other programs: the detached monitor, the user's editor, notify and validate commands. */
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { spawn } from "node:child_process";
import { loadExeca, runProgram } from "./exec.js";

/** Starts `argv` in its own process group with output appended to `logFile`; survives the terminal closing. */
export function spawnDetached(argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env, cwd?: string): number {
  const fd = openSync(logFile, "a", 0o600);
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

/**
 * Whether `pid` is a live autorun monitor of plan `planName` under `home`. A pid file can hold
 * any number after a crash and a reboot, so a pid counts only when the process is alive, not a
 * zombie, runs `… cli.js monitor <planName>` and has the same AUTORUN_HOME. Without /proc (macOS)
 * only liveness can be checked.
 */
export function isOurMonitor(pid: number, planName: string, home: string, defaultHome: string): boolean {
  if (!isAlive(pid)) return false;
  if (!existsSync("/proc/self/cmdline")) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.charAt(stat.lastIndexOf(")") + 2);
    if (state === "Z" || state === "X") return false;
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const at = argv.indexOf("monitor");
    if (at < 1 || argv[at + 1] !== planName || !/cli\.js$|autorun$/.test(argv[at - 1] ?? "")) return false;
    const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    const theirHome = environ.find((e) => e.startsWith("AUTORUN_HOME="))?.slice("AUTORUN_HOME=".length).trim();
    return resolve(theirHome ? theirHome : defaultHome) === resolve(home);
  } catch {
    // Gone meanwhile, or not ours to read (another user's process): not our monitor.
    return false;
  }
}

/** Where `file` would be found the way execvp(3) looks for it: a path, or a name on PATH. */
export function findExecutable(file: string, path = process.env.PATH ?? ""): string | undefined {
  const candidates = file.includes("/") ? [resolve(file)] : path.split(":").filter(Boolean).map((dir) => resolve(dir, file));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
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
  const { execa } = await loadExeca();
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
/**
 * What a validate command may see of the monitor's environment: what programs need to run (where
 * they are, whose home, the locale, the terminal, the temp dir), and the names the configuration
 * adds (`validateEnv`). Not the person's keys and tokens: the check runs code a stage wrote.
 */
const VALIDATE_ENV = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TMPDIR", "TZ", "NO_COLOR"];

export function validateEnvironment(extra: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (VALIDATE_ENV.includes(name) || name.startsWith("LC_") || extra.includes(name))) out[name] = value;
  }
  return out;
}

export async function runValidate(argv: readonly string[], cwd: string, timeoutMs = 20 * 60_000, env: Record<string, string> = validateEnvironment()): Promise<{ ok: boolean; tail: string }> {
  try {
    const r = await runProgram(argv[0]!, argv.slice(1), { cwd, timeoutMs, env, onlyEnv: true });
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
