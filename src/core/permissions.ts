/**
 * Rights come only from a person: which "don't ask again" rules found after a stage may go to the
 * stages after it, and which changed files need a person's merge (guardedChanges, below).
 *
 * Which "don't ask again" rules found after a stage may go to the stages after it. A rule file in
 * a worktree (or the project's `.claude/settings.local.json`) is something the agent can write, so
 * a rule counts only when a person could have made it: the monitor saw a permission dialog for that
 * command on the stage's screen and left it to a person (it answers `permissionAnswers` itself and
 * records no such dialog). Only Bash rules naming a command prefix are carried; a wildcard
 * anywhere but at the end (`Bash(*)`, `Bash(git * --exec)`) never is.
 */

/** The command of a dialog as the monitor records it: "permission: Bash command · make --version · Show make version". */
export function dialogCommand(message: string): string | undefined {
  const parts = message.replace(/^permission:\s*/, "").split(" · ");
  return /^Bash command$/i.test(parts[0]?.trim() ?? "") && parts[1] ? parts[1].trim() : undefined;
}

/** `Bash(make:*)`, `Bash(make *)` → "make"; `Bash(make --version)` → "make --version"; anything else undefined. */
export function rulePrefix(rule: string): { prefix: string; exact: boolean } | undefined {
  const m = /^Bash\((.+)\)$/.exec(rule.trim());
  if (!m) return undefined;
  const whole = m[1]!.trim();
  const exact = !whole.endsWith(":*") && !whole.endsWith(" *");
  const body = exact ? whole : whole.slice(0, -2).trim();
  if (body === "" || /[*?]/.test(body)) return undefined;
  return { prefix: body, exact };
}

/**
 * A dialog the monitor saw: its question as recorded, and the command when the dialog set it apart
 * (Claude Code 2.1.332 and later draw it alone between two rules, its description above; 2.1.197
 * draws the command first, so the question's first part after the tool is the command).
 */
export interface SeenDialog {
  message: string;
  command?: string;
}

/** Splits the rules found into those a person's answer explains and those it does not. */
export function learnableRules(found: readonly string[], dialogs: readonly (SeenDialog | string)[]): { carried: string[]; dropped: string[] } {
  const commands = dialogs
    .map((d) => (typeof d === "string" ? dialogCommand(d) : (d.command ?? dialogCommand(d.message))))
    .filter((c): c is string => c !== undefined);
  const carried: string[] = [];
  const dropped: string[] = [];
  for (const rule of new Set(found)) {
    const r = rulePrefix(rule);
    const asked = r !== undefined && commands.some((c) => c === r.prefix || (!r.exact && c.startsWith(`${r.prefix} `)));
    (asked ? carried : dropped).push(rule);
  }
  return { carried, dropped };
}

/** What decides what a JavaScript package manager runs for a script: the manifest and each manager's settings. */
const PACKAGE_MANAGER_FILES = ["package.json", ".npmrc", ".yarnrc", ".yarnrc.yml", ".pnpmfile.cjs", "bunfig.toml"];

/**
 * Files that decide how the run checks a stage and what later agents may do: autorun's project
 * configuration, Claude Code's project settings (permissions, hooks, MCP servers), the run's plan
 * when it is in the project (`plan`, relative to the project: its stages' checks, budgets and
 * states, which `autorun retry` reads again), and the files the `validate` commands run (a script
 * of the project, or the manifest an `npm test` or `make` reads, and the package manager's own
 * settings, which can name the shell its scripts run in). A stage that changes one is
 * merged by a person, never by the monitor: it could otherwise pass its own check by rewriting it,
 * or widen every later stage's rights.
 */
export function guardedChanges(changed: readonly string[], checks: readonly (readonly string[])[], plan?: string): string[] {
  const guarded = new Set(["autorun.config.json", ".claude/settings.json", ".claude/settings.local.json", ".mcp.json", ...(plan ? [plan] : [])]);
  for (const argv of checks) {
    const program = argv[0]?.split("/").pop() ?? "";
    if (["npm", "npx", "pnpm", "yarn", "bun", "node"].includes(program)) PACKAGE_MANAGER_FILES.forEach((f) => guarded.add(f));
    if (["make", "gmake"].includes(program)) ["Makefile", "makefile", "GNUmakefile"].forEach((f) => guarded.add(f));
    // The program itself when it is the project's (`./check.sh`), or the script an interpreter runs.
    if (argv[0]?.includes("/")) guarded.add(argv[0].replace(/^\.\//, ""));
    const script = ["sh", "bash", "dash", "zsh", "node", "python", "python3", "ruby", "perl"].includes(program) ? argv.slice(1).find((a) => !a.startsWith("-")) : undefined;
    if (script && !argv.includes("-c") && !argv.includes("-e")) guarded.add(script.replace(/^\.\//, ""));
  }
  return changed.filter((f) => guarded.has(f));
}

/** Does `key` (an exact command, or `prefix:*`) name this command? */
export function keyMatches(key: string, command: string): boolean {
  if (key.endsWith(":*")) {
    const prefix = key.slice(0, -2);
    // A prefix answers one simple command: nothing chained, piped, substituted or redirected after it.
    if (prefix === "" || /[;&|`$<>\n\\]|\(/.test(command)) return false;
    return command === prefix || command.startsWith(`${prefix} `);
  }
  return command === key;
}

/** The `permissionAnswers` entry that names `command`: its exact key first, else a `prefix:*` one. */
export function answerFor(answers: Readonly<Record<string, string>>, command: string): [key: string, value: string] | undefined {
  const entries = Object.entries(answers);
  return entries.find(([key]) => key === command) ?? entries.find(([key]) => keyMatches(key, command));
}

/**
 * What Claude Code's PermissionRequest hook answers for a Bash call as its dialog is drawn: a
 * plain "yes" or "no" of `permissionAnswers` for the exact command. "Yes, don't ask again" and an
 * option's number are the dialog's own options: those are left to the dialog, answered on screen.
 */
export function hookAnswer(answers: Readonly<Record<string, string>>, command: string): { key: string; answer: "yes" | "no" } | undefined {
  const entry = answerFor(answers, command);
  if (!entry) return undefined;
  const value = entry[1].toLowerCase().replace(/\s+/g, " ").trim();
  return value === "yes" || value === "no" ? { key: entry[0], answer: value } : undefined;
}
