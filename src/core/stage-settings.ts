/**
 * Per-stage settings a plan may give: the model, how many sessions the stage may use, resources it
 * must hold alone, its budget, its own merge checks, and whether it is already done. Read from
 * YAML keys or from `Key: value` lines in a markdown stage body. Pure.
 */
import type * as z from "zod";
import { UserError } from "../errors.js";
import type { stageSettingsSchema } from "../types/schemas.js";
import { priceFor, type Price } from "./usage.js";

/**
 * What a plan sets for one stage: `model`, `max_attempts` (sessions in all), `exclusive_resources`,
 * `budget_usd`, `validate` (argument lists run on its merge instead of the configured ones) and
 * `status: "completed"` (done before the run: never launched, counts as merged). The shape is the
 * one the start event records.
 */
export type StageSettings = z.infer<typeof stageSettingsSchema>;

export const SETTING_KEYS = ["model", "max_attempts", "exclusive_resources", "budget_usd", "validate", "status", "host", "needs"] as const;

/** Claude Code's model aliases. */
const ALIASES = /^(?:default|opus|sonnet|haiku|opusplan|best)(?:\[1m\])?$/;
const KNOWN_MODELS = "opus, sonnet, haiku, opusplan, default, or a full id such as claude-sonnet-4-5";

/** A model autorun can run and price: an alias, a Claude model id (`claude-…` of a priced family), or a name in `prices`. */
function knownModel(name: string, prices: Record<string, Price> = {}): boolean {
  if (ALIASES.test(name)) return true;
  if (Object.keys(prices).some((k) => name.toLowerCase().includes(k.toLowerCase()))) return true;
  return /^claude-[a-z0-9.-]+(?:\[1m\])?$/.test(name) && priceFor(name) !== undefined;
}

/** The problem with a model name, or undefined when it is known. */
export function modelProblem(name: string, prices: Record<string, Price> = {}): string | undefined {
  if (knownModel(name, prices)) return undefined;
  return `unknown model "${name}"; use ${KNOWN_MODELS}, or give its price under \`prices\` in the configuration`;
}

const DONE_WORDS = /^(?:done|completed?|finished|merged|skip(?:ped)?)$/i;

/** "done", "✅", "✅ Done", "[x] complete": a status that says the work is finished. */
export function saysDone(value: string): boolean {
  const text = value.replace(/[*_`]/g, "").trim();
  if (/^(?:✅|✔|☑|\[x\])/iu.test(text)) return true;
  return DONE_WORDS.test(text.split(/[\s.,;(]/)[0] ?? "");
}

/**
 * Markdown setting lines: `Model: opus`, `**Exclusive**: database, ports`, `- Budget: $5`,
 * `Max attempts: 2`, `Validate: npm test`, `Status: done`. The key must start the line (after a
 * list marker and emphasis); `Model:` takes a lowercase model id only, so "Model: User" in a
 * stage about data models is prose, not a setting.
 */
const SETTING_LINE =
  /^\s{0,3}(?:[-*+]\s+)?(?:\*\*|__)?(model|exclusive(?:[ _]resources?)?|resources?|budget(?:[ _]usd)?|max[ _]attempts|attempts|validate|status|host|needs)(?:\*\*|__)?\s*:(?:\*\*|__)?\s*(.*?)\s*$/i;

export interface SettingLine {
  key: (typeof SETTING_KEYS)[number];
  value: string;
  /** The label as the plan wrote it ("Max attempts", "Attempts"), for errors. */
  label: string;
}

/** Where each setting of a stage was written (the last line, for a setting written twice). */
export type SettingLines = Partial<Record<SettingLine["key"], number>>;

/** The line to name in an error about a stage's setting: where it was written, else the stage's heading. */
export function settingLine(stage: { line: number; settingLines?: SettingLines }, key: SettingLine["key"]): number {
  return stage.settingLines?.[key] ?? stage.line;
}

export function matchSettingLine(line: string): SettingLine | undefined {
  const m = SETTING_LINE.exec(line);
  if (!m) return undefined;
  const label = m[1]!;
  const word = label.toLowerCase().replace(/[ _]+/g, " ");
  const value = m[2]!.replace(/^`|`$/g, "").trim();
  const is = (key: SettingLine["key"], v = value): SettingLine => ({ key, value: v, label });
  if (word === "model") return /^[a-z][a-z0-9.\-[\]]*$/.test(value) ? is("model") : undefined;
  if (word.startsWith("exclusive") || word.startsWith("resource")) return is("exclusive_resources");
  if (word.startsWith("budget")) return is("budget_usd");
  // "Max attempts: two" is a setting written wrong (refused with the fix), "Attempts: many were made" prose.
  if (word === "max attempts") return is("max_attempts");
  if (word === "attempts") return /^\d/.test(value) ? is("max_attempts") : undefined;
  if (word === "validate") return value ? is("validate") : undefined;
  // One host name, or a list of label words: "Host: the staging box" or "Needs: more tests" is prose.
  if (word === "host") return HOST_WORD.test(value) ? is("host") : undefined;
  if (word === "needs") return LABEL_LIST.test(value) ? is("needs") : undefined;
  // Only "done" counts; "Status: in progress" or "Status: draft" is the author's note.
  return saysDone(value) ? is("status", "completed") : undefined;
}

const HOST_WORD = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const LABEL_LIST = /^[A-Za-z][A-Za-z0-9._-]*(?:\s*,\s*[A-Za-z][A-Za-z0-9._-]*)*$/;

/** Where a setting came from, for errors, ending in its name as written: `plan.md:12: stage 3: Max attempts`. */
export type Where = string;

/** A model name as written; whether it is known depends on the configuration's `prices` (`checkModels`). */
function readModel(value: unknown, where: Where): string {
  const name = typeof value === "string" ? value.trim() : "";
  if (!name || /\s/.test(name)) throw new UserError(`${where} must be one model name; use ${KNOWN_MODELS}.`);
  return name;
}

/** Refuses a plan whose stages name a model that is neither known nor priced (`file:line: stage N: …`). */
export function checkModels(file: string, stages: readonly { id: string; line: number; settings?: StageSettings; settingLines?: SettingLines }[], prices: Record<string, Price> = {}): void {
  for (const s of stages) {
    const problem = s.settings?.model === undefined ? undefined : modelProblem(s.settings.model, prices);
    if (problem) throw new UserError(`${file}:${settingLine(s, "model")}: stage ${s.id}: ${problem}.`);
  }
}

function readBudget(value: unknown, where: Where): number {
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : "";
  const m = /^\$?\s*(-?\d+(?:\.\d+)?)\s*(?:usd|\$|dollars?)?$/i.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isFinite(n) || n <= 0) throw new UserError(`${where} ${JSON.stringify(text || value)} is not an amount of dollars above 0; write it like $5 or 2.50.`);
  return n;
}

export function readAttempts(value: unknown, where: Where): number {
  const n = typeof value === "number" ? value : typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new UserError(`${where} ${JSON.stringify(value)} must be a whole number from 1 to 100.`);
  return n;
}

function readResources(value: unknown, where: Where): string[] {
  const items = Array.isArray(value) ? value : typeof value === "string" ? value.split(/[,;]|\s+and\s+/) : value === null || value === undefined ? [] : [value];
  const names: string[] = [];
  for (const item of items) {
    if (typeof item !== "string" && typeof item !== "number") throw new UserError(`${where} must be a list of names.`);
    const name = String(item).replace(/[`*_]/g, "").trim().toLowerCase();
    if (!name || /^(?:none|n\/a|—|-)$/.test(name)) continue;
    if (!/^[\p{L}\p{N}][\p{L}\p{N} ._:/-]{0,63}$/u.test(name)) throw new UserError(`${where} ${JSON.stringify(String(item))} is not a usable name; use letters, digits, - and _.`);
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/** `validate` as argument lists: a string is one command split like a shell would (no expansion). */
function readValidate(value: unknown, where: Where): string[][] {
  const list = Array.isArray(value) ? value : [value];
  const commands: string[][] = [];
  for (const item of list) {
    if (Array.isArray(item) && item.length > 0 && item.every((a) => typeof a === "string" && a.length > 0)) commands.push(item as string[]);
    else if (typeof item === "string" && item.trim()) commands.push(splitWords(item, where));
    else throw new UserError(`${where} must be a command ("npm test") or a list of them.`);
  }
  return commands;
}

/** Splits a command line into words: whitespace separates, quotes group, `\` escapes. Nothing is expanded. */
function splitWords(text: string, where: Where): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new UserError(`${where} command ${JSON.stringify(text)} has an unclosed ${quote} quote; close it.`);
  if (inWord) words.push(word);
  if (words.length === 0) throw new UserError(`${where} command is empty; write the command to run.`);
  return words;
}

function readHostName(value: unknown, where: Where): string {
  const name = typeof value === "string" ? value.trim() : "";
  if (!HOST_WORD.test(name)) throw new UserError(`${where} ${JSON.stringify(value)} is not a host name; name one of the configuration's hosts (letters, digits, . _ -).`);
  return name;
}

function readLabels(value: unknown, where: Where): string[] {
  const items = Array.isArray(value) ? value : typeof value === "string" ? value.split(",") : [value];
  return items.map((item) => {
    const label = typeof item === "string" ? item.trim() : "";
    if (!/^[A-Za-z][A-Za-z0-9._-]{0,63}$/.test(label)) throw new UserError(`${where} ${JSON.stringify(item)} is not a host label; labels are words such as gpu or big-disk.`);
    return label;
  });
}

/** Folds one setting into `settings` (a later `Validate:` line adds a command; others replace). */
export function applySetting(settings: StageSettings, key: SettingLine["key"], value: unknown, where: Where): void {
  switch (key) {
    case "model":
      settings.model = readModel(value, where);
      break;
    case "max_attempts":
      settings.max_attempts = readAttempts(value, where);
      break;
    case "exclusive_resources": {
      const names = readResources(value, where);
      if (names.length > 0) settings.exclusive_resources = [...new Set([...(settings.exclusive_resources ?? []), ...names])];
      break;
    }
    case "budget_usd":
      settings.budget_usd = readBudget(value, where);
      break;
    case "validate":
      settings.validate = [...(settings.validate ?? []), ...readValidate(value, where)];
      break;
    case "status":
      settings.status = "completed";
      break;
    case "host":
      settings.host = readHostName(value, where);
      break;
    case "needs": {
      const labels = readLabels(value, where);
      if (labels.length > 0) settings.needs = [...new Set([...(settings.needs ?? []), ...labels])];
      break;
    }
  }
}

/** Resources only one stage names hold nothing back: worth a warning (a typo, most likely). */
export function lonelyResources(stages: readonly { id: string; line: number; settings?: StageSettings; settingLines?: SettingLines }[]): { name: string; id: string; line: number }[] {
  const users = new Map<string, { id: string; line: number }[]>();
  for (const s of stages) for (const r of s.settings?.exclusive_resources ?? []) users.set(r, [...(users.get(r) ?? []), { id: s.id, line: settingLine(s, "exclusive_resources") }]);
  return [...users].filter(([, list]) => list.length === 1).map(([name, list]) => ({ name, ...list[0]! }));
}
