/**
 * One real Claude Code TUI in a pane of the sandbox's private tmux server (src/adapters/pane-driver.ts,
 * which `autorun doctor --claude` uses too). Used to read every screen autorun must understand, at
 * autorun's own 200×50 and at 120×40.
 */
import type { Sandbox } from "../helpers/env.js";
import { PaneDriver, SIZES, type Size } from "../../src/adapters/pane-driver.js";

export { SIZES, type Size };

export type Tui = PaneDriver;

export const Tui = {
  /** Starts `argv` (claude and its flags) with `env` on top of the sandbox's, in a new session. */
  start(sb: Sandbox, name: string, argv: string[], env: Record<string, string>, cwd: string): Promise<PaneDriver> {
    return PaneDriver.start((...args) => sb.tmux(...args), name, { argv: argv, env: Object.entries(env).map(([k, v]) => `${k}=${v}`), cwd: cwd });
  },
};
