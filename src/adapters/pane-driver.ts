/**
 * One real Claude Code TUI in a tmux pane, driven the way a person (or the monitor) would: keys
 * in, `capture-pane -p` out. `autorun doctor --claude` reads every screen autorun must understand
 * with it, and so does the real-client test lane. `tmux` runs one tmux command on the server the
 * caller chose (always a private one here: `-L <socket>`).
 */
export type TmuxRun = (...args: string[]) => Promise<{ code: number; stdout: string }>;

export interface Size {
  width: number;
  height: number;
}

/** autorun's own sessions' size first, then a smaller terminal. */
export const SIZES: Size[] = [
  { width: 200, height: 50 },
  { width: 120, height: 40 },
];

/** Polls `fn` until it gives a value; throws "timed out waiting for <what>" after `timeoutMs`. */
export async function waitUntil<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export class PaneDriver {
  private constructor(
    private readonly tmux: TmuxRun,
    private readonly target: string,
  ) {}

  /** Starts `argv` (claude and its flags) with `env` in front (`env` is given to env(1)), in a new session at 200×50. */
  static async start(tmux: TmuxRun, name: string, run: { argv: string[]; env: string[]; cwd: string }): Promise<PaneDriver> {
    const { argv, env, cwd } = run;
    const { width, height } = SIZES[0]!;
    const r = await tmux("new-session", "-d", "-s", name, "-x", String(width), "-y", String(height), "-c", cwd, "--", "env", ...env, ...argv);
    if (r.code !== 0) throw new Error(`tmux new-session ${name} failed: ${r.stdout}`);
    return new PaneDriver(tmux, `=${name}:`);
  }

  /** A session already running on the server. */
  static attach(tmux: TmuxRun, name: string): PaneDriver {
    return new PaneDriver(tmux, `=${name}:`);
  }

  async capture(): Promise<string> {
    return (await this.tmux("capture-pane", "-p", "-t", this.target)).stdout;
  }

  /** Text typed literally (never read as key names). */
  async type(text: string): Promise<void> {
    await this.tmux("send-keys", "-t", this.target, "-l", text);
  }

  /** A message sent as the monitor sends one: typed, seen on the input line, then Enter. */
  async submit(text: string): Promise<void> {
    await this.type(text);
    const typed = new RegExp(`❯[\\s\\u00a0]${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`);
    await this.screen(`"${text}" on the input line`, typed);
    await this.keys("Enter");
  }

  async keys(...keys: string[]): Promise<void> {
    for (const key of keys) await this.tmux("send-keys", "-t", this.target, key);
  }

  /**
   * The screen once it shows `re` and, unless it animates (a spinner), has stopped changing: the
   * same text twice, 300 ms apart. On a timeout the error carries the last screen.
   */
  async screen(what: string, re: RegExp, opts: { animated?: boolean; timeoutMs?: number } = {}): Promise<string> {
    let last = "";
    try {
      return await waitUntil(
        what,
        async () => {
          const text = await this.capture();
          const settled = opts.animated === true || text === last;
          last = text;
          return re.test(text) && settled ? text : undefined;
        },
        opts.timeoutMs ?? 30_000,
        300,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; the screen:\n${last}`, { cause: error });
    }
  }

  /** The window at `size`, once the pane has taken it. */
  async resize(size: Size): Promise<void> {
    await this.tmux("resize-window", "-t", this.target, "-x", String(size.width), "-y", String(size.height));
    await waitUntil(`the pane at ${size.width}×${size.height}`, async () => {
      const r = await this.tmux("display-message", "-p", "-t", this.target, "#{pane_width}x#{pane_height}");
      return r.stdout.trim() === `${size.width}x${size.height}`;
    });
  }

  async kill(): Promise<void> {
    await this.tmux("kill-session", "-t", this.target);
  }
}
