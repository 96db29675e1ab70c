/** Configuration: defaults < $AUTORUN_HOME/config.json < <project>/autorun.config.json < flags. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { configSchema, type ConfigFile } from "./schemas.js";
import { UserError } from "../errors.js";

export interface Config {
  agentCommand: string[];
  model?: string;
  permissionMode?: string;
  maxParallel: number;
  schedule: "eager" | "waves";
  stallSeconds: number;
  nudgeMessage: string;
  maxNudges: number;
  pollSeconds: number;
  tmuxSocket?: string;
  validate: string[][];
  notifyCommand?: string[];
  permissionAnswers: Record<string, string>;
}

export const DEFAULT_CONFIG: Config = {
  agentCommand: ["claude"],
  maxParallel: 4,
  schedule: "eager",
  stallSeconds: 60,
  nudgeMessage: "continue",
  maxNudges: 3,
  pollSeconds: 3,
  validate: [],
  permissionAnswers: {},
};

export function readConfigFile(file: string): ConfigFile {
  if (!existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new UserError(`${file}: not valid JSON (${(error as Error).message}); fix the file.`);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue?.path.join(".") || (issue && "keys" in issue ? String((issue as { keys: string[] }).keys) : "");
    throw new UserError(`${file}: ${key ? `${key}: ` : ""}${issue?.message ?? "invalid"}; see SPEC §8 for the accepted keys.`);
  }
  return parsed.data;
}

export function loadConfig(home: string, projectRoot: string | undefined, flags: ConfigFile = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const fromEnv: ConfigFile = {};
  if (env.AUTORUN_TMUX_SOCKET) fromEnv.tmuxSocket = env.AUTORUN_TMUX_SOCKET;
  const layers = [
    readConfigFile(join(home, "config.json")),
    projectRoot ? readConfigFile(join(projectRoot, "autorun.config.json")) : {},
    fromEnv,
    stripUndefined(flags),
  ];
  return Object.assign({}, DEFAULT_CONFIG, ...layers) as Config;
}

function stripUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}
