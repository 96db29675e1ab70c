/**
 * `autorun completion bash|zsh`: a completion script made from the command table, so it names every
 * command, subcommand and option the installed autorun has (commands for autorun itself left out).
 * A run's name completes where a command takes one first, from the runs under AUTORUN_HOME, and a
 * stage id after it where the command takes one, from that run's stages; other words that are not
 * options complete as file names (plans are files).
 */
import { UserError } from "../errors.js";
import type { CommandSpec } from "./command-spec.js";
import type { Ctx } from "./ctx.js";

const WORD = /^[a-z][a-z0-9-]*$/;
const FLAG = /^--?[a-z][a-z0-9-]*$/;

/** Each visible command's words and option flags (`-f, --follow <x>` gives `-f --follow`), checked to be plain words. */
export function completionWords(commands: readonly CommandSpec[]): { path: string[]; flags: string[] }[] {
  return commands
    .filter((c) => !c.hidden)
    .map((c) => {
      const path = c.name.split(" ");
      const flags = [...(c.options ?? []).flatMap((o) => o.flags.split(/[\s,]+/).filter((t) => t.startsWith("-"))), "--help"];
      for (const w of [...path, ...flags]) if (!WORD.test(w) && !FLAG.test(w)) throw new Error(`command table: ${JSON.stringify(w)} is not a plain word`);
      return { path, flags };
    });
}

/** The commands whose first argument names a run (`<plan>`, `[plan]`), not a plan file to start. */
function planCommands(commands: readonly CommandSpec[]): string[] {
  return commands.filter((c) => !c.hidden && c.name !== "orchestrate" && !c.name.includes(" ") && /^[<[]plan[\]>]$/.test(c.args?.[0]?.[0] ?? "")).map((c) => c.name);
}

/** Of those, the commands whose next arguments are stage ids: `once` when it takes one, else any number. */
function stageCommands(commands: readonly CommandSpec[]): { once: string[]; many: string[] } {
  const second = (c: CommandSpec) => (planCommands(commands).includes(c.name) ? (c.args?.[1]?.[0] ?? "") : "");
  return {
    once: commands.filter((c) => /^[<[]stage[\]>]$/.test(second(c))).map((c) => c.name),
    many: commands.filter((c) => /^[<[]stage\.\.\.[\]>]$/.test(second(c))).map((c) => c.name),
  };
}

/** The bash functions (zsh runs them through bashcompinit). */
export function bashScript(commands: readonly CommandSpec[]): string {
  const words = completionWords(commands);
  const tops = [...new Set(words.map((w) => w.path[0]!))];
  const groups = tops.filter((t) => words.some((w) => w.path[0] === t && w.path.length > 1));
  const stages = stageCommands(commands);
  const lines = [
    "# autorun completion for bash: eval \"$(autorun completion bash)\" in ~/.bashrc",
    "_autorun_runs() {",
    '  local f names=()',
    '  for f in "${AUTORUN_HOME:-$HOME/.autorun}"/orchestration/*/; do f="${f%/}"; [ -d "$f" ] && names+=("${f##*/}"); done',
    '  COMPREPLY=($(compgen -W "${names[*]}" -- "$cur"))',
    "}",
    // A run's stages, from their context files (stage-<id>-context.md): no autorun process per key.
    "_autorun_stages() {",
    '  local f ids=()',
    '  for f in "${AUTORUN_HOME:-$HOME/.autorun}/orchestration/$1"/stages/stage-*-context.md; do [ -f "$f" ] || continue; f="${f##*/stage-}"; ids+=("${f%-context.md}"); done',
    '  COMPREPLY=($(compgen -W "${ids[*]}" -- "$cur"))',
    "}",
    "_autorun() {",
    '  local cur="${COMP_WORDS[COMP_CWORD]}" key="${COMP_WORDS[1]}" opts=""',
    `  if [ "$COMP_CWORD" -eq 1 ]; then COMPREPLY=($(compgen -W "${tops.join(" ")} --help --version" -- "$cur")); return; fi`,
    '  case "$key" in',
    ...groups.map((g) => {
      const subs = words.filter((w) => w.path[0] === g && w.path.length > 1).map((w) => w.path[1]!);
      return `    ${g}) if [ "$COMP_CWORD" -eq 2 ]; then COMPREPLY=($(compgen -W "${subs.join(" ")}" -- "$cur")); return; fi; key="${g} \${COMP_WORDS[2]}" ;;`;
    }),
    "  esac",
    // A stage id of the run named before it, where the command takes one (any number for retry).
    `  case "$cur" in -*) ;; *) case "$key" in ${stages.once.join("|")}) [ "$COMP_CWORD" -eq 3 ] && _autorun_stages "\${COMP_WORDS[2]}" ;; ${stages.many.join("|")}) [ "$COMP_CWORD" -ge 3 ] && _autorun_stages "\${COMP_WORDS[2]}" ;; esac ;; esac`,
    // A run's name where a command takes one first (a plan file still completes as a file).
    `  case "$cur" in -*) ;; *) [ "$COMP_CWORD" -eq 2 ] && case "$key" in ${planCommands(commands).join("|")}) _autorun_runs ;; esac; return ;; esac`,
    '  case "$key" in',
    ...words.map((w) => `    "${w.path.join(" ")}") opts="${w.flags.join(" ")}" ;;`),
    "  esac",
    '  COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
    "}",
    "complete -o default -F _autorun autorun",
  ];
  return `${lines.join("\n")}\n`;
}

export function zshScript(commands: readonly CommandSpec[]): string {
  return [
    "# autorun completion for zsh: eval \"$(autorun completion zsh)\" in ~/.zshrc (after compinit)",
    "autoload -U +X bashcompinit && bashcompinit",
    bashScript(commands).split("\n").slice(1).join("\n"),
  ].join("\n");
}

export async function runCompletion(ctx: Ctx, shell: string): Promise<number> {
  const { COMMANDS } = await import("./table.js");
  if (shell !== "bash" && shell !== "zsh") throw new UserError(`completion ${shell}: autorun completes in bash and zsh; run \`autorun completion bash\` or \`autorun completion zsh\`.`);
  for (const line of (shell === "bash" ? bashScript(COMMANDS) : zshScript(COMMANDS)).trimEnd().split("\n")) ctx.out(line);
  return 0;
}
