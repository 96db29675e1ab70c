/** settings.json: the resolved configuration an orchestration was started with, so that the
 * monitor, resume, attach and nudge all use the same agent command and tmux server. */
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import writeFileAtomic from "write-file-atomic";
import { z } from "zod";
import type { Config } from "./config.js";

export const settingsSchema = z.object({
  agentCommand: z.array(z.string()).min(1),
  model: z.string().optional(),
  permissionMode: z.string().optional(),
  maxParallel: z.number().int().positive(),
  schedule: z.enum(["eager", "waves"]),
  stallSeconds: z.number().positive(),
  nudgeMessage: z.string(),
  maxNudges: z.number().int().nonnegative(),
  pollSeconds: z.number().positive(),
  tmuxSocket: z.string().optional(),
  validate: z.array(z.array(z.string())),
  notifyCommand: z.array(z.string()).optional(),
  permissionAnswers: z.record(z.string(), z.string()),
});

export function settingsPath(orchDir: string): string {
  return join(orchDir, "settings.json");
}

export function writeSettings(orchDir: string, config: Config): void {
  writeFileAtomic.sync(settingsPath(orchDir), JSON.stringify(settingsSchema.parse(config), null, 2) + "\n");
}

export function readSettings(orchDir: string): Config | undefined {
  const file = settingsPath(orchDir);
  if (!existsSync(file)) return undefined;
  return settingsSchema.parse(JSON.parse(readFileSync(file, "utf8"))) as Config;
}
