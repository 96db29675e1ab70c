/** What every command gets injected: where it runs, the home, and where it writes. Light: hooks load it. */
import { autorunHome } from "../state/paths.js";
import { printable } from "../core/printable.js";

export interface Ctx {
  cwd: string;
  env: NodeJS.ProcessEnv;
  home: string;
  out: (line: string) => void;
  err: (line: string) => void;
  isTTY: boolean;
}

export function defaultCtx(): Ctx {
  return {
    cwd: process.cwd(),
    env: process.env,
    home: autorunHome(process.env),
    out: (line) => process.stdout.write(printable(line) + "\n"),
    err: (line) => process.stderr.write(printable(line) + "\n"),
    isTTY: Boolean(process.stdout.isTTY),
  };
}

