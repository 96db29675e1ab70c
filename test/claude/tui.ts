/**
 * One real Claude Code TUI in a pane of the sandbox's private tmux server, driven the way a person
 * (or the monitor) would: keys in, `capture-pane -p` out. Used to read every screen autorun must
 * understand, at autorun's own 200×50 and at 120×40.
 */
import { waitFor, type Sandbox } from "../helpers/env.js";

export interface Size {
  width: number;
  height: number;
}

export const SIZES: Size[] = [
  { width: 200, height: 50 },
  { width: 120, height: 40 },
];

export class Tui {
  private constructor(
    private readonly sb: Sandbox,
    private readonly target: string,
  ) {}

  /** Starts `argv` (claude and its flags) with `env` on top of the sandbox's, in a new session. */
  static async start(sb: Sandbox, name: string, argv: string[], env: Record<string, string>, cwd: string): Promise<Tui> {
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const { width, height } = SIZES[0]!;
    const r = await sb.tmux("new-session", "-d", "-s", name, "-x", String(width), "-y", String(height), "-c", cwd, "--", "env", ...vars, ...argv);
    if (r.code !== 0) throw new Error(`tmux new-session ${name} failed: ${r.stdout}`);
    return new Tui(sb, `=${name}:`);
  }

  async capture(): Promise<string> {
    return (await this.sb.tmux("capture-pane", "-p", "-t", this.target)).stdout;
  }

  /** Text typed literally (never read as key names). */
  async type(text: string): Promise<void> {
    await this.sb.tmux("send-keys", "-t", this.target, "-l", text);
  }

  /** A message sent as the monitor sends one: typed, seen on the input line, then Enter. */
  async submit(text: string): Promise<void> {
    await this.type(text);
    const typed = new RegExp(`❯[\\s\\u00a0]${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`);
    await this.screen(`"${text}" on the input line`, typed);
    await this.keys("Enter");
  }

  async keys(...keys: string[]): Promise<void> {
    for (const key of keys) await this.sb.tmux("send-keys", "-t", this.target, key);
  }

  /**
   * The screen once it shows `re` and, unless it animates (a spinner), has stopped changing: the
   * same text twice, 300 ms apart. On a timeout the error carries the last screen.
   */
  async screen(what: string, re: RegExp, opts: { animated?: boolean; timeoutMs?: number } = {}): Promise<string> {
    let last = "";
    try {
      return await waitFor(
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
      throw new Error(`${(error as Error).message}; the screen:\n${last}`);
    }
  }

  /** The window at `size`, once the pane has taken it. */
  async resize(size: Size): Promise<void> {
    await this.sb.tmux("resize-window", "-t", this.target, "-x", String(size.width), "-y", String(size.height));
    await waitFor(`the pane at ${size.width}×${size.height}`, async () => {
      const r = await this.sb.tmux("display-message", "-p", "-t", this.target, "#{pane_width}x#{pane_height}");
      return r.stdout.trim() === `${size.width}x${size.height}`;
    });
  }

  async kill(): Promise<void> {
    await this.sb.tmux("kill-session", "-t", this.target);
  }
}
