/**
 * OpenSSH to other hosts: the person's own `ssh`, destination, config and keys, with one shared
 * connection per host (a ControlMaster whose socket is under $AUTORUN_HOME), never a password
 * prompt (BatchMode), a connect timeout and keep-alives. Every call has a deadline, so a master
 * that stopped answering costs one deadline, not a hang; it is then ended and the next call makes
 * a new one.
 *
 * Nothing variable is put on the remote command line: the remote command is always `sh -s`, and
 * the script comes on stdin after a `set -- '…' '…'` line carrying its arguments, each in single
 * quotes (so the person's login shell, whatever it is, only ever sees the constant `sh -s`).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { lastLine, runProgram, type RunResult } from "./exec.js";
import { ToolError, UserError } from "../errors.js";

/** A host as ssh reaches it. */
export interface SshTarget {
  /** The host's name in the configuration (for messages). */
  name: string;
  /** The destination exactly as the person would type it to ssh: an alias or user@host. */
  destination: string;
  /** The person's extra ssh arguments (the top-level `sshOptions`, then the host's). */
  options: readonly string[];
}

export interface SshSettings {
  /** $AUTORUN_HOME: the control sockets live in its `ssh/` directory. */
  home: string;
  /** Seconds to set up a new connection (ConnectTimeout). */
  connectTimeoutS?: number;
  /** Seconds an idle shared connection stays open (ControlPersist). */
  persistS?: number;
  /** Keep-alive every this many seconds; the link is lost after `aliveCountMax` unanswered. */
  aliveIntervalS?: number;
  aliveCountMax?: number;
  /** The deadline of a call, in ms, when the call gives none. */
  deadlineMs?: number;
}

const DEFAULTS = { connectTimeoutS: 10, persistS: 300, aliveIntervalS: 3, aliveCountMax: 3, deadlineMs: 30_000 };

/**
 * Unix socket paths hold 104 bytes on macOS (108 on Linux), and ssh binds the master's socket at
 * the path plus a 17-byte random suffix before renaming it.
 */
const MAX_CONTROL_PATH = 104 - 18;

/** The master's socket for `target`: `$AUTORUN_HOME/ssh/<hash of destination and options>`. */
export function controlPath(home: string, target: SshTarget): string {
  const hash = createHash("sha256").update(JSON.stringify([target.destination, ...target.options])).digest("hex").slice(0, 16);
  const path = join(home, "ssh", hash);
  if (Buffer.byteLength(path) > MAX_CONTROL_PATH) {
    throw new UserError(`AUTORUN_HOME ${home} is too long for ssh's connection socket (${Buffer.byteLength(path)} bytes, at most ${MAX_CONTROL_PATH}); set AUTORUN_HOME to a shorter path to use hosts.`);
  }
  return path;
}

/** One argument of a `-o Key=value` option: ssh expands `%` tokens, and splits on unquoted spaces. */
function optionValue(value: string): string {
  const escaped = value.replace(/%/g, "%%");
  if (/["\n]/.test(escaped)) throw new UserError(`ssh socket path ${value} holds a double quote or a newline; set AUTORUN_HOME to a plain path.`);
  return /\s/.test(escaped) ? `"${escaped}"` : escaped;
}

/**
 * The ssh argument list for `remote` on `target`. ssh keeps the first value it is given for an
 * option: the connection sharing and BatchMode come first (a person's options cannot turn them
 * off), then the person's options, then the timeouts and keep-alives (theirs win over these).
 */
export function sshArgs(s: SshSettings, target: SshTarget, remote: readonly string[]): string[] {
  if (!target.destination || target.destination.startsWith("-")) throw new UserError(`hosts.${target.name}.ssh ${JSON.stringify(target.destination)} is not an ssh destination; write a host alias or user@host.`);
  const o = { ...DEFAULTS, ...s };
  return [
    "-o", "ControlMaster=auto",
    "-o", `ControlPath=${optionValue(controlPath(s.home, target))}`,
    "-o", "BatchMode=yes",
    ...target.options,
    "-o", `ControlPersist=${o.persistS}`,
    "-o", `ConnectTimeout=${o.connectTimeoutS}`,
    "-o", `ServerAliveInterval=${o.aliveIntervalS}`,
    "-o", `ServerAliveCountMax=${o.aliveCountMax}`,
    "--",
    target.destination,
    ...remote,
  ];
}

/** `s` in single quotes for a POSIX shell: `it's` → `'it'\''s'`. */
export function quoteSh(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What `sh -s` reads on stdin: the arguments as `$1…`, then the script. The script must not read stdin. */
export function scriptInput(script: string, args: readonly string[]): string {
  return `set -- ${args.map(quoteSh).join(" ")}\n${script}\n`;
}

export interface ScriptOptions {
  deadlineMs?: number;
}

/** A script's result; `bytes`: its stdout exactly as sent (`stdout` is UTF-8 text without the final newline). */
export type SshResult = RunResult & { bytes: Buffer };

/**
 * Runs a POSIX shell script on `target` with `args` as `$1…`, through the shared connection.
 * A non-zero exit is a value (255: ssh itself failed: see `stderr`); a call past its deadline
 * throws a ToolError (timedOut) after resetting a master that no longer answers.
 */
export async function runScript(s: SshSettings, target: SshTarget, script: string, opts: ScriptOptions & { args?: readonly string[] } = {}): Promise<SshResult> {
  const args = opts.args ?? [];
  mkdirSync(join(s.home, "ssh"), { recursive: true, mode: 0o700 });
  const argv = sshArgs(s, target, ["sh", "-s"]);
  const deadlineMs = opts.deadlineMs ?? s.deadlineMs ?? DEFAULTS.deadlineMs;
  const r = await runSsh(argv, scriptInput(script, args), deadlineMs);
  if (r === "timeout") {
    const reset = await resetIfStale(s, target);
    throw new ToolError(`ssh to host ${target.name} (${target.destination}) did not answer within ${deadlineMs} ms${reset ? "; its shared connection was stuck and has been reset" : ""}`, { argv: ["ssh", ...argv], timedOut: true });
  }
  return r;
}

/**
 * One ssh call with a deadline that holds. Not execa: a client of a shared connection hands its
 * stdin, stdout and stderr to the master (fd passing), so killing the client does not close our
 * pipes — the master holds them until the remote command ends, and waiting for their end would
 * wait out the remote command. At the deadline the client is killed and our ends are dropped.
 */
function runSsh(argv: readonly string[], input: string, deadlineMs: number): Promise<SshResult | "timeout"> {
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", argv, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    // The far end may close stdin before reading it all (a script that exits early).
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      child.stdout.destroy();
      child.stderr.destroy();
      resolve("timeout");
    }, deadlineMs);
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new ToolError(error.code === "ENOENT" ? "ssh is not installed or not on PATH" : `ssh failed to start: ${error.message}`, { argv: ["ssh", ...argv], cause: error }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const trim = (b: Buffer[]) => Buffer.concat(b).toString("utf8").replace(/\n$/, "");
      resolve({ ok: code === 0, code: code ?? undefined, stdout: trim(out), stderr: trim(err), bytes: Buffer.concat(out), ...(signal ? { signal } : {}) });
    });
  });
}

/** Whether the shared connection answers (`ssh -O check`), and the master's pid when it does. */
export async function checkMaster(s: SshSettings, target: SshTarget, deadlineMs = 2_000): Promise<{ state: "running"; pid: number } | { state: "none" } | { state: "stuck" }> {
  const path = controlPath(s.home, target);
  if (!existsSync(path)) return { state: "none" };
  try {
    const r = await runProgram("ssh", ["-O", "check", ...sshArgs(s, target, [])], { timeoutMs: deadlineMs });
    const pid = /pid=(\d+)/.exec(r.stderr);
    return r.ok && pid ? { state: "running", pid: Number(pid[1]) } : { state: "none" };
  } catch (error) {
    if (error instanceof ToolError && error.timedOut) return { state: "stuck" };
    throw error;
  }
}

/**
 * After a call ran past its deadline: when the master no longer answers a check either, end it
 * (found by the title ssh gives it, `ssh: <control path> [mux]`, on Linux) and remove its
 * socket, so the next call makes a new connection. True when it did.
 */
async function resetIfStale(s: SshSettings, target: SshTarget): Promise<boolean> {
  if ((await checkMaster(s, target, 1_000)).state !== "stuck") return false;
  const path = controlPath(s.home, target);
  for (const pid of masterPids(path)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  try {
    unlinkSync(path);
  } catch {
    // gone meanwhile
  }
  return true;
}

/** Pids of the ssh masters of `path` (Linux: by their process title; elsewhere none are found). */
export function masterPids(path: string): number[] {
  if (!existsSync("/proc/self/cmdline")) return [];
  const title = `ssh: ${path} [mux]`;
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0+$/, "") === title) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** Ends the shared connection to `target` (`ssh -O exit`), if there is one. */
export async function closeMaster(s: SshSettings, target: SshTarget, deadlineMs = 3_000): Promise<void> {
  const path = controlPath(s.home, target);
  if (!existsSync(path)) return;
  try {
    await runProgram("ssh", ["-O", "exit", ...sshArgs(s, target, [])], { timeoutMs: deadlineMs });
  } catch (error) {
    if (!(error instanceof ToolError && error.timedOut)) throw error;
    await resetIfStale(s, target);
  }
}

/** A script left running on a host: its stdout as it comes, its end, and one way to stop it. */
export interface OpenScript {
  /** The ssh client's pid (undefined when it could not start). */
  readonly pid: number | undefined;
  readonly stdout: NodeJS.ReadableStream;
  /** Settles when the ssh client has exited (255: ssh itself failed), with the last line of its stderr. */
  readonly exited: Promise<{ code: number | undefined; signal?: string; stderr: string }>;
  /**
   * Closes the script's stdin (a script that waits for its end then ends; so does one whose
   * connection is gone), and after `graceMs` kills the client and drops our ends of its pipes.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts `script` on `target` through the shared connection and leaves it running: its stdin
 * stays open after the script (the script may read its end as the sign to stop), its stdout is
 * read as it comes. Not for scripts with an answer: those go through `runScript`, with a deadline.
 */
export function openScript(s: SshSettings, target: SshTarget, script: string, args: readonly string[] = []): OpenScript {
  mkdirSync(join(s.home, "ssh"), { recursive: true, mode: 0o700 });
  const argv = sshArgs(s, target, ["sh", "-s"]);
  const child = spawn("ssh", argv, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString("utf8")).slice(-4096);
  });
  child.stdin.on("error", () => undefined);
  child.stdin.write(scriptInput(script, args));
  const exited = new Promise<{ code: number | undefined; signal?: string; stderr: string }>((resolve) => {
    child.on("error", (error: NodeJS.ErrnoException) => resolve({ code: undefined, stderr: error.code === "ENOENT" ? "ssh is not installed or not on PATH" : `ssh failed to start: ${error.message}` }));
    child.on("exit", (code, signal) => resolve({ code: code ?? undefined, ...(signal ? { signal } : {}), stderr: lastLine(stderr) ?? "" }));
  });
  const drop = (): void => {
    child.kill("SIGKILL");
    // A shared connection's client hands its pipes to the master: killing it does not close them.
    child.stdout.destroy();
    child.stderr.destroy();
  };
  return {
    pid: child.pid,
    stdout: child.stdout,
    exited,
    async close(graceMs = 2_000) {
      child.stdin.end();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      drop();
    },
  };
}
