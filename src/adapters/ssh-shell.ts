/**
 * One long-lived `sh -s` on a host, through its shared ssh connection, that runs program after
 * program: what the monitor's many small tmux calls on a host need. Starting an ssh client per
 * call cost the monitor a process start each time (with 3 hosts × 8 stages, several a second: the
 * monitor's CPU was 8 % of a core, its ssh clients' 16 %); here a call is a few lines written to
 * the shell's stdin and its answer read back.
 *
 * Each call sends its argument array as single-quoted positional parameters (`set -- '…'`), runs
 * `"$@"` with stdin from /dev/null and stdout and stderr into files of a private temp dir on the
 * host, then prints a header line (a random marker, the exit code, the two lengths) and the two
 * files: the answer is read by length, so nothing a program prints can be taken for the end of
 * it. Calls are one at a time per shell. A call past its deadline, or a shell that ended (ssh
 * failed, the host went away), ends the shell and throws; the next call starts a new one.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { lastLine, type RunResult } from "./exec.js";
import { quoteSh, sshArgs, type SshSettings, type SshTarget } from "./ssh.js";
import { ToolError } from "../errors.js";

/** The shell's start: a private temp dir, removed when the shell ends. */
const START = `umask 077
D=$(mktemp -d) || exit 1
trap 'rm -rf -- "$D"' EXIT
`;

/**
 * A long-lived `ssh … sh -s` through the shared connection, its output handed to `on.data`, its
 * end (ssh failed, the host went away, the program there ended) to `on.ended` with why (the last
 * line ssh or the program wrote on stderr, else how it ended), the last 2000 characters of its
 * stderr kept. It holds nothing open: a person's command that used the host can
 * exit while it runs. What `SshShell` and `SshServer` (ssh-server.ts) each keep one of.
 */
export function spawnKeptSsh(s: SshSettings, target: SshTarget, on: { data: (b: Buffer) => void; ended: (why: string) => void }): { child: ChildProcess; stderrTail: () => string } {
  mkdirSync(join(s.home, "ssh"), { recursive: true, mode: 0o700 });
  const child = spawn("ssh", sshArgs(s, target, ["sh", "-s"]), { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  child.stdout!.on("data", on.data);
  child.stderr!.on("data", (b: Buffer) => {
    err = (err + b.toString("utf8")).slice(-2000);
  });
  child.stdin!.on("error", () => undefined);
  const ended = (how: string): void => on.ended(lastLine(err) ?? how);
  child.on("error", (error) => ended(error.message));
  child.on("close", (code) => ended(`exit ${code ?? "?"}`));
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) if (stream && "unref" in stream && typeof stream.unref === "function") (stream.unref as () => void).call(stream);
  return { child, stderrTail: () => err };
}

interface Pending {
  marker: string;
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
}

export class SshShell {
  private child: ChildProcess | undefined;
  private buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly s: SshSettings,
    private readonly target: SshTarget,
  ) {}

  /** `file args…` on the host; a non-zero exit is a value, ssh's own failure or the deadline throws. */
  run(file: string, args: readonly string[], deadlineMs = 10_000): Promise<RunResult> {
    const call = this.queue.then(() => this.once(file, args, deadlineMs));
    this.queue = call.catch(() => undefined);
    return call;
  }

  /** Ends the shell (the next call starts another). */
  close(): void {
    const child = this.child;
    this.child = undefined;
    this.buffer = Buffer.alloc(0);
    if (!child) return;
    child.stdin?.destroy();
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.kill("SIGKILL");
  }

  private start(): ChildProcess {
    const kept = spawnKeptSsh(this.s, this.target, {
      data: (b) => {
        if (this.child !== child) return;
        this.buffer = Buffer.concat([this.buffer, b]);
        this.answer();
      },
      ended: (why) => {
        if (this.child !== child) return;
        this.child = undefined;
        const p = this.pending;
        this.pending = undefined;
        p?.reject(new ToolError(`ssh to host ${this.target.name} (${this.target.destination}) failed: ${why}`, { argv: ["ssh", this.target.destination, "sh"], code: 255, stderr: kept.stderrTail() }));
      },
    });
    const child = kept.child;
    child.stdin!.write(START);
    this.child = child;
    return child;
  }

  private once(file: string, args: readonly string[], deadlineMs: number): Promise<RunResult> {
    const child = this.child ?? this.start();
    const marker = `autorun-${randomBytes(12).toString("hex")}`;
    return new Promise<RunResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        this.close();
        reject(new ToolError(`ssh to host ${this.target.name} (${this.target.destination}) did not answer within ${deadlineMs} ms`, { argv: ["ssh", this.target.destination, file, ...args.slice(0, 3)], timedOut: true }));
      }, deadlineMs);
      this.pending = {
        marker,
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      child.stdin!.write(
        `set -- ${[file, ...args].map(quoteSh).join(" ")}\n` +
          `"$@" </dev/null >"$D/o" 2>"$D/e"; c=$?\n` +
          `printf '%s %s %s %s\\n' ${marker} "$c" $(wc -c <"$D/o") $(wc -c <"$D/e"); cat -- "$D/o" "$D/e"\n`,
      );
    });
  }

  /** The pending call's answer, once all of it is in. */
  private answer(): void {
    const p = this.pending;
    if (!p) return;
    const eol = this.buffer.indexOf(10);
    if (eol < 0) return;
    const header = /^(\S+) (\d+) (\d+) (\d+)$/.exec(this.buffer.subarray(0, eol).toString("utf8"));
    if (!header || header[1] !== p.marker) {
      this.pending = undefined;
      this.close();
      p.reject(new ToolError(`host ${this.target.name}: its shell answered out of turn`, { argv: ["ssh", this.target.destination, "sh"], code: 255, stderr: "" }));
      return;
    }
    const [outLen, errLen] = [Number(header[3]), Number(header[4])];
    if (this.buffer.length < eol + 1 + outLen + errLen) return;
    const out = this.buffer.subarray(eol + 1, eol + 1 + outLen);
    const err = this.buffer.subarray(eol + 1 + outLen, eol + 1 + outLen + errLen);
    this.buffer = this.buffer.subarray(eol + 1 + outLen + errLen);
    this.pending = undefined;
    const code = Number(header[2]);
    const trim = (b: Buffer) => b.toString("utf8").replace(/\n$/, "");
    p.resolve({ ok: code === 0, code, stdout: trim(out), stderr: trim(err) });
  }
}

/** One shell per host connection (its settings' home and the target), shared by its callers. */
const shells = new Map<string, SshShell>();

export function sshShell(s: SshSettings, target: SshTarget): SshShell {
  const key = JSON.stringify([s.home, target.name, target.destination, target.options, s.connectTimeoutS, s.aliveIntervalS, s.aliveCountMax]);
  let shell = shells.get(key);
  if (!shell) shells.set(key, (shell = new SshShell(s, target)));
  return shell;
}
