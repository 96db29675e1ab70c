/** The configuration: every key a config file, a flag or settings.json may hold. */
import "./zod-setup.js";
import * as z from "zod";
import { hostsSchema, sshOptionsSchema } from "./hosts-schema.js";

/** A program and its arguments, never a shell string. */
const ARG_LIST = 'an argument list, e.g. ["npm", "test"]';
const argList = z.array(z.string().min(1, "an empty argument"), { error: ARG_LIST }).min(1, ARG_LIST);

/** What a `permissionAnswers` value may name: the option's meaning (a digit is checked against the option's text). */
export const NAMED_ANSWERS = { yes: "yes", "yes, don't ask again": "yes_always", "yes, and don't ask again": "yes_always", no: "no" } as const;

/** Why a `permissionAnswers` value is not accepted, or undefined when it is. */
export function permissionAnswerProblem(value: string): string | undefined {
  const v = value.toLowerCase().replace(/[’‘`]/g, "'").replace(/\s+/g, " ").trim();
  if (/^[1-9]$/.test(v) || v in NAMED_ANSWERS) return undefined;
  const named = '"yes", "yes, don\'t ask again" or "no"';
  if (/mode|allow all|session|bypass/.test(v)) return `${JSON.stringify(value)} would switch the session's permission mode, which autorun never does; answer ${named}`;
  return `${JSON.stringify(value)} is not an answer autorun gives; answer ${named} (or an option's number, checked against its text on screen)`;
}

/** USD per million tokens. */
const price = z.number().min(0).max(100_000);

/** Every configuration key (README, Configuration). Files and flags give any subset; settings.json holds them resolved. */

export const configFields = z.object({
  agentCommand: z.array(z.string().min(1)).min(1),
  model: z.string().min(1),
  permissionMode: z.string().min(1),
  maxParallel: z.number().int().min(1).max(64, "at most 64 sessions at once"),
  schedule: z.enum(["eager", "waves"]),
  stallSeconds: z.number().min(1, "at least 1 second").max(86_400, "at most 86400 seconds (a day)"),
  nudgeMessage: z.string().min(1),
  maxNudges: z.number().int().min(0).max(1_000),
  /** The monitor's safety-net tick: below 0.2 s an idle monitor spins the CPU. */
  pollSeconds: z.number().min(0.2, "at least 0.2 seconds (a faster tick only burns CPU)").max(3_600, "at most 3600 seconds"),
  tmuxSocket: z.string().regex(/^[A-Za-z0-9._-]+$/, "a tmux server name (tmux -L), not a path: letters, digits, . _ -"),
  validate: z.array(argList, { error: 'a list of argument lists, e.g. [["npm", "ci"], ["npm", "test"]]' }),
  notifyCommand: argList,
  /** Answers to Claude Code's Bash permission dialog, by the exact command (or `prefix:*`): "yes", "yes, don't ask again", "no". */
  permissionAnswers: z.record(
    z.string().min(1),
    z.string().superRefine((value, ctx) => {
      const problem = permissionAnswerProblem(value);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
  ),
  /** Claude Code permission rules added to every session's allow-list (`Bash(npm test:*)`, `WebFetch`). */
  allowedTools: z.array(z.string().min(1)),
  /** Claude Code's Bash sandbox for every session where it is available (false: off). */
  sandbox: z.boolean(),
  /** Network domains sandboxed commands may reach (`registry.npmjs.org`, `*.github.com`). */
  sandboxDomains: z.array(z.string().regex(/^[A-Za-z0-9*.-]+$/, "a domain name, * allowed")),
  /** Names of variables (beyond a minimal PATH, HOME, LANG…) the validate commands get from the monitor's environment. */
  validateEnv: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a variable name")),
  /** Dollars the whole run may spend, and each stage (a plan's `budget_usd` for a stage wins). */
  budgetUsd: z.number().positive().max(1_000_000),
  stageBudgetUsd: z.number().positive().max(1_000_000),
  /** What crossing a budget does: `pause` (no more nudges, nothing new launched) or `stop` (sessions ended too). */
  onBudget: z.enum(["pause", "stop"]),
  /** Stages failed in a row that stop new launches (0: never). */
  circuitBreaker: z.number().int().min(0).max(1_000),
  /** Models a failed stage is tried with in turn (`["sonnet", "opus"]`). */
  escalation: z.array(z.string().min(1)),
  /** USD per million tokens by model (a part of its name: "opus", "claude-sonnet-4-5"), over the built-in table. */
  prices: z.record(z.string().min(1), z.object({ input: price, output: price, cache_write: price.optional(), cache_read: price.optional() }).strict()),
  /** Machines stages may run on (docs/HOSTS.md), and ssh arguments for every one of them. */
  hosts: hostsSchema,
  sshOptions: sshOptionsSchema,
  /** Seconds a stage waits for its lost host to come back before it is relaunched on another. */
  hostGraceSeconds: z.number().min(0).max(86_400, "at most 86400 seconds (a day)"),
});

export const configSchema = configFields.partial().strict();

export type ConfigFile = z.infer<typeof configSchema>;
