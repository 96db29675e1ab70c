/** Before an agent is started (orchestrate, retry, resume): refuse, with the fix, what cannot start. */
import type { Config } from "../state/config.js";
import { commandVersion, findExecutable } from "../adapters/process.js";
import { CLAUDE_MIN_VERSION, claudeTooOld, claudeTrust, isClaude } from "../adapters/agent.js";
import { claudePermissionModes, resolvePermissionMode } from "../adapters/claude-modes.js";
import { writeSettings } from "../state/settings.js";
import type { Orchestration } from "./context.js";
import { UserError } from "../errors.js";

/**
 * What would make every stage die at once, caught before anything is launched: an agent command
 * that is not installed; for Claude Code, bypass mode as root (it refuses to start), a project not
 * trusted yet, or a version without `--worktree` (each makes it exit at once). Returns the
 * permission mode to run with, named as the installed claude names it (`manual` or `default`).
 */
export async function preflightAgent(config: Config, env: NodeJS.ProcessEnv, projectRoot: string): Promise<string | undefined> {
  const program = config.agentCommand[0]!;
  const found = findExecutable(program, env.PATH);
  if (!found) {
    const hint = isClaude(program) ? "install Claude Code (npm install -g @anthropic-ai/claude-code), or " : "";
    throw new UserError(`the agent command "${program}" is not installed or not on PATH; ${hint}set agentCommand in autorun.config.json or pass --agent-cmd.`);
  }
  if (!isClaude(program)) return config.permissionMode;
  const bypass = config.permissionMode === "bypassPermissions" || config.agentCommand.includes("--dangerously-skip-permissions");
  if (bypass && process.getuid?.() === 0 && env.IS_SANDBOX !== "1") {
    throw new UserError(`Claude Code refuses bypassPermissions as root; use permissionMode "acceptEdits" (the default), run as another user, or set IS_SANDBOX=1 inside a sandbox.`);
  }
  const trust = claudeTrust(projectRoot, env);
  if (trust.trusted !== true) {
    throw new UserError(`Claude Code has not been trusted in ${projectRoot} (${trust.trusted === undefined ? `no ${trust.file}` : `not in ${trust.file}`}), and claude --worktree exits without it; run claude there once and accept "Yes, I trust this folder", then orchestrate again.`);
  }
  const version = await commandVersion(found, ["--version"]);
  if (version !== undefined && claudeTooOld(version)) {
    throw new UserError(`${program} is Claude Code ${version.split(" ")[0]}, too old for --worktree (needs ${CLAUDE_MIN_VERSION.join(".")} or later); update it: npm install -g @anthropic-ai/claude-code.`);
  }
  if (config.permissionMode === undefined) return undefined;
  const mode = resolvePermissionMode(config.permissionMode, await claudePermissionModes(found));
  if ("error" in mode) {
    throw new UserError(`${mode.error} (${program} is Claude Code ${version?.split(" ")[0] ?? "of an unknown version"}); update it (npm install -g @anthropic-ai/claude-code) or set permissionMode to "acceptEdits".`);
  }
  return mode.mode;
}

/**
 * Resume and retry: the preflight of a running orchestration, its settings brought to the mode's
 * name the installed claude takes (Claude Code may have been updated since the run started).
 */
export async function preflightOrchestration(orch: Orchestration, env: NodeJS.ProcessEnv): Promise<void> {
  const mode = await preflightAgent(orch.config, env, orch.status.project_root);
  if (mode !== orch.config.permissionMode) writeSettings(orch.paths.dir, { ...orch.config, ...(mode === undefined ? {} : { permissionMode: mode }) });
}
