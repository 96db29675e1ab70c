/**
 * Claude Code's permission modes as the installed version names them. 2.1.3xx renamed `default` to
 * `manual` (and still takes `default`); 2.1.197 refuses `manual`. `auto` exists only in versions
 * that list it. What a claude takes is what its `--help` lists for `--permission-mode`.
 */
import { runProgram } from "./exec.js";

/** The `--permission-mode` choices `claude --help` lists; undefined when it cannot be read. */
export async function claudePermissionModes(program: string): Promise<string[] | undefined> {
  try {
    const r = await runProgram(program, ["--help"], { timeoutMs: 15_000 });
    return r.ok ? parsePermissionModes(r.stdout) : undefined;
  } catch {
    return undefined;
  }
}

/** `--permission-mode <mode> … (choices: "acceptEdits", "auto", …)` → the choices. */
export function parsePermissionModes(help: string): string[] | undefined {
  const m = /--permission-mode\b[^(]*\(choices:([^)]*)\)/.exec(help);
  if (!m?.[1]) return undefined;
  const modes = [...m[1].matchAll(/"([^"]+)"/g)].map((c) => c[1]!);
  return modes.length > 0 ? modes : undefined;
}

/** The same mode under its two names. */
const ALIASES: Record<string, string> = { manual: "default", default: "manual" };

/**
 * The mode to pass to a claude that takes `choices`: `manual` and `default` under the name it
 * knows; `auto` only where it exists (an error saying so otherwise). Anything else goes as it is,
 * so claude's own words say what is wrong with it.
 */
export function resolvePermissionMode(mode: string, choices: readonly string[] | undefined): { mode: string } | { error: string } {
  if (choices === undefined || choices.includes(mode)) return { mode };
  const alias = ALIASES[mode];
  if (alias !== undefined && choices.includes(alias)) return { mode: alias };
  if (mode === "auto") return { error: `permissionMode "auto" needs a Claude Code with auto mode, and this one offers ${choices.join(", ")}` };
  return { mode };
}
