/**
 * The monitor's process loop: a pass whenever events.jsonl changes, on a safety-net tick, or when a
 * pass asks to be woken; never two passes at once (a change during a pass runs one more); one way
 * to stop. The watcher, the timer and what "still ours" means are injected, so the loop is tested
 * without files or time.
 */
import type { Monitor } from "./controller.js";

export interface LoopDeps {
  monitor: Pick<Monitor, "pass" | "settle">;
  /** Calls `onChange` whenever events.jsonl changes. */
  watch(onChange: () => void): { close(): Promise<void> };
  /** Calls `fn` every `ms`; returns what cancels it. */
  every(ms: number, fn: () => void): () => void;
  pollMs: number;
  /** Whether this process still owns the orchestration (its pid file, the same events.jsonl). */
  owned(): boolean;
  /** Once the run is over, before stopping (the report). */
  finished(): Promise<void>;
  /** The last words of a monitor that owned the run: `monitor_stopped`, the status, the pid file. */
  release(reason: string): Promise<void>;
  log(msg: string): void;
  debug?: boolean;
}

export class MonitorLoop {
  private running = false;
  private again = false;
  private stopped = false;
  /** A signal asked it to stop: no pass starts, and the one under way ends first. */
  private stopping = false;
  private current: Promise<void> = Promise.resolve();
  private done: (code: number) => void = () => undefined;
  private watcher: { close(): Promise<void> } | undefined;
  private cancelTick: () => void = () => undefined;

  constructor(private readonly deps: LoopDeps) {}

  /** Runs until the orchestration is over or `stop` is called; resolves to the exit code. */
  run(): Promise<number> {
    return new Promise<number>((resolve) => {
      this.done = resolve;
      this.watcher = this.deps.watch(() => this.kick());
      this.cancelTick = this.deps.every(this.deps.pollMs, () => this.kick());
      this.kick();
    });
  }

  /** Asks for a pass: now, or right after the one running. */
  kick(): void {
    if (this.stopped || this.stopping) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.current = this.passes().finally(() => {
      this.running = false;
    });
  }

  private async passes(): Promise<void> {
    try {
      do {
        this.again = false;
        // Another monitor took the pid file, or the orchestration was removed or replaced under us:
        // stop and touch nothing of it.
        if (!this.deps.owned()) {
          this.deps.log("this monitor no longer owns the orchestration (pid file or events.jsonl replaced); stopping");
          await this.end(1, "replaced", false);
          return;
        }
        const r = await this.deps.monitor.pass();
        if (r.done) {
          await this.deps.finished();
          await this.end(r.code, r.code === 0 ? "orchestration complete" : "nothing more can run", true);
          return;
        }
      } while (this.again && !this.stopped && !this.stopping);
    } catch (error) {
      this.deps.log(`monitor pass failed: ${(error as Error).message}`);
      if (this.deps.debug) this.deps.log((error as Error).stack ?? "");
    }
  }

  /**
   * Stopping on a signal: the pass under way first finishes (a launch half done would go on after
   * the monitor said it stopped, and `stop --sessions` would not know of its session), then `end`.
   */
  async stop(code: number, reason: string): Promise<void> {
    if (this.stopping || this.stopped) return;
    this.stopping = true;
    await this.current;
    await this.end(code, reason, true);
  }

  /**
   * The one way out: no more passes, merges in flight finished (never a half-done merge in the
   * person's repository), then, for a monitor that still owns the run, its last words.
   */
  private async end(code: number, reason: string, release: boolean): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelTick();
    await this.watcher?.close().catch(() => undefined);
    if (release) {
      await this.deps.monitor.settle().catch(() => undefined);
      await this.deps.release(reason);
    }
    this.done(code);
  }
}
