/** What every command gets injected: where it runs, its environment and home, where it writes, its clock. Light: hooks load it. */
import { autorunHome } from "../state/paths.js";
import { printable } from "../core/printable.js";
import { realClock, type Clock } from "../core/clock.js";

export interface Ctx {
  cwd: string;
  env: NodeJS.ProcessEnv;
  home: string;
  out: (line: string) => void;
  err: (line: string) => void;
  isTTY: boolean;
  /** The terminal's width in columns (undefined when not a terminal). */
  columns?: () => number | undefined;
  /** Clears the terminal (`status --watch` before each redraw); nothing when not a terminal. */
  clearScreen?: () => void;
  /** Time, and waiting: what polls and waits (a monitor stopping, a nudge's checks) go by. */
  clock: Clock;
}

export function defaultCtx(): Ctx {
  return {
    cwd: process.cwd(),
    env: process.env,
    home: autorunHome(process.env),
    out: (line) => process.stdout.write(printable(line) + "\n"),
    err: (line) => process.stderr.write(printable(line) + "\n"),
    isTTY: Boolean(process.stdout.isTTY),
    columns: () => process.stdout.columns,
    clearScreen: () => {
      if (process.stdout.isTTY) process.stdout.write("\x1b[H\x1b[2J");
    },
    clock: realClock,
  };
}

