/**
 * Claude Code's Bash permission dialog, read exactly, and what `permissionAnswers` says to it.
 * Pure: the screen's text and the transcript's last lines in, a decision out.
 *
 * On screen the dialog shows the command and then the agent's own description of it, in plain
 * text both, so the screen alone cannot tell where the command ends (a two-line command looks like
 * a command and its description). The command comes from the transcript: the agent's pending Bash
 * tool call (no result yet) whose command and description are exactly what the dialog shows. A
 * `permissionAnswers` key is matched against that command only, never the description.
 *
 * Layouts: 2.1.197 draws "Bash command", the command and description, "This command requires
 * approval", "Do you want to proceed?" and `❯ 1. Yes / 2. Yes, and don't ask again for: … / 3. No`;
 * 2.1.332 draws "Bash command", a "Tip: auto mode…" line, the description, then the command
 * between `╌╌╌` rules, and offers "3. Yes, and switch to auto mode · …" before "4. No".
 */

import { NAMED_ANSWERS } from "../types/schemas.js";
import { answerFor } from "../core/permissions.js";

export type OptionMeaning = "yes" | "yes_always" | "no" | "switch_mode" | "other";

export interface DialogOption {
  n: number;
  text: string;
  meaning: OptionMeaning;
}

export interface BashDialog {
  /** Its heading: "Bash command", or "Bash command (unsandboxed)". */
  header: string;
  /** The lines the dialog shows for the tool call: its command, then its description. */
  shown: string[];
  /** The command alone, where the dialog sets it apart (between two rules: Claude Code 2.1.332 and later). */
  command?: string;
  options: DialogOption[];
}

function normal(text: string): string {
  return text.toLowerCase().replace(/[’‘`]/g, "'").replace(/\s+/g, " ").trim();
}

/** What an option of the dialog does, from its text. */
export function optionMeaning(text: string): OptionMeaning {
  const t = normal(text).replace(/\s*\((esc|shift\+tab|tab)\)$/, "");
  // "Yes, and switch to auto mode", "Yes, and use auto mode", "Yes, allow all edits during this session (shift+tab)".
  if (/\bmode\b|allow all|during this session|shift\+tab|bypass/.test(t)) return "switch_mode";
  if (t === "yes") return "yes";
  if (/^yes, and don't ask again\b/.test(t)) return "yes_always";
  if (t === "no" || /^no, and tell claude\b/.test(t)) return "no";
  return "other";
}

const QUESTION = /^\s*[│|]?\s*do you want to proceed\?\s*[│|]?\s*$/i;
const OPTION = /^\s*[│|]?\s*(❯\s*)?(\d)\.\s+(.*?)\s*[│|]?\s*$/u;
const HEADER = /^\s*[│|]?\s*bash command(\s*\(unsandboxed\))?\s*[│|]?\s*$/i;
/**
 * The rule Claude Code draws at the dialog's top, from the screen's first column. What the agent
 * wrote (its command, its description) is drawn indented or inside the box's side bars, so a
 * "Bash command" line in a command never stands under one.
 */
const TOP_RULE = /^(─{10,}|[╭┌]─{10,}[╮┐]?)\s*$/u;
const DASHED = /^\s*[│|]?\s*╌{3,}/u;
const REASON = /requires (approval|confirmation)|permission rule|^\s*tip:/i;

function strip(line: string): string {
  return line.replace(/^\s*[│|]\s?/u, "").replace(/\s*[│|]\s*$/u, "").trim();
}

/**
 * The Bash permission dialog on a screen: what it shows of the tool call and its options; undefined
 * when the screen's last question is not one (another tool's dialog, a menu, no dialog).
 */
export function parseBashDialog(screen: string): BashDialog | undefined {
  const lines = screen.replace(/\r/g, "").split("\n");
  let q = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (QUESTION.test(lines[i]!)) {
      q = i;
      break;
    }
  }
  if (q < 0) return undefined;
  const options: DialogOption[] = [];
  for (let i = q + 1; i < lines.length; i++) {
    const m = OPTION.exec(lines[i]!);
    if (!m) {
      if (lines[i]!.trim() === "" || options.length === 0) continue;
      break;
    }
    options.push({ n: Number(m[2]), text: m[3]!, meaning: optionMeaning(m[3]!) });
  }
  if (options.length === 0 || options.some((o, i) => o.n !== i + 1)) return undefined;
  let h = -1;
  for (let i = q - 1; i >= 1 && i >= q - 60; i--) {
    if (HEADER.test(lines[i]!) && TOP_RULE.test(lines[i - 1]!)) {
      h = i;
      break;
    }
  }
  if (h < 0) return undefined;
  const header = strip(lines[h]!);
  let region = lines.slice(h + 1, q);
  let commandText: string | undefined;
  // 2.1.332 draws the command between two dashed rules, its description above them (below the tip);
  // a rule inside the command is the command's, so the command ends at the last rule.
  const dashes = region.map((l, i) => (DASHED.test(l) ? i : -1)).filter((i) => i >= 0);
  if (dashes.length >= 2) {
    const description = region.slice(0, dashes[0]).map(strip).filter((l) => l !== "" && !/^tip:/i.test(l));
    const command = region.slice(dashes[0]! + 1, dashes[dashes.length - 1]).map(strip);
    while (command.length > 0 && command[0] === "") command.shift();
    while (command.length > 0 && command[command.length - 1] === "") command.pop();
    region = [...command, ...description];
    if (command.length > 0) commandText = command.join("\n");
  } else {
    // 2.1.197: the call, then a blank line and Claude Code's reason ("This command requires approval").
    region = region.map(strip);
    while (region.length > 0 && region[region.length - 1] === "") region.pop();
    const lastBlank = region.lastIndexOf("");
    if (lastBlank >= 0 && region.slice(lastBlank + 1).every((l) => REASON.test(l))) region = region.slice(0, lastBlank);
  }
  const shown = region.map(strip);
  while (shown.length > 0 && shown[0] === "") shown.shift();
  while (shown.length > 0 && shown[shown.length - 1] === "") shown.pop();
  if (shown.length === 0) return undefined;
  return { header, shown, ...(commandText !== undefined ? { command: commandText } : {}), options };
}

/** A Bash call of the agent's with no result yet, from its transcript. */
export interface PendingCall {
  id: string;
  command: string;
  description: string;
}

/** The agent's Bash tool calls that have no result yet, from the transcript's last lines (JSONL). */
export function pendingBashCalls(transcriptLines: readonly string[]): PendingCall[] {
  const calls = new Map<string, PendingCall>();
  for (const line of transcriptLines) {
    if (!line.includes('"tool_use"') && !line.includes('"tool_result"')) continue;
    let entry: { type?: unknown; message?: { content?: unknown } };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    const content = entry.message?.content;
    if (!Array.isArray(content)) continue;
    for (const block of content as Record<string, unknown>[]) {
      if (entry.type === "assistant" && block?.type === "tool_use" && block.name === "Bash" && typeof block.id === "string") {
        const input = (block.input ?? {}) as { command?: unknown; description?: unknown };
        if (typeof input.command !== "string") continue;
        calls.set(block.id, { id: block.id, command: input.command, description: typeof input.description === "string" ? input.description : "" });
      }
      if (entry.type === "user" && block?.type === "tool_result" && typeof block.tool_use_id === "string") calls.delete(block.tool_use_id);
    }
  }
  return [...calls.values()];
}

const squash = (text: string) => text.replace(/\s+/g, " ").trim();

/** Does the dialog show exactly this call: its command in the first lines, its description in the rest? */
function shows(shown: readonly string[], call: PendingCall): boolean {
  for (let k = 1; k <= shown.length; k++) {
    if (squash(shown.slice(0, k).join(" ")) !== squash(call.command)) continue;
    if (squash(shown.slice(k).join(" ")) === squash(call.description)) return true;
  }
  return false;
}

export type Decision =
  | { kind: "answer"; command: string; key: string; option: DialogOption; value: string }
  | { kind: "refuse"; command: string; why: string }
  /** No answer applies (no key matches, or the command could not be told): a person is asked. */
  | { kind: "none"; command?: string; why: string };

/**
 * The agent's pending call the dialog shows, told from its transcript: its command and description
 * exactly what the dialog's lines say. Otherwise why it cannot be told.
 */
export function callShown(dialog: BashDialog, pending: readonly PendingCall[]): { call: PendingCall } | { why: string } {
  const matching = pending.filter((c) => shows(dialog.shown, c));
  const commands = [...new Set(matching.map((c) => c.command))];
  if (commands.length === 0) return { why: "the dialog's command is not a pending Bash call in the agent's transcript" };
  if (commands.length > 1) return { why: "the dialog could be about more than one of the agent's pending calls" };
  return { call: matching[0]! };
}

/** What `answers` says to this dialog, given the agent's pending Bash calls. */
export function decide(dialog: BashDialog, pending: readonly PendingCall[], answers: Record<string, string>): Decision {
  const shown = callShown(dialog, pending);
  if ("why" in shown) return { kind: "none", why: shown.why };
  const command = shown.call.command;
  const entry = answerFor(answers, command);
  if (!entry) return { kind: "none", command, why: "no permissionAnswers key names this command" };
  const [key, value] = entry;
  const v = normal(value);
  const named = (NAMED_ANSWERS as Record<string, string>)[v];
  const option = /^[1-9]$/.test(v) ? dialog.options.find((o) => o.n === Number(v)) : dialog.options.find((o) => o.meaning === named);
  if (!option) return { kind: "refuse", command, why: `the answer ${JSON.stringify(value)} for ${JSON.stringify(key)} is not an option of this dialog (${dialog.options.map((o) => `${o.n}. ${o.text}`).join(" / ")})` };
  if (option.meaning === "switch_mode" || option.meaning === "other") {
    return { kind: "refuse", command, why: `the answer ${JSON.stringify(value)} for ${JSON.stringify(key)} picks "${option.n}. ${option.text}"${option.meaning === "switch_mode" ? ", which would switch the session's permission mode" : ", whose meaning autorun does not know"}; write "yes", "yes, don't ask again" or "no" instead` };
  }
  return { kind: "answer", command, key, option, value };
}

/** The same dialog (what it shows and its options) on two screens? */
export function sameDialog(a: BashDialog | undefined, b: BashDialog | undefined): boolean {
  return a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}
