/**
 * How a tmux session's program gets its environment and its directory.
 *
 * Not on a command line: the tmux server keeps, for its whole life, the argv of the client that
 * started it, and `ps -eo args` shows any process's argv to every local user; tmux also shows a
 * pane's command to its clients (`#{pane_start_command}`). So the variables (API keys among them)
 * go to a file only the user can read (0600, in a 0700 directory), which a fixed `/bin/sh` script
 * loads, removes, and then `exec`s the program in the session's directory. The script is a
 * constant: what it loads and runs arrives as its positional arguments, never spliced into it.
 * (Node 20 has no `execve`, so an autorun process would have to stay beside every agent.)
 *
 * Not through `new-session -c`: tmux expands formats there, `#` must be doubled, and `##[` (as in
 * `a#[fg=red]b`) stays doubled, so tmux gets a directory that does not exist and silently starts
 * the pane in the client's own directory. `cd` takes the path as it is and fails loudly.
 */
import { closeSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { UserError } from "../errors.js";

/**
 * `sh -c SESSION_SCRIPT autorun-session <env file> <dir> <program> <args…>`. Only positional
 * parameters are used after the file is loaded, so no variable in it can redirect the `rm` or `cd`.
 */
export const SESSION_SCRIPT =
  '. "$1" || exit 126; rm -f -- "$1"; cd -- "$2" || { printf "autorun: cannot start in %s\\n" "$2" >&2; exit 126; }; shift 2; exec "$@"';

/** Variables a POSIX shell (bash as sh among them) keeps read-only or for itself: setting them would stop the script. */
const SHELL_OWN = /^(BASHOPTS|SHELLOPTS|BASH_[A-Z_]*|EUID|UID|PPID|GROUPS|HOSTNAME|PWD|OLDPWD|IFS|ENV|CDPATH|PS4)$/;

/** A file not yet loaded this long after it was written belongs to a session that never started. */
const STALE_MS = 60_000;

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The file's text: unset these names, then export each variable. */
export function sessionEnvText(env: Readonly<Record<string, string>>, unset: readonly string[]): string {
  const lines: string[] = [];
  const names = [...new Set(unset)].filter((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !SHELL_OWN.test(name));
  if (names.length > 0) lines.push(`unset ${names.join(" ")}`);
  for (const [name, value] of Object.entries(env)) {
    // A name is reported, never a value: the value may be a secret.
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UserError(`the session variable ${JSON.stringify(name.slice(0, 60))} is not a valid name (letters, digits and _ only); unset it in the shell that runs autorun.`);
    if (SHELL_OWN.test(name)) continue;
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Writes a session's environment file (0600, created new) in `dir` (made 0700). */
export function writeSessionEnv(dir: string, session: string, env: Readonly<Record<string, string>>, unset: readonly string[]): string {
  const text = sessionEnvText(env, unset);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  removeStale(dir);
  const file = join(dir, `${session.replace(/[^A-Za-z0-9_-]/g, "_")}-${randomBytes(6).toString("hex")}.env`);
  const fd = openSync(file, "wx", 0o600);
  try {
    const bytes = Buffer.from(text);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
  } finally {
    closeSync(fd);
  }
  return file;
}

function removeStale(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    if (!name.endsWith(".env")) continue;
    try {
      if (now - statSync(join(dir, name)).mtimeMs > STALE_MS) unlinkSync(join(dir, name));
    } catch {
      // Loaded (and removed) by its session meanwhile.
    }
  }
}

/** The argv tmux runs for a session: the script, then where it loads from and starts, then the program. */
export function sessionProgram(envFile: string, cwd: string, argv: readonly string[]): string[] {
  return ["/bin/sh", "-c", SESSION_SCRIPT, "autorun-session", envFile, cwd, ...argv];
}
