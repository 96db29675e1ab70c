/**
 * Before an agent is started (orchestrate, retry, resume) and in the dry run: every reason the run
 * would be refused, each with its fix. One list for both, so they cannot disagree.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, isAbsolute, join } from "node:path";
import { homedir } from "node:os";
import type { Config } from "../state/config.js";
import { commandVersion, findExecutable } from "../adapters/process.js";
import { checkBoxProgram } from "../adapters/check-box.js";
import { CLAUDE_MIN_VERSION, claudeTooOld, claudeTrust, isClaude, sandboxAvailable, templateProblem } from "../adapters/agent.js";
import * as git from "../adapters/git.js";
import { claudePermissionModes, resolvePermissionMode } from "../adapters/claude-modes.js";
import { writeSettings } from "../state/settings.js";
import type { LoadedOrchestration } from "../state/orchestration.js";
import { UserError } from "../errors.js";
import { resolveHosts } from "../core/hosts.js";

/**
 * Claude Code asks once about a key in `ANTHROPIC_API_KEY` ("Detected a custom API key") and keeps
 * the answer in `~/.claude.json` by the key's last 20 characters: a session meeting that question
 * waits for a person, so a key not approved yet is refused here.
 */
function apiKeyProblem(env: NodeJS.ProcessEnv): string | undefined {
  const key = env.ANTHROPIC_API_KEY;
  if (!key) return undefined;
  const file = join(env.CLAUDE_CONFIG_DIR ?? env.HOME ?? homedir(), ".claude.json");
  let responses: { approved?: unknown; rejected?: unknown } | undefined;
  try {
    responses = (JSON.parse(readFileSync(file, "utf8")) as { customApiKeyResponses?: typeof responses }).customApiKeyResponses;
  } catch {
    responses = undefined;
  }
  const tail = key.slice(-20);
  const has = (list: unknown) => Array.isArray(list) && list.includes(tail);
  if (has(responses?.approved)) return undefined;
  const what = has(responses?.rejected) ? "was rejected when Claude Code asked about it" : "has not been approved in Claude Code yet";
  return `ANTHROPIC_API_KEY is set but ${what} (${file}), so every stage would stop at "Detected a custom API key"; run claude once in a terminal with this key and answer Yes, or unset ANTHROPIC_API_KEY to use your login.`;
}

const INTERPRETER = /^(node|nodejs|python[\d.]*|ruby|perl|bash|sh|zsh|dash|deno|bun|tsx|ts-node)$/;
const SCRIPT = /\.(c|m)?(js|ts)$|\.(py|rb|pl|sh|bash)$/;
/** Flags after which the next argument is code or a module, not the script. */
const TAKES_VALUE = /^(-e|-p|-m|-r|-c|-C|--eval|--print|--require|--import|--loader|--experimental-loader|--env-file|--conditions|--command)$|^-[a-z]*c$/;

/**
 * The script an interpreter in the agent command would run (`node /path/agent.js`), when it is not
 * there: otherwise every stage fails the moment it starts. A relative path is looked up in the
 * project, whose files the stages' worktrees hold.
 */
function missingScript(command: readonly string[], projectRoot: string): string | undefined {
  if (!INTERPRETER.test(basename(command[0]!))) return undefined;
  for (const [i, arg] of command.slice(1).entries()) {
    if (arg.startsWith("-")) continue;
    if (i > 0 && TAKES_VALUE.test(command[i]!)) return undefined;
    // Only a file named as a script: a value of a flag autorun does not know (`--experimental-loader
    // ts-node/esm`) is not taken for one.
    if (arg.includes("{") || !SCRIPT.test(arg)) return undefined;
    return existsSync(isAbsolute(arg) ? arg : join(projectRoot, arg)) ? undefined : arg;
  }
  return undefined;
}

/**
 * Every refusal a run would make before it starts an agent: an agent command that is not installed
 * or whose script is missing;
 * for Claude Code, bypass mode as root (it refuses to start), a project not trusted yet, a version
 * without `--worktree`, a permission mode it does not know, an API key it has not approved; a git
 * with no identity for the merge commits; and, for a new run (`hosts`), each configured host a
 * stage may run on that could not run one. Empty when the run may start.
 */
export async function preflightProblems(config: Config, env: NodeJS.ProcessEnv, projectRoot: string, hosts?: NewRunHosts): Promise<string[]> {
  return (await preflight(config, env, projectRoot, hosts)).problems;
}

/** The refusals, and the permission mode to run with under a name the installed claude takes. */
async function preflight(config: Config, env: NodeJS.ProcessEnv, projectRoot: string, hosts?: NewRunHosts): Promise<{ problems: string[]; mode: string | undefined }> {
  const problems: string[] = [];
  const program = config.agentCommand[0]!;
  const found = findExecutable(program, env.PATH);
  // The programs asked at once: a dry run is run often, and each answer takes tens of milliseconds.
  const claude = found !== undefined && isClaude(program);
  const [ident, version, modes, away] = await Promise.all([
    git.committerIdent(projectRoot),
    claude ? commandVersion(found, ["--version"]) : undefined,
    claude && config.permissionMode ? claudePermissionModes(found, config.permissionMode) : undefined,
    hosts ? hostProblems(config, hosts) : [],
  ]);
  problems.push(...away);
  if (!ident) {
    problems.push(`git has no identity in ${projectRoot}, and merge commits need one; set it: git config --global user.name "Your Name" && git config --global user.email you@example.com`);
  }
  if (!found) {
    const hint = isClaude(program) ? "install Claude Code (npm install -g @anthropic-ai/claude-code), or " : "";
    return { problems: [`the agent command "${program}" is not installed or not on PATH; ${hint}set agentCommand in autorun.config.json or pass --agent-cmd.`, ...problems], mode: config.permissionMode };
  }
  const script = missingScript(config.agentCommand, projectRoot);
  if (script !== undefined) {
    problems.unshift(`the agent command's script ${script} does not exist${isAbsolute(script) ? "" : ` in ${projectRoot}`} (${basename(program)} would exit at once in every stage); fix the path in agentCommand or --agent-cmd.`);
  }
  if (!isClaude(program)) return { problems, mode: config.permissionMode };
  const out: string[] = [];
  const bypass = config.permissionMode === "bypassPermissions" || config.agentCommand.includes("--dangerously-skip-permissions");
  if (bypass && process.getuid?.() === 0 && env.IS_SANDBOX !== "1") {
    out.push(`Claude Code refuses bypassPermissions as root; use permissionMode "acceptEdits" (the default), run as another user, or set IS_SANDBOX=1 inside a sandbox.`);
  }
  const trust = claudeTrust(projectRoot, env);
  if (trust.trusted !== true) {
    out.push(`Claude Code has not been trusted in ${projectRoot} (${trust.trusted === undefined ? `no ${trust.file}` : `not in ${trust.file}`}), and claude --worktree exits without it; run claude in ${projectRoot} once and accept "Yes, I trust this folder", then orchestrate again.`);
  }
  if (version !== undefined && claudeTooOld(version)) {
    out.push(`${program} is Claude Code ${version.split(" ")[0]}, too old for --worktree (needs ${CLAUDE_MIN_VERSION.join(".")} or later); update it: npm install -g @anthropic-ai/claude-code.`);
  }
  const mode = config.permissionMode === undefined ? undefined : resolvePermissionMode(config.permissionMode, modes);
  if (mode && modes) {
    if ("error" in mode) out.push(`${mode.error} (${program}${version ? ` is Claude Code ${version.split(" ")[0]}` : ""}); update it (npm install -g @anthropic-ai/claude-code) or set permissionMode to "acceptEdits".`);
    else if (!modes.includes(mode.mode)) out.push(`permission mode "${config.permissionMode}" is not one ${program}${version ? ` ${version.split(" ")[0]}` : ""} knows (${modes.join(", ")}); set --permission-mode or permissionMode to one of them.`);
  }
  const key = apiKeyProblem(env);
  if (key) out.push(key);
  return { problems: [...out, ...problems], mode: mode === undefined || "error" in mode ? config.permissionMode : mode.mode };
}

/**
 * Agent command templates (the configuration's and each host's) that would start the agent in the
 * project's own checkout: said before a run, not refused (an agent that only waits, as in a test
 * of autorun itself, does no harm there).
 */
export function templateWarnings(config: Config): string[] {
  const each = [templateProblem(config.agentCommand), ...resolveHosts(config).map((h) => (h.agentCommand ? templateProblem(h.agentCommand, `hosts.${h.name}.agentCommand`) : undefined))];
  return each.filter((w): w is string => w !== undefined);
}

/** Where a new run's hosts are checked from: the ssh connections' home, and the project's slug (the host's root). */
export interface NewRunHosts {
  home: string;
  slug: string;
}

/**
 * Each configured host a stage may run on (slots above 0) that could not run one: not reachable,
 * without this autorun, tmux, git or the agent command, or (Claude Code) not trusting the project's
 * root there. Its stages would only wait at their launch, or fail there.
 */
export async function hostProblems(config: Config, at: NewRunHosts): Promise<string[]> {
  const hosts = resolveHosts(config).filter((h) => !h.local && h.slots > 0);
  if (hosts.length === 0) return [];
  const { hostFindings } = await import("./host-check.js");
  const found = await hostFindings({ home: at.home }, hosts, { agentCommand: config.agentCommand, sandbox: config.sandbox }, [at.slug]);
  return found.filter((f) => f.level === "problem").map((f) => `${f.text} (or leave the host out: hosts.${f.host}.slots 0)`);
}

/**
 * The real run's preflight: the first refusal, as a one-line error (the dry run lists them all).
 * Returns the permission mode to run with, under a name the installed claude takes (`manual` as
 * `default` wherever that is taken: Claude Code 2.1.3xx renamed one to the other).
 */
export async function preflightAgent(config: Config, env: NodeJS.ProcessEnv, projectRoot: string, hosts?: NewRunHosts): Promise<string | undefined> {
  const { problems, mode } = await preflight(config, env, projectRoot, hosts);
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more; autorun orchestrate <plan> --dry-run lists every one)` : "";
    throw new UserError(`${problems[0]!.replace(/\.$/, "")}${more}.`);
  }
  return mode;
}

/**
 * Resume and retry: the preflight of a running orchestration, its settings brought to the mode's
 * name the installed claude takes (Claude Code may have been updated since the run started).
 */
export async function preflightOrchestration(orch: LoadedOrchestration, env: NodeJS.ProcessEnv): Promise<void> {
  const mode = await preflightAgent(orch.config, env, orch.status.project_root);
  if (mode !== orch.config.permissionMode) writeSettings(orch.paths.dir, { ...orch.config, ...(mode === undefined ? {} : { permissionMode: mode }) });
}

/**
 * Whether the merge's checks (`validate`) run boxed: they run the code the stages wrote, with
 * bubblewrap as the stages' own Bash runs (Linux, `sandbox` on), else with the person's rights.
 */
export function checkBoxLine(wanted: boolean, find: (p: string) => string | undefined = (p) => findExecutable(p), platform: NodeJS.Platform = process.platform): ["ok" | "warn", string] {
  if (wanted && checkBoxProgram(platform, find)) return ["ok", "checks (validate): run boxed (bubblewrap): the stages' code they run writes only the check's own checkout and /tmp"];
  const why = !wanted ? "sandbox: false in the configuration" : platform !== "linux" ? `no box for them on ${platform}` : "no bubblewrap here: apt-get install bubblewrap";
  return ["warn", `checks (validate): run unboxed (${why}): the stages' code they run (tests, builds) runs with your rights`];
}

/** Claude Code's Bash sandbox: on where it can run, unless the configuration turns it off. */
export function checkSandbox(wanted: boolean, find: (p: string) => string | undefined = (p) => findExecutable(p), platform: NodeJS.Platform = process.platform): ["ok" | "warn", string] {
  const without = "Bash commands outside the workflow's allow-list each wait for a person (a review), and an allowed command is bounded by nothing but its rule";
  if (!wanted) return ["warn", `Bash sandbox: off (sandbox: false in the configuration): ${without}`];
  const { ok, missing } = sandboxAvailable(find, platform);
  if (ok) return ["ok", `Bash sandbox: on (${platform === "darwin" ? "Seatbelt" : "bubblewrap + socat"}): stages run Bash unasked, writing only their worktree and their branch`];
  const install = missing.length > 0 ? `: install ${missing.map((m) => (m === "bwrap" ? "bubblewrap" : m)).join(" and ")} (apt-get install bubblewrap socat)` : ` on ${platform}`;
  return ["warn", `Bash sandbox: not available${install}; until then ${without}`];
}
