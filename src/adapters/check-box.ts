/**
 * The box a `validate` command runs in: bubblewrap, as Claude Code's own Bash sandbox uses on
 * Linux. A check runs the code a stage wrote (its tests, its build), so it gets what an agent's
 * sandboxed Bash gets and no more: the whole filesystem read-only, its own checkout writable, a
 * private /tmp, no view of the run's state (`$AUTORUN_HOME`: events, reviews, ssh connections) or of
 * the person's other processes, and no terminal to type into. The network stays: checks install
 * packages (`npm ci`).
 */
import { findExecutable } from "./process.js";

export interface CheckBox {
  /** The checkout the check runs in (writable). */
  cwd: string;
  /** Directories hidden behind an empty one (the run's state). */
  hidden: readonly string[];
  /** Directories made visible again, read-only, after the hiding (the repository's git directory). */
  readable: readonly string[];
}

/** bubblewrap's path when checks can be boxed here (Linux with `bwrap`), else undefined. */
export function checkBoxProgram(platform: NodeJS.Platform = process.platform, find: (program: string) => string | undefined = findExecutable): string | undefined {
  return platform === "linux" ? find("bwrap") : undefined;
}

/** The argument list that runs `argv` in `box` with bubblewrap at `bwrap`. */
export function boxedArgv(bwrap: string, argv: readonly string[], box: CheckBox): string[] {
  return [
    bwrap,
    "--die-with-parent",
    // A session of its own: no TIOCSTI into the monitor's terminal.
    "--new-session",
    "--unshare-pid",
    "--unshare-ipc",
    "--ro-bind", "/", "/",
    "--dev", "/dev",
    "--proc", "/proc",
    "--tmpfs", "/tmp",
    ...box.hidden.flatMap((dir) => ["--tmpfs", dir]),
    ...box.readable.flatMap((dir) => ["--ro-bind", dir, dir]),
    "--bind", box.cwd, box.cwd,
    "--chdir", box.cwd,
    "--",
    ...argv,
  ];
}
