/**
 * One long-lived program on a host, through its shared ssh connection, that answers JSON request
 * lines with JSON answer lines: what the controller's `autorun host serve` calls need
 * (src/host/host-server.ts). The program first says hello in one line; each request goes out as
 * `{"id": n, ...}` and the next line must be the answer carrying that id.
 *
 * Calls go one at a time. Nothing is written before the hello (the remote `sh -s` reads its
 * script in blocks, and would swallow a request sent with it). A call past its deadline, an answer
 * out of turn, or a program that ended (ssh failed, the host went away) ends it and throws; the
 * next call starts it again. The ssh client holds nothing open: a person's command that used it
 * can exit while it runs, and its end of the pipe closing ends the program there.
 */
import type { ChildProcess } from "node:child_process";
import { scriptInput, type SshSettings, type SshTarget } from "./ssh.js";
import { spawnKeptSsh } from "./ssh-shell.js";
import { ToolError } from "../errors.js";

/** The program ended (or was ended) before it answered: the request may not have reached it. */
export class ServerEnded extends ToolError {}

export interface ServerSpec {
  /** The script that becomes the program (`exec …`): it reads the requests on its stdin. */
  script: string;
  args: readonly string[];
  /** What it is, for messages (`autorun host serve`). */
  what: string;
  /** Why its hello is not the one expected; undefined when it is. */
  refuseHello: (hello: unknown) => string | undefined;
  /** How long a new one may take to say hello (an ssh connection, then the program's start). */
  startMs?: number;
}

interface Waiting {
  id: number | "hello";
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class SshServer {
  private child: ChildProcess | undefined;
  private buf = "";
  private waiting: Waiting | undefined;
  private stderrTail: () => string = () => "";
  private next = 1;
  private queue: Promise<unknown> = Promise.resolve();
  /** Times it was started (for tests). */
  starts = 0;

  constructor(
    private readonly s: SshSettings,
    private readonly target: SshTarget,
    private readonly spec: ServerSpec,
  ) {}

  /** `request` with an `id`, answered there: the answer line, parsed (its `id` the request's), or a ToolError (`ServerEnded` when the program ended first). */
  call(request: Record<string, unknown>, deadlineMs: number, what: string): Promise<unknown> {
    const call = this.queue.then(() => this.once(request, deadlineMs, what));
    this.queue = call.catch(() => undefined);
    return call;
  }

  /** Starts it now, when it is not running, so that the next call finds it there; best effort. */
  warm(): void {
    if (this.child) return;
    const started = this.queue.then(() => (this.child ? undefined : this.start(this.spec.startMs ?? 30_000)));
    this.queue = started.catch(() => undefined);
  }

  /** Ends it (the next call starts it again); a call waiting for its answer fails. */
  close(): void {
    const child = this.child;
    const w = this.waiting;
    this.child = undefined;
    this.waiting = undefined;
    this.buf = "";
    if (child) {
      // Its stdin's end reaches the program through the shared connection's master, which holds
      // the pipe (killing the client alone would leave the program running there).
      child.stdin?.end();
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.kill("SIGKILL");
    }
    w?.reject(this.failure(`${this.spec.what} was ended before it answered`, { ended: true }));
  }

  /** The pid of its ssh client, while it runs (for tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  failure(message: string, extra: { timedOut?: boolean; ended?: boolean } = {}): ToolError {
    const { ended, ...more } = extra;
    return new (ended ? ServerEnded : ToolError)(`host ${this.target.name}: ${message}`, { argv: ["ssh", this.target.destination, ...this.spec.what.split(" ")], stderr: this.stderrTail(), ...more });
  }

  private async once(request: Record<string, unknown>, deadlineMs: number, what: string): Promise<unknown> {
    if (!this.child) await this.start(Math.max(deadlineMs, this.spec.startMs ?? 30_000));
    const child = this.child!;
    const id = this.next++;
    return this.wait(id, deadlineMs, `${what} did not answer within ${deadlineMs} ms`, () => child.stdin!.write(`${JSON.stringify({ ...request, id })}\n`));
  }

  private async start(deadlineMs: number): Promise<void> {
    const kept = spawnKeptSsh(this.s, this.target, {
      data: (b) => {
        if (this.child !== child) return;
        this.buf += b.toString("utf8");
        this.read();
      },
      ended: (why) => {
        if (this.child !== child) return;
        this.child = undefined;
        const w = this.waiting;
        this.waiting = undefined;
        w?.reject(this.failure(`its ${this.spec.what} ended: ${why}`, { ended: true }));
      },
    });
    const child = kept.child;
    this.child = child;
    this.buf = "";
    this.stderrTail = kept.stderrTail;
    this.starts++;
    const hello = await this.wait("hello", deadlineMs, `${this.spec.what} did not start within ${deadlineMs} ms`, () => child.stdin!.write(scriptInput(this.spec.script, this.spec.args)));
    const refused = this.spec.refuseHello(hello);
    if (refused !== undefined) {
      this.close();
      throw this.failure(`${this.spec.what} there: ${refused}`);
    }
  }

  /** Sends with `send`, then waits for the line answering `id`. */
  private wait(id: number | "hello", deadlineMs: number, late: string, send: () => void): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        this.close();
        reject(this.failure(late, { timedOut: true }));
      }, deadlineMs);
      this.waiting = { id, resolve: (v) => (clearTimeout(timer), resolve(v)), reject: (e) => (clearTimeout(timer), reject(e)) };
      send();
      this.read();
    });
  }

  /** The waiting call's line, once it is all in. */
  private read(): void {
    const w = this.waiting;
    if (!w) return;
    const nl = this.buf.indexOf("\n");
    if (nl < 0) return;
    const text = this.buf.slice(0, nl);
    this.buf = this.buf.slice(nl + 1);
    this.waiting = undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    const fits = typeof value === "object" && value !== null && (w.id === "hello" || (value as { id?: unknown }).id === w.id);
    if (!fits) {
      this.close();
      w.reject(this.failure(`${this.spec.what} answered out of turn: ${text.slice(0, 200)}`));
      return;
    }
    w.resolve(value);
  }
}
