/** settings.json: the resolved configuration an orchestration was started with, so that the
 * monitor, resume, attach and nudge all use the same agent command and tmux server. */
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import writeFileAtomic from "write-file-atomic";
import { z } from "zod";
import { configFields } from "./schemas.js";
import type { Config } from "./config.js";

/** Every key resolved, but for those that have no default. */
export const settingsSchema = configFields
  .partial({ model: true, permissionMode: true, tmuxSocket: true, notifyCommand: true, budgetUsd: true, stageBudgetUsd: true })
  // Keys added after 0.1: an orchestration started before them reads their default.
  .extend({
    allowedTools: configFields.shape.allowedTools.default([]),
    prices: configFields.shape.prices.default({}),
    onBudget: configFields.shape.onBudget.default("pause"),
    circuitBreaker: configFields.shape.circuitBreaker.default(3),
    escalation: configFields.shape.escalation.default([]),
    hosts: configFields.shape.hosts.default({}),
    sshOptions: configFields.shape.sshOptions.default([]),
    sandbox: configFields.shape.sandbox.default(true),
    sandboxDomains: configFields.shape.sandboxDomains.default([]),
    validateEnv: configFields.shape.validateEnv.default([]),
    /** Names (never values) of the variables passed from the person's shell to every session. */
    agentEnv: z.array(z.string()).default([]),
  });

function settingsPath(orchDir: string): string {
  return join(orchDir, "settings.json");
}

export function writeSettings(orchDir: string, config: Config): void {
  writeFileAtomic.sync(settingsPath(orchDir), JSON.stringify(settingsSchema.parse(config), null, 2) + "\n", { mode: 0o600 });
}

export function readSettings(orchDir: string): Config | undefined {
  const file = settingsPath(orchDir);
  if (!existsSync(file)) return undefined;
  return settingsSchema.parse(JSON.parse(readFileSync(file, "utf8")));
}

/**
 * The "don't ask again" rules of the project's own `.claude/settings.local.json` when the run
 * started (later Claude Code versions write a session's answers there, shared by every worktree):
 * the report lists what was added to it during the run.
 */
export function writeProjectRules(orchDir: string, rules: readonly string[]): void {
  const file = join(orchDir, "project-rules.json");
  if (existsSync(file)) return;
  writeFileAtomic.sync(file, JSON.stringify({ allow: rules }) + "\n", { mode: 0o600 });
}

export function readProjectRules(orchDir: string): string[] | undefined {
  try {
    const allow = (JSON.parse(readFileSync(join(orchDir, "project-rules.json"), "utf8")) as { allow?: unknown }).allow;
    return Array.isArray(allow) ? allow.filter((r): r is string => typeof r === "string") : undefined;
  } catch {
    return undefined;
  }
}
