/**
 * Claude Code's permission modes as the installed version names them. 2.1.3xx renamed `default` to
 * `manual`: it lists `manual` and still takes `default`; 2.1.197 lists and takes only `default`.
 * `auto` exists only in versions that list it. What a claude takes is what its `--help` lists for
 * `--permission-mode`, and `default` where a look says it still takes that name.
 */
import { runProgram } from "./exec.js";

/** `manual` and `default`: one mode under its old and new names, the old one first. */
const MANUAL = ["default", "manual"];

/**
 * The `--permission-mode` choices `claude --help` lists; undefined when it cannot be read. For
 * `wanted` `manual` or `default` on a claude that lists only `manual`, `default` too when that
 * claude still takes it (it checks the mode before it prints its version).
 */
export async function claudePermissionModes(program: string, wanted?: string): Promise<string[] | undefined> {
  const [help, oldName] = await Promise.all([
    runProgram(program, ["--help"], { timeoutMs: 15_000 }).catch(() => undefined),
    wanted !== undefined && MANUAL.includes(wanted) ? takesMode(program, "default") : false,
  ]);
  const listed = help?.ok ? parsePermissionModes(help.stdout) : undefined;
  if (listed === undefined) return undefined;
  return oldName && !listed.includes("default") ? [...listed, "default"] : listed;
}

async function takesMode(program: string, mode: string): Promise<boolean> {
  try {
    const r = await runProgram(program, ["--permission-mode", mode, "--version"], { timeoutMs: 15_000 });
    return r.ok && r.stdout.trim() !== "";
  } catch {
    return false;
  }
}

/** `--permission-mode <mode> … (choices: "acceptEdits", "auto", …)` → the choices. */
export function parsePermissionModes(help: string): string[] | undefined {
  const m = /--permission-mode\b[^(]*\(choices:([^)]*)\)/.exec(help);
  if (!m?.[1]) return undefined;
  const modes = [...m[1].matchAll(/"([^"]+)"/g)].map((c) => c[1]!);
  return modes.length > 0 ? modes : undefined;
}

/**
 * The mode to pass to a claude that takes `choices`. `manual` and `default` go as `default` where
 * it is taken, else as `manual`: every Claude Code so far takes `default`, so a stage started on a
 * host whose claude is another version takes the same argument. `auto` only where it exists (an
 * error saying so otherwise). Anything else goes as it is, so claude's own words say what is wrong
 * with it.
 */
export function resolvePermissionMode(mode: string, choices: readonly string[] | undefined): { mode: string } | { error: string } {
  if (choices === undefined) return { mode };
  const name = MANUAL.includes(mode) ? MANUAL.find((n) => choices.includes(n)) : undefined;
  if (name !== undefined) return { mode: name };
  if (choices.includes(mode)) return { mode };
  if (mode === "auto") return { error: `permissionMode "auto" needs a Claude Code with auto mode, and this one offers ${choices.join(", ")}` };
  return { mode };
}
