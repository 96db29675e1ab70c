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
    clock: realClock,
  };
}

