/** Other programs: the detached monitor, the user's editor, notify and validate commands. */
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { spawn } from "node:child_process";
import { constants as os } from "node:os";
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

/**
 * Whether process `pid` runs: it exists (ours to signal or not) and is not a zombie, one that
 * exited and waits for its parent to collect it. A detached monitor's parent is PID 1, which in a
 * container may collect late or never: `autorun stop` waited on such a monitor until it gave up.
 * Without /proc (macOS) a zombie counts as running.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state === "Z" || state === "X";
}

/** /proc/<pid>/stat from field 3 (the state) on, past the command's name (which may hold spaces); undefined without it. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** Options node may take before the monitor's script that run no other code (`-e`, `-r`, `--import` do). */
const NODE_OPTION = /^--(?!eval|print|require|import|loader|experimental-loader|env-file)[a-z][a-z0-9-]*(=[^\s]*)?$/;

/** Is `script` autorun's own entry point: this install's cli.js, or `dist/src/cli.js` of a package named autorun? */
function isAutorunCli(script: string): boolean {
  let real: string;
  try {
    real = realpathSync(script);
  } catch {
    return false;
  }
  const ours = resolve(dirname(fileURLToPath(import.meta.url)), "..", "cli.js");
  if (existsSync(ours) && real === realpathSync(ours)) return true;
  if (!real.endsWith("/dist/src/cli.js")) return false;
  try {
    return (JSON.parse(readFileSync(resolve(real, "..", "..", "..", "package.json"), "utf8")) as { name?: unknown }).name === "autorun";
  } catch {
    return false;
  }
}

/** A process's start time (clock ticks since boot, /proc/<pid>/stat field 22): with its pid, it names one process. */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/**
 * Whether `pid` is a live autorun monitor of plan `planName` under `home`. A pid file can hold
 * any number after a crash and a reboot, and anything can look like a monitor, so a pid counts
 * only when the process is alive (not a zombie) and is exactly `node [--option…] <autorun's
 * cli.js> monitor <planName>` (no `-e` or `-r` that would run other code) with the same
 * AUTORUN_HOME; and, when the pid file recorded it, started at the recorded time. Without /proc
 * (macOS) only liveness can be checked.
 */
export function isOurMonitor(pid: number, m: { planName: string; home: string; defaultHome: string; startTime?: string | undefined }): boolean {
  const { planName, home, defaultHome, startTime } = m;
  if (!isAlive(pid)) return false;
  if (!existsSync("/proc/self/cmdline")) return true;
  try {
    if (startTime !== undefined && processStartTime(pid) !== startTime) return false;
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    if (argv.at(-1) === "") argv.pop();
    const at = argv.indexOf("monitor");
    const rest = argv.slice(at + 2);
    if (at < 2 || argv[at + 1] !== planName || !(rest.length === 0 || (rest.length === 1 && rest[0] === "--once"))) return false;
    if (!argv.slice(1, at - 1).every((a) => NODE_OPTION.test(a)) || !isAutorunCli(argv[at - 1]!)) return false;
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

/**
 * Runs `handler` on the first of `signals`; another one after it ends the process at once (128 +
 * its number), as a person pressing Ctrl-C again expects. The listeners stay installed: a library
 * that cleans up on exit (signal-exit, under proper-lockfile and write-file-atomic) re-raises a
 * signal it finds nobody else listening to, which ended the process in the middle of its handler
 * when a `process.once` listener had already taken itself off.
 */
export function onStopSignal(signals: readonly NodeJS.Signals[], handler: (sig: NodeJS.Signals) => void): void {
  let seen = false;
  for (const sig of signals) {
    process.on(sig, () => {
      if (seen) process.exit(128 + os.signals[sig]);
      seen = true;
      handler(sig);
    });
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

/** A program's whole output (`claude --help`), or undefined when it failed or is missing. */
export async function commandOutput(file: string, args: string[]): Promise<string | undefined> {
  try {
    const r = await runProgram(file, args, { timeoutMs: 15_000 });
    return r.ok ? r.stdout : undefined;
  } catch {
    return undefined;
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
