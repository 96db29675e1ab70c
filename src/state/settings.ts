/** settings.json: the resolved configuration an orchestration was started with, so that the
 * monitor, resume, attach and nudge all use the same agent command and tmux server. */
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import writeFileAtomic from "write-file-atomic";
import type { Config } from "./config.js";
import { settingsSchema } from "../types/settings-schema.js";

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
