/** The one place processes are started: argument arrays, a timeout and a kill policy, no shell. */
import { spawn, type ChildProcess } from "node:child_process";
import { ToolError } from "../errors.js";

let execaLoaded: typeof import("execa") | undefined;

/**
 * execa, loaded on first use, only for a program attached to the terminal (an editor, `tmux
 * attach`): `runProgram` does without it.
 */
export async function loadExeca(): Promise<typeof import("execa")> {
  return (execaLoaded ??= await import("execa"));
}

export interface RunResult {
  ok: boolean;
  code: number | undefined;
  stdout: string;
  stderr: string;
  /** The signal that ended the program, if one did. */
  signal?: string;
  /** Where it ran (for errors). */
  cwd?: string;
  /** Its output as it came, when asked for (`bytes`): binary output, such as a pack. */
  bytes?: Buffer;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Also give the output as bytes (`RunResult.bytes`). */
  bytes?: boolean;
  timeoutMs?: number;
  /** Drop these variables from the inherited environment. */
  unsetEnv?: readonly string[];
  /** `env` is the whole environment: nothing is inherited. */
  onlyEnv?: boolean;
  /** What errors call the command instead of its arguments (which may carry a session's environment). */
  describe?: string;
}

/** Programs still running, stopped when this process exits (as a daemon's `validate` must not outlive it). */
const running = new Set<ChildProcess>();
let exitHook = false;

/** A final newline (or CRLF) off the end: the output as a value, not as lines on a terminal. */
function stripFinalNewline(text: string): string {
  return text.endsWith("\r\n") ? text.slice(0, -2) : text.endsWith("\n") ? text.slice(0, -1) : text;
}

/**
 * Runs a program; a non-zero exit is a value, a missing program or timeout is a ToolError.
 * node's own spawn, not execa: this runs for every git and tmux call, and execa's loading (~60 ms of
 * CPU) and its per-call work were most of what a short command spent besides the programs.
 */
export async function runProgram(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const env = opts.onlyEnv ? { ...opts.env } : { ...process.env, ...opts.env };
  for (const name of opts.unsetEnv ?? []) delete env[name];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const argv = [file, ...args];
  const where = opts.cwd ? ` in ${opts.cwd}` : "";
  const at = opts.cwd ? { cwd: opts.cwd } : {};
  const shown = opts.describe ?? argv.join(" ");
  const done = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; bytes: Buffer; stderr: string; timedOut: boolean; startError?: NodeJS.ErrnoException }>((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, { cwd: opts.cwd, env, stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"], windowsHide: true });
    } catch (error) {
      resolve({ code: null, signal: null, stdout: "", bytes: Buffer.alloc(0), stderr: "", timedOut: false, startError: error as NodeJS.ErrnoException });
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (b: Buffer) => out.push(b));
    child.stderr!.on("data", (b: Buffer) => err.push(b));
    let timedOut = false;
    let forceKill: NodeJS.Timeout | undefined;
    // Stopped with SIGTERM when it runs too long, and SIGKILL 2 s later if that did not end it.
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      forceKill = setTimeout(() => child.kill("SIGKILL"), 2_000);
    }, timeoutMs);
    running.add(child);
    if (!exitHook) {
      exitHook = true;
      process.once("exit", () => {
        for (const c of running) c.kill("SIGTERM");
      });
    }
    let startError: NodeJS.ErrnoException | undefined;
    child.once("error", (error: NodeJS.ErrnoException) => (startError ??= error));
    // A program stopped for its time may leave a child holding its output open: not waited for.
    child.once("exit", () => {
      if (timedOut) for (const stream of [child.stdout, child.stderr]) stream?.destroy();
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(forceKill);
      running.delete(child);
      const text = (chunks: Buffer[]) => stripFinalNewline(Buffer.concat(chunks).toString("utf8"));
      resolve({ code, signal, stdout: opts.bytes ? "" : text(out), bytes: Buffer.concat(out), stderr: text(err), timedOut, ...(startError ? { startError } : {}) });
    });
    if (opts.input !== undefined) {
      // A program that exits without reading all its input is its own business, not a crash here.
      child.stdin!.on("error", () => undefined);
      child.stdin!.end(opts.input);
    }
  });
  if (done.timedOut) {
    throw new ToolError(`${file} timed out after ${timeoutMs} ms${where}: ${shown}`, { argv, stderr: done.stderr, timedOut: true, ...(done.signal ? { signal: done.signal } : {}), ...at });
  }
  if (done.startError && (done.code === null || done.code < 0) && done.signal === null) {
    const code = done.startError.code;
    const hint = code === "ENOENT" ? `${file} is not installed or not on PATH` : `failed to start: ${done.startError.message}`;
    throw new ToolError(`${hint}${where} (${shown})`, { argv, stderr: done.stderr, cause: done.startError, ...at });
  }
  return {
    ok: done.code === 0,
    code: done.code ?? undefined,
    stdout: done.stdout,
    stderr: done.stderr,
    ...(done.signal ? { signal: done.signal } : {}),
    ...(opts.bytes ? { bytes: done.bytes } : {}),
    ...at,
  };
}

/** The last non-empty line of a program's output (its stderr's reason), if any. */
export function lastLine(text: string): string | undefined {
  return text.trim().split("\n").filter(Boolean).at(-1);
}

/** Throws a ToolError carrying argv, code and stderr unless the run succeeded. */
export function expectOk(file: string, args: readonly string[], r: RunResult, what: string): RunResult {
  if (!r.ok) {
    const detail = r.stderr.trim().split("\n").slice(-3).join(" | ") || r.stdout.trim().split("\n").slice(-3).join(" | ");
    const how = r.signal ? `killed by ${r.signal}` : r.code === undefined ? "not run" : `exit ${r.code}`;
    throw new ToolError(`${what} failed (${how}${r.cwd ? ` in ${r.cwd}` : ""}): ${detail}`, { argv: [file, ...args], code: r.code, stderr: r.stderr, ...(r.signal ? { signal: r.signal } : {}), ...(r.cwd ? { cwd: r.cwd } : {}) });
  }
  return r;
}
