/** The one place processes are started: argument arrays, a timeout and a kill policy, no shell. */
import type { Options } from "execa";
import { ToolError } from "../errors.js";

let execaLoaded: typeof import("execa") | undefined;

/**
 * execa, loaded on first use: a command that starts no program (a plan that does not parse,
 * `status`, an agent's `autorun phase`) does not pay the ~130 ms of loading it.
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
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  /** Drop these variables from the inherited environment. */
  unsetEnv?: readonly string[];
  /** `env` is the whole environment: nothing is inherited. */
  onlyEnv?: boolean;
  /** What errors call the command instead of its arguments (which may carry a session's environment). */
  describe?: string;
}

/** Runs a program; a non-zero exit is a value, a missing program or timeout is a ToolError. */
export async function runProgram(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const env = opts.onlyEnv ? { ...opts.env } : { ...process.env, ...opts.env };
  for (const name of opts.unsetEnv ?? []) delete env[name];
  const options: Options = {
    cwd: opts.cwd,
    env,
    extendEnv: false,
    input: opts.input,
    stdin: opts.input === undefined ? "ignore" : undefined,
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: "SIGTERM",
    forceKillAfterDelay: 2_000,
    reject: false,
    stripFinalNewline: true,
    encoding: "utf8",
  };
  const { execa } = await loadExeca();
  const result = await execa(file, args, options);
  const argv = [file, ...args];
  const where = opts.cwd ? ` in ${opts.cwd}` : "";
  const at = opts.cwd ? { cwd: opts.cwd } : {};
  const shown = opts.describe ?? argv.join(" ");
  if (result.timedOut) {
    throw new ToolError(`${file} timed out after ${opts.timeoutMs ?? 30_000} ms${where}: ${shown}`, argv, undefined, String(result.stderr ?? ""), { timedOut: true, signal: result.signal, ...at });
  }
  if (result.failed && result.exitCode === undefined && result.signal === undefined) {
    const code = (result.cause as NodeJS.ErrnoException | undefined)?.code;
    const hint = code === "ENOENT" ? `${file} is not installed or not on PATH` : (result.shortMessage ?? "failed to start");
    throw new ToolError(`${hint}${where} (${shown})`, argv, undefined, String(result.stderr ?? ""), { cause: result.cause, ...at });
  }
  return {
    ok: result.exitCode === 0,
    code: result.exitCode,
    stdout: String(result.stdout ?? ""),
    stderr: String(result.stderr ?? ""),
    ...(result.signal ? { signal: result.signal } : {}),
    ...at,
  };
}

/** Throws a ToolError carrying argv, code and stderr unless the run succeeded. */
export function expectOk(file: string, args: readonly string[], r: RunResult, what: string): RunResult {
  if (!r.ok) {
    const detail = r.stderr.trim().split("\n").slice(-3).join(" | ") || r.stdout.trim().split("\n").slice(-3).join(" | ");
    const how = r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
    throw new ToolError(`${what} failed (${how}${r.cwd ? ` in ${r.cwd}` : ""}): ${detail}`, [file, ...args], r.code, r.stderr, { ...(r.signal ? { signal: r.signal } : {}), ...(r.cwd ? { cwd: r.cwd } : {}) });
  }
  return r;
}
