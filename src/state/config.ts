/** Configuration: defaults < $AUTORUN_HOME/config.json < <project>/autorun.config.json < flags. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { configSchema, type ConfigFile } from "../types/schemas.js";
import type { Config } from "../types/settings-schema.js";
import { UserError } from "../errors.js";
import { editDistance } from "../core/printable.js";

export type { Config } from "../types/settings-schema.js";

export const DEFAULT_CONFIG: Config = {
  agentCommand: ["claude"],
  // Edits inside the stage's own worktree need nobody; anything else still asks.
  permissionMode: "acceptEdits",
  maxParallel: 4,
  schedule: "eager",
  stallSeconds: 60,
  nudgeMessage: "continue",
  maxNudges: 3,
  pollSeconds: 3,
  validate: [],
  permissionAnswers: {},
  allowedTools: [],
  sandbox: true,
  sandboxDomains: [],
  validateEnv: [],
  prices: {},
  onBudget: "pause",
  circuitBreaker: 3,
  escalation: [],
  agentEnv: [],
  hosts: {},
  sshOptions: [],
  hostGraceSeconds: 60,
};

/**
 * Where JSON.parse stopped, as a person finds it in an editor: "line 3, column 8: unexpected x".
 * Node names a position for most errors; for an unexpected token it quotes the text around it
 * instead, which is looked up in the file. One line whatever the file holds.
 */
function jsonProblem(text: string, message: string): string {
  const named = /at position (\d+)/.exec(message)?.[1];
  let at = named === undefined ? undefined : Number(named);
  let what = message.replace(/ in JSON at position \d+.*$/s, "").replace(/ after JSON at position \d+.*$/s, " after the end").replace(/, "[\s\S]*$/, "");
  // V8 quotes up to 10 characters on each side of the token, with "..." where it cut the text.
  const token = /^Unexpected token '(.+?)', (\.\.\.)?"([\s\S]*?)"(\.\.\.)? is not valid JSON$/.exec(message);
  if (token) {
    const got = token[1]!;
    const around = token[3]!;
    const found = text.indexOf(around);
    const offset = token[2] ? 10 : token[4] ? around.length - 10 - got.length : around.indexOf(got);
    if (found >= 0) at = found + offset;
    what = `unexpected ${got}`;
  }
  if (/Unexpected end of JSON input/.test(message)) {
    at = text.trimEnd().length;
    what = "the file ends before the JSON does";
  }
  let where = "";
  if (at !== undefined) {
    const before = text.slice(0, at).split("\n");
    where = `line ${before.length}, column ${before.at(-1)!.length + 1}: `;
  }
  return `${where}${what.charAt(0).toLowerCase()}${what.slice(1)}`.replace(/\s+/g, " ");
}

function readConfigFile(file: string): ConfigFile {
  if (!existsSync(file)) return {};
  let raw: unknown;
  // Some editors save a byte-order mark first: not part of the JSON, and invisible in an error.
  const text = readFileSync(file, "utf8").replace(/^\uFEFF/, "");
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UserError(`${file}: not valid JSON (${jsonProblem(text, (error as Error).message)}); fix the file.`);
  }
  return validateLayer(withoutComments(raw, file), { origin: `${file}: `, key: (key) => key }, "the accepted keys and values are listed in the README, section Configuration");
}

/** A configuration file may explain itself under a top-level "//" key (a string or a list of them), which is read as nothing else. */
function withoutComments(raw: unknown, file: string): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || !("//" in raw)) return raw;
  const { "//": comments, ...rest } = raw as Record<string, unknown>;
  const ok = typeof comments === "string" || (Array.isArray(comments) && comments.every((c) => typeof c === "string"));
  if (!ok) throw new UserError(`${file}: //: comments are a string or a list of strings; fix the file.`);
  return rest;
}

/** zod's words for a bad value, in a person's (a key's own message in the schema comes first). */
function friendly(iss: { code: string; expected?: string; input?: unknown; minimum?: unknown; maximum?: unknown; inclusive?: boolean; origin?: string; keys?: string[]; path?: PropertyKey[]; inst?: unknown }): string | undefined {
  const items = iss.origin === "array" ? " entries" : "";
  switch (iss.code) {
    case "invalid_value": {
      // One of a few words (`schedule`): which, and the value written.
      const values = (iss as { values?: unknown[] }).values ?? [];
      return values.length > 0 ? `must be ${values.map((v) => JSON.stringify(v)).join(" or ")}, not ${JSON.stringify(iss.input)}` : undefined;
    }
    case "invalid_type":
      // A key a value of the object needs, left out.
      if (iss.input === undefined) return `is missing; write it as ${iss.expected === "number" ? "a number" : iss.expected === "string" ? "a string" : `a${/^[aeiou]/.test(iss.expected ?? "") ? "n" : ""} ${iss.expected ?? "value"}`}`;
      if (iss.expected === "int") return `must be a whole number, not ${JSON.stringify(iss.input)}`;
      if (iss.expected === "number" || iss.expected === "boolean" || iss.expected === "string") return `must be ${iss.expected === "boolean" ? "true or false" : `a ${iss.expected}`}, not ${JSON.stringify(iss.input)}`;
      if (iss.expected === "array") return `must be a list ([…]), not ${JSON.stringify(iss.input)}`;
      if (iss.expected === "object" || iss.expected === "record") return `must be an object ({…}), not ${JSON.stringify(iss.input)}`;
      return undefined;
    case "too_small":
      return `must be ${iss.inclusive ? "at least" : "more than"} ${String(iss.minimum)}${items}, not ${JSON.stringify(iss.origin === "array" ? (iss.input as unknown[]).length : iss.input)}`;
    case "too_big":
      return `must be ${iss.inclusive ? "at most" : "less than"} ${String(iss.maximum)}${items}, not ${JSON.stringify(iss.origin === "array" ? (iss.input as unknown[]).length : iss.input)}`;
    case "unrecognized_keys": {
      // The object's own keys (a host's, under hosts.<name>), and the keys named when it is not the top.
      const shape = (iss.inst as { shape?: Record<string, unknown> } | undefined)?.shape;
      const known = Object.keys(shape ?? configSchema.shape);
      const keys = iss.keys ?? [];
      const guesses = keys.flatMap((k) => nearest(k, known) ?? []);
      const named = (iss.path?.length ?? 0) > 0 ? `${keys.map((k) => JSON.stringify(k)).join(", ")} ${keys.length === 1 ? "is" : "are"} not ${keys.length === 1 ? "a key" : "keys"}` : "not a key";
      return `${named} autorun knows${guesses.length ? ` (did you mean ${guesses.join(", ")}?)` : ""}`;
    }
    default:
      return undefined;
  }
}

/**
 * The known key closest to `key` (case aside): by edits (a typo), else the one sharing the longest
 * start with it, when that is most of it (a word cut short: `stallSecs`, `maxPar`).
 */
function nearest(key: string, known: readonly string[]): string | undefined {
  const given = key.toLowerCase();
  const best = known.map((k) => ({ k, d: editDistance(given, k.toLowerCase()) })).sort((x, y) => x.d - y.d)[0];
  if (best && best.d <= Math.max(2, Math.floor(key.length / 4))) return best.k;
  const shared = (k: string) => {
    let n = 0;
    while (n < given.length && given[n] === k.toLowerCase()[n]) n++;
    return n;
  };
  const start = known.map((k) => ({ k, n: shared(k) })).sort((x, y) => y.n - x.n)[0];
  return start && start.n >= 5 && start.n >= given.length * 0.6 ? start.k : undefined;
}

/** One layer of configuration (a file, the environment, the flags): each goes through the same schema. */
function validateLayer(raw: unknown, where: { origin: string; key: (key: string) => string }, fix: string): ConfigFile {
  const parsed = configSchema.safeParse(raw, { error: friendly });
  if (!parsed.success) {
    // Every problem of the layer at once, so a file with three is fixed in one go, not three runs.
    const problems = parsed.error.issues.map((issue) => {
      const key = where.key(issue.path.join(".") || ("keys" in issue ? String((issue as { keys: string[] }).keys) : ""));
      return `${key ? `${key}: ` : ""}${issue.message}`;
    });
    throw new UserError(`${where.origin}${problems.join("; ")}; ${fix}.`);
  }
  return parsed.data;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** A variable's number, or its text when it is none (so the error shows what was written, not null). */
function numberOrText(value: string): number | string {
  const n = Number(value);
  return value.trim() !== "" && Number.isFinite(n) ? n : value;
}

export function loadConfig(home: string, projectRoot: string | undefined, flags: ConfigFile = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const fromEnv = {
    ...(env.AUTORUN_TMUX_SOCKET ? validateLayer({ tmuxSocket: env.AUTORUN_TMUX_SOCKET }, { origin: "AUTORUN_TMUX_SOCKET: ", key: () => "" }, "fix the variable") : {}),
    ...(env.AUTORUN_POLL_SECONDS ? validateLayer({ pollSeconds: numberOrText(env.AUTORUN_POLL_SECONDS) }, { origin: "AUTORUN_POLL_SECONDS: ", key: () => "" }, "give a number of seconds from 0.2 to 3600") : {}),
  };
  const layers = [
    readConfigFile(join(home, "config.json")),
    projectRoot ? readConfigFile(join(projectRoot, "autorun.config.json")) : {},
    fromEnv,
    validateLayer(stripUndefined(flags), { origin: "", key: (key) => (key ? `--${kebab(key)}` : "flags") }, "fix the flag"),
  ];
  return Object.assign({}, DEFAULT_CONFIG, ...layers) as Config;
}

function stripUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}
