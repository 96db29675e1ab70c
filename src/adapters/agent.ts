/**
 * The agent command (docs/CLAUDE-CODE.md) as an argument array. `agentCommand` is a template: with no
 * placeholders it is the program (["claude"], ["node", "/x/sim-agent.js"]) and the standard
 * arguments follow it; otherwise `{worktree} {session_id} {plugin_dir} {settings} {prompt}
 * {context_file} {stage} {model} {permission_mode}` are substituted per element and `{args}`
 * expands to the standard arguments.
 */
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { UserError } from "../errors.js";
import { HOOK_EVENTS } from "../types/constants.js";
import { compareVersions } from "./claude-stand-in.js";

/** The installed package root (holds orchestration-templates/ and dist/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** This autorun's version, as `autorun --version` prints it. */
export function ownVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

export function pluginDir(): string {
  return join(packageRoot(), "orchestration-templates");
}

/** The autorun every session and hook calls: dist/bin/autorun (a link to the built cli.js). */
function autorunBin(): string {
  return join(packageRoot(), "dist", "bin", "autorun");
}

export function simAgentPath(): string {
  return join(packageRoot(), "dist", "scripts", "sim-agent.js");
}

/**
 * What a stage's workflow runs, allowed without asking: autorun's reporting commands (`phase`, `review new/wait/answers`) and the
 * git commands the templates prescribe, none with an option that runs a program or writes outside
 * the worktree (so no `git rebase:*`, which takes `--exec`, and no `git log`/`git diff`/`git show`,
 * which take `--output=<file>`; Claude Code lets their read-only forms through by itself). Claude
 * Code rules: `Bash(<prefix>:*)` matches a command line starting with the prefix, `Bash(<cmd>)`
 * that command exactly; a compound command (`a && b`) must match for each part.
 */
export const WORKFLOW_ALLOW = [
  "Bash(autorun phase:*)",
  "Bash(autorun review new:*)",
  "Bash(autorun review wait:*)",
  "Bash(autorun review answers:*)",
  "Bash(git add:*)",
  "Bash(git commit:*)",
  "Bash(git status)",
  "Bash(git rebase --continue)",
  "Bash(git rebase --abort)",
];

/** autorun's reporting commands: they write the run's own files, so they run outside the Bash sandbox (still only by the allow-list above). */
export const SANDBOX_EXCLUDED = ["autorun phase:*", "autorun review new:*", "autorun review wait:*", "autorun review answers:*"];

/**
 * Where a stage's Bash may write when Claude Code's sandbox is on: its worktree, and in the
 * repository's git directory exactly what `git commit` in a linked worktree writes (objects, the
 * branch's ref and log, the worktree's own admin directory). The worktree's `.git` file (which
 * names the git directory every git call there trusts) and the base branch's ref stay read-only.
 */
export interface StageScope {
  /** The stage's worktree (absolute). */
  worktree: string;
  /** The repository's git directory (`<root>/.git`). */
  commonDir: string;
  /** The worktree's admin directory name under `<commonDir>/worktrees/`. */
  adminName: string;
  baseBranch: string;
  /**
   * What else in the git directory exists at launch, never goes away and a commit never writes: the
   * main checkout's HEAD and index, packed refs, info/, objects/info (alternates), submodules' git
   * directories. Claude Code opens the whole git directory to a worktree session's Bash; these are
   * closed again. Only paths that exist are listed, and none that a run removes: for a missing one
   * the sandbox makes and removes a placeholder around every command, and one that vanishes
   * between its check and bubblewrap's mount fails the command.
   */
  gitGuarded?: readonly string[];
  /** Claude Code's Bash sandbox, with the network domains its commands may reach; undefined: off. */
  sandbox?: { domains: readonly string[] };
}

export function sandboxSettings(scope: StageScope & { sandbox: { domains: readonly string[] } }): Record<string, unknown> {
  const g = scope.commonDir;
  return {
    enabled: true,
    autoAllowBashIfSandboxed: true,
    // No model-chosen escape: a command that fails in the sandbox stays failed (or asks a person).
    allowUnsandboxedCommands: false,
    excludedCommands: SANDBOX_EXCLUDED,
    filesystem: {
      allowWrite: [scope.worktree, join(g, "objects"), join(g, "refs", "heads"), join(g, "logs", "refs", "heads"), join(g, "worktrees", scope.adminName)],
      // The worktree's admin files that say where its repository is: rewritten, they would point
      // every git run there (autorun's own, outside the sandbox, among them) at a config the agent wrote.
      denyWrite: [
        join(scope.worktree, ".git"),
        join(g, "worktrees", scope.adminName, "commondir"),
        join(g, "worktrees", scope.adminName, "gitdir"),
        join(g, "refs", "heads", scope.baseBranch),
        join(g, "logs", "refs", "heads", scope.baseBranch),
        ...(scope.gitGuarded ?? []),
      ],
    },
    network: { allowedDomains: [...scope.sandbox.domains] },
  };
}

/**
 * Claude Code settings for a stage session: the hooks (plain `autorun hook <Name>`, PATH carries
 * our bin first), the permissions its workflow needs (plus the config's `allowedTools`), the
 * worktree base, and with a scope the base branch's rebase and, when on, the Bash sandbox.
 */
export function agentSettings(allowedTools: readonly string[] = [], scope?: StageScope): Record<string, unknown> {
  const hooks: Record<string, unknown> = {};
  for (const name of HOOK_EVENTS) {
    const matcher = name === "Notification" ? { matcher: "" } : name === "PermissionRequest" ? { matcher: "Bash" } : {};
    hooks[name] = [{ ...matcher, hooks: [{ type: "command", command: `autorun hook ${name}`, timeout: 30 }] }];
  }
  const workflow = scope ? [...WORKFLOW_ALLOW, `Bash(git rebase ${scope.baseBranch})`] : WORKFLOW_ALLOW;
  return {
    hooks,
    permissions: { allow: [...new Set([...workflow, ...allowedTools])] },
    worktree: { baseRef: "head" },
    ...(scope?.sandbox ? { sandbox: sandboxSettings({ ...scope, sandbox: scope.sandbox }) } : {}),
  };
}

/**
 * Can Claude Code's Bash sandbox run here? macOS has Seatbelt built in; Linux needs bubblewrap
 * (`bwrap`) and `socat` on PATH. Elsewhere (or without them) it cannot, and autorun leaves it off.
 */
export function sandboxAvailable(find: (program: string) => string | undefined, platform: NodeJS.Platform = process.platform): { ok: boolean; missing: string[] } {
  if (platform === "darwin") return { ok: true, missing: [] };
  if (platform !== "linux") return { ok: false, missing: [] };
  const missing = ["bwrap", "socat"].filter((p) => !find(p));
  return { ok: missing.length === 0, missing };
}

export interface AgentParams {
  worktree: string;
  sessionId: string;
  contextFile: string;
  stage: string;
  model?: string;
  permissionMode?: string;
  /** Added to the session's permission allow-list. */
  allowedTools?: readonly string[];
  /** Relaunch: continue this conversation instead of starting one. */
  resume?: boolean;
  /** Where the stage may work (its rebase rule, and the sandbox's bounds when on). */
  scope?: StageScope;
  /** The autorun plugin where the session runs (another host's own); this autorun's by default. */
  pluginDir?: string;
}

function standardArgs(p: AgentParams): string[] {
  const args = p.resume
    ? ["--resume", p.sessionId]
    : ["--worktree", p.worktree, "--session-id", p.sessionId];
  args.push("--plugin-dir", p.pluginDir ?? pluginDir(), "--settings", JSON.stringify(agentSettings(p.allowedTools, p.scope)));
  if (p.model) args.push("--model", p.model);
  if (p.permissionMode) args.push("--permission-mode", p.permissionMode);
  args.push(p.resume ? "continue: you were restarted; carry on with your stage from where you left off" : `/autorun:start ${p.contextFile}`);
  return args;
}

/**
 * Why a template would start the agent outside its stage's worktree, or undefined. With
 * placeholders and neither `{args}` (whose `--worktree` starts it there) nor `{worktree}`, the
 * agent starts in the project's own checkout and works, and commits, on the person's branch.
 * (A warning before a run: `templateWarnings`.)
 */
export function templateProblem(template: readonly string[], where = "agentCommand"): string | undefined {
  const hasPlaceholder = template.some((t) => /\{[a-z_]+\}/.test(t));
  if (!hasPlaceholder || template.some((t) => t === "{args}" || t.includes("{worktree}"))) return undefined;
  return `${where} ${JSON.stringify(template)} has placeholders but neither {args} nor {worktree}, so the agent would start in the project's own checkout, not in its stage's worktree; add "{args}" (the standard arguments, --worktree among them), or {worktree} where the agent takes its directory.`;
}

export function buildAgentArgv(template: readonly string[], p: AgentParams): string[] {
  const std = standardArgs(p);
  const values: Record<string, string> = {
    worktree: p.worktree,
    session_id: p.sessionId,
    plugin_dir: p.pluginDir ?? pluginDir(),
    settings: JSON.stringify(agentSettings(p.allowedTools, p.scope)),
    prompt: std[std.length - 1]!,
    context_file: p.contextFile,
    stage: p.stage,
    model: p.model ?? "",
    permission_mode: p.permissionMode ?? "",
  };
  const hasPlaceholder = template.some((t) => /\{[a-z_]+\}/.test(t));
  if (!hasPlaceholder) return [...template, ...std];
  const out: string[] = [];
  for (const part of template) {
    if (part === "{args}") out.push(...std);
    else out.push(part.replace(/\{([a-z_]+)\}/g, (m, key: string) => values[key] ?? m));
  }
  return out;
}

/**
 * Variables of the person's shell that a stage does not get: tmux's and the shell's own
 * bookkeeping, Claude Code's markers of a running session (a nested claude refuses to start),
 * and autorun's identity variables, which are set per stage.
 */
const NOT_PASSED = /^(CLAUDECODE|CLAUDE_CODE_ENTRYPOINT|TMUX|TMUX_PANE|AUTORUN_|PWD$|OLDPWD$|SHLVL$|_$|TERM$|COLUMNS$|LINES$|STY$|WINDOW$)/;

/**
 * The person's environment for the agent (API keys, base URLs, proxies, tool paths). A tmux
 * server that already runs would otherwise give new sessions its own old environment, and the
 * agent would start "not logged in". Values go to the session only, never to disk or a log.
 */
export function passthroughEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || NOT_PASSED.test(name) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * The environment every stage session carries: the person's (see passthroughEnv, from `env`) and
 * the stage's identity, then `extra`.
 */
export function sessionEnv(
  { home, orchDir, stage }: { home: string; orchDir: string; stage: string },
  { extra = {}, env = process.env }: { extra?: Record<string, string>; env?: NodeJS.ProcessEnv } = {},
): Record<string, string> {
  const bin = autorunBin();
  return {
    ...passthroughEnv(env),
    AUTORUN_HOME: home,
    AUTORUN_ORCH_DIR: orchDir,
    AUTORUN_STAGE: stage,
    AUTORUN_BIN: bin,
    PATH: `${dirname(bin)}:${env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`,
    ...extra,
  };
}

/**
 * A command given as text (`--agent-cmd`, `$EDITOR`): `sim` (the bundled simulated agent, what the
 * demo runs, to try a plan without spending tokens), a JSON array, or words (quotes group, nothing
 * is expanded). A malformed one is the person's to fix: a UserError saying what is wrong.
 */
export function parseAgentCmd(value: string): string[] {
  const trimmed = value.trim();
  if (trimmed === "sim") return [process.execPath, simAgentPath()];
  if (trimmed.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw new UserError(`${JSON.stringify(trimmed)} starts like a JSON array but is not one (${(error as Error).message}); write a JSON array of strings, e.g. ["node","agent.js"], or plain words`);
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((x) => typeof x === "string" && x.length > 0)) {
      throw new UserError("a JSON command must be a non-empty array of non-empty strings");
    }
    return parsed as string[];
  }
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const m of trimmed.matchAll(re)) words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : (m[2] ?? m[3] ?? ""));
  if (words.length === 0) throw new UserError("the command is empty");
  return words.map((w, i) => (i === 0 && (w.startsWith("./") || w.startsWith("../")) ? resolve(w) : w));
}

/** Is the agent program Claude Code itself (`claude`, a path to it, the npm package's `claude.exe`)? */
export function isClaude(program: string): boolean {
  return /^claude(\.exe)?$/.test(basename(program));
}

/** The oldest Claude Code with `--worktree` (2.1.49). */
export const CLAUDE_MIN_VERSION = [2, 1, 49] as const;

/**
 * The Claude Code releases autorun is tested on (docs/CLAUDE-CODE.md): the oldest supported and the
 * newest tested. Older: a problem; newer: `autorun doctor --claude` checks it.
 */
export const CLAUDE_TESTED_RANGE = { oldest: "2.1.197", newest: "2.1.332" } as const;

/** "2.1.400 (Claude Code)" against the tested range; undefined when the text is not a version. */
export function claudeInRange(versionText: string): "older" | "in" | "newer" | undefined {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(versionText);
  if (!m) return undefined;
  const v = `${m[1]}.${m[2]}.${m[3]}`;
  if (compareVersions(v, CLAUDE_TESTED_RANGE.oldest) < 0) return "older";
  return compareVersions(v, CLAUDE_TESTED_RANGE.newest) > 0 ? "newer" : "in";
}

/** "2.1.197 (Claude Code)" → too old for autorun? undefined when the text is not a version. */
export function claudeTooOld(versionText: string): boolean | undefined {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(versionText);
  if (!m) return undefined;
  const v = [Number(m[1]), Number(m[2]), Number(m[3])];
  for (let i = 0; i < 3; i++) if (v[i] !== CLAUDE_MIN_VERSION[i]) return v[i]! < CLAUDE_MIN_VERSION[i]!;
  return false;
}

/**
 * Has the person accepted Claude Code's workspace trust for this project (or a folder above it)?
 * Claude Code keeps it in `~/.claude.json` (or `$CLAUDE_CONFIG_DIR/.claude.json`); without it
 * `claude --worktree` exits at once. undefined when that file is missing or unreadable.
 */
export function claudeTrust(root: string, env: NodeJS.ProcessEnv = process.env): { trusted: boolean | undefined; file: string } {
  const file = join(env.CLAUDE_CONFIG_DIR ?? env.HOME ?? homedir(), ".claude.json");
  let projects: Record<string, { hasTrustDialogAccepted?: boolean }> | undefined;
  try {
    projects = (JSON.parse(readFileSync(file, "utf8")) as { projects?: typeof projects }).projects;
  } catch {
    return { trusted: undefined, file };
  }
  for (let dir = resolve(root); ; dir = dirname(dir)) {
    if (projects?.[dir]?.hasTrustDialogAccepted === true) return { trusted: true, file };
    if (dirname(dir) === dir) return { trusted: false, file };
  }
}

/**
 * The rules a person added in a session by answering "Yes, and don't ask again": Claude Code
 * writes them to the worktree's `.claude/settings.local.json`, which goes with the worktree.
 */
export function localAllowRules(worktree: string): string[] {
  try {
    const data = JSON.parse(readFileSync(join(worktree, ".claude", "settings.local.json"), "utf8")) as { permissions?: { allow?: unknown } };
    const allow = data.permissions?.allow;
    return Array.isArray(allow) ? allow.filter((r): r is string => typeof r === "string" && r.length > 0 && r.length < 500) : [];
  } catch {
    return [];
  }
}
