/**
 * One long-lived program on a host, through its shared ssh connection, that answers JSON request
 * lines with JSON answer lines: what the controller's `autorun host serve` calls need
 * (src/host/host-server.ts). The program first says hello in one line; each request goes out as
 * `{"id": n, ...}` and is answered by a line carrying that id.
 *
 * Calls go side by side, and their answers come back in the order the program finishes them.
 * Nothing is written before the hello (the remote `sh -s` reads its script in blocks, and would
 * swallow a request sent with it): calls made meanwhile wait for it. A call past its deadline, an
 * answer to no call under way, or a program that ended (ssh failed, the host went away) ends it:
 * every call under way throws (`ServerEnded` for those that did not time out); the next call
 * starts it again. The ssh client holds nothing open: a person's command that used it
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
  /** Its start under way: until its hello, no request is written. */
  private starting: Promise<void> | undefined;
  private buf = "";
  private readonly waiting = new Map<number | "hello", Waiting>();
  private stderrTail: () => string = () => "";
  private next = 1;
  /** Times it was started (for tests). */
  starts = 0;

  constructor(
    private readonly s: SshSettings,
    private readonly target: SshTarget,
    private readonly spec: ServerSpec,
  ) {}

  /** `request` with an `id`, answered there: the answer line, parsed (its `id` the request's), or a ToolError (`ServerEnded` when the program ended first). */
  async call(request: Record<string, unknown>, deadlineMs: number, what: string): Promise<unknown> {
    const startMs = Math.max(deadlineMs, this.spec.startMs ?? 30_000);
    let child = await this.started(startMs);
    // Ended by another call meanwhile: not written into its closed pipe.
    while (this.child !== child) child = await this.started(startMs);
    const id = this.next++;
    return this.wait(id, deadlineMs, `${what} did not answer within ${deadlineMs} ms`, () => child.stdin!.write(`${JSON.stringify({ ...request, id })}\n`));
  }

  /** Starts it now, when it is not running, so that the next call finds it there; best effort. */
  warm(): void {
    if (!this.child && !this.starting) void this.started(this.spec.startMs ?? 30_000).catch(() => undefined);
  }

  /** The program once it has said hello: the one running, or one started now (or by another call). */
  private async started(deadlineMs: number): Promise<ChildProcess> {
    while (!this.child || this.starting) {
      this.starting ??= this.start(deadlineMs).finally(() => (this.starting = undefined));
      await this.starting;
    }
    return this.child;
  }

  /** Ends it (the next call starts it again); a call waiting for its answer fails. */
  close(): void {
    const child = this.child;
    const waiting = [...this.waiting.values()];
    this.child = undefined;
    this.waiting.clear();
    this.buf = "";
    if (child) {
      // Its stdin's end reaches the program through the shared connection's master, which holds
      // the pipe (killing the client alone would leave the program running there).
      child.stdin?.end();
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.kill("SIGKILL");
    }
    for (const w of waiting) w.reject(this.failure(`${this.spec.what} was ended before it answered`, { ended: true }));
  }

  /** The pid of its ssh client, while it runs (for tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  failure(message: string, extra: { timedOut?: boolean; ended?: boolean } = {}): ToolError {
    const { ended, ...more } = extra;
    return new (ended ? ServerEnded : ToolError)(`host ${this.target.name}: ${message}`, { argv: ["ssh", this.target.destination, ...this.spec.what.split(" ")], stderr: this.stderrTail(), ...more });
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
        const waiting = [...this.waiting.values()];
        this.waiting.clear();
        for (const w of waiting) w.reject(this.failure(`its ${this.spec.what} ended: ${why}`, { ended: true }));
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
        this.waiting.delete(id);
        this.close();
        reject(this.failure(late, { timedOut: true }));
      }, deadlineMs);
      this.waiting.set(id, { id, resolve: (v) => (clearTimeout(timer), resolve(v)), reject: (e) => (clearTimeout(timer), reject(e)) });
      send();
      this.read();
    });
  }

  /** Each whole line in: the hello, or the answer of the call its id names. */
  private read(): void {
    for (let nl = this.buf.indexOf("\n"); nl >= 0 && this.waiting.size > 0; nl = this.buf.indexOf("\n")) {
      const text = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        value = undefined;
      }
      const id = this.waiting.has("hello") ? "hello" : (value as { id?: unknown } | undefined)?.id;
      const w = typeof value === "object" && value !== null && (typeof id === "number" || id === "hello") ? this.waiting.get(id) : undefined;
      if (!w) {
        const others = [...this.waiting.values()];
        this.waiting.clear();
        this.close();
        for (const o of others) o.reject(this.failure(`${this.spec.what} answered no call under way: ${text.slice(0, 200)}`));
        return;
      }
      this.waiting.delete(w.id);
      w.resolve(value);
    }
  }
}
