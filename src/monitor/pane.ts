/**
 * What a captured Claude Code screen says, as pure functions over its text read as a layout
 * (pane-layout.ts). Checked in order: login/trust screens, usage-limit banner, permission dialog,
 * busy, a menu, the welcome screen, the idle input box.
 */
import { DASHED, PROMPT, RULE, readLayout } from "./pane-layout.js";

export type PaneState =
  | { kind: "busy"; marker: string }
  | { kind: "idle"; input: string }
  | { kind: "permission"; question: string }
  | { kind: "rate_limited"; raw: string }
  | { kind: "login"; raw: string }
  | { kind: "trust"; raw: string }
  /** A menu the agent is waiting on (AskUserQuestion, a setup dialog such as the API key approval). */
  | { kind: "question"; question: string }
  /** Claude Code's welcome: its banner and an empty input box, nothing said yet (the first prompt is still to come). */
  | { kind: "welcome" }
  | { kind: "unknown" };

// A spinner glyph at the start of a line and an ellipsis: "✶ Frolicking… (12s)". ✻ and · also
// start finished lines ("✻ Cooked for 1m 12s"), which have no ellipsis.
const SPINNER = /^\s*[✻✽✶✳✢·*⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\s*\S.*…/u;
const BUSY = /esc to interrupt|ctrl\+c to interrupt/i;
const LIMIT = /(you['’]ve hit your (usage )?limit|usage limit reached|claude (ai )?usage limit|limit will reset|rate limit(ed)? .*reset)/i;
// The API's own 429 as Claude Code prints it once its retries are spent ("API Error: Request
// rejected (429) · This request would exceed your account's rate limit…"). It stays in the
// scrollback, so it counts only while nothing the agent did since follows it.
const API_LIMIT = /api error.*\(429\)|exceed your (account's|organization's) rate limit|rate_limit_error/i;
// What the agent prints as it works: a message or tool call ("● Bash(…)", "⏺ Done"), or since
// 2.1.3xx a folded summary without a marker ("Ran 1 shell command", "Read 2 files").
const OUTPUT = /^\s*[●⏺]\s*\S|^\s*(Ran|Read|Wrote|Edited|Updated|Searched|Listed|Fetched) \d+ \w/u;
const PERMISSION = /(do you want to (proceed|make this edit|create|run|allow|apply)|allow (this|once)|permission to use|❯\s*1\.\s*yes)/i;
const LOGIN = /(select login method|please run \/login|invalid api key|log ?in with your|oauth|sign in to)/i;
const TRUST = /(do you trust the files|trust this folder|yes, proceed.*trust)/i;
const API_KEY = /detected a custom api key|use this api key/i;
// A selection menu: "❯ 1. Option" with more numbered options around it.
const MENU_SELECTED = /^\s*[│|]?\s*❯\s*\d+\.\s+\S/u;
const MENU_OPTION = /^\s*[│|]?\s*\d+\.\s+\S/u;
const BANNER = /Claude Code v?\d+\.\d+/;

/**
 * A screen without the limit lines `past` names (a banner, or an agent's own "Usage limit
 * reached"): each is taken off in turn, so one seen with the limit that is over does not pause
 * the run again once another line of that same limit is the one read. `seen` gets every limit
 * line taken off or read, for the next time a limit ends.
 */
export function withoutPastLimits(screen: string, past: ReadonlySet<string>, seen?: Set<string>): PaneState {
  let lines = screen.split("\n");
  let state = classifyPane(screen);
  let current: PaneState | undefined;
  for (let i = 0; i < 8 && state.kind === "rate_limited"; i++) {
    const raw = state.raw;
    seen?.add(raw);
    // A limit not over is what the screen shows; the lines beside it are only noted.
    if (!past.has(raw)) current ??= state;
    if (current && !seen) break;
    lines = lines.filter((l) => l.trim() !== raw && l.replace(/^\s*[●⏺]\s*/u, "").trim() !== raw);
    state = classifyPane(lines.join("\n"));
  }
  return current ?? state;
}

export function classifyPane(text: string): PaneState {
  const layout = readLayout(text);
  // What was said last (the last 30 non-blank lines above the input box), then the box and below.
  const said = layout.body.slice(-30);
  const view = [...said, ...(layout.input !== undefined ? [`❯ ${layout.input}`] : []), ...layout.below];
  const joined = view.join("\n");
  if (TRUST.test(joined)) return { kind: "trust", raw: firstMatchLine(view, TRUST) };
  if (API_KEY.test(joined)) return { kind: "question", question: firstMatchLine(view, API_KEY) };
  // A login error stays in the scrollback too: it counts while the agent has done nothing since.
  const login = lastIndex(said, (l) => LOGIN.test(l));
  if (login >= 0 && !after(said, login)) return { kind: "login", raw: clean(said[login]!) };
  const limitLine = [...view].reverse().find((l) => LIMIT.test(l));
  if (limitLine) return { kind: "rate_limited", raw: limitLine.trim() };
  const apiLimit = lastIndex(said, (l) => API_LIMIT.test(l));
  if (apiLimit >= 0 && !after(said, apiLimit)) {
    return { kind: "rate_limited", raw: said[apiLimit]!.replace(/^\s*[●⏺]\s*/u, "").trim() };
  }
  if (PERMISSION.test(joined)) {
    // The question itself, not some other line that happens to say "allow" (a path, a log line),
    // with what it asks about: the tool and its command or file, drawn just above the question.
    const res = [/do you want to [^?]*\?|would you like to [^?]*\?/i, /\ballow (this|once)\b/i, /permission/i];
    const at = res.map((re) => lastIndex(view, (l) => re.test(l))).find((i) => i >= 0) ?? -1;
    const question = at >= 0 ? clean(view[at]!) : "";
    const subject = at >= 0 ? permissionSubject(view, at) : "";
    return { kind: "permission", question: subject ? `${subject} — ${question}` : question };
  }
  // Claude Code keeps drawing its input box while it works, so busy wins over a prompt line: the
  // spinner just above the box, "esc to interrupt" in it or below.
  const busy = [...said.slice(-10), ...layout.below].find((l) => BUSY.test(l) || SPINNER.test(l));
  if (busy) return { kind: "busy", marker: busy.trim() };
  if (layout.input === undefined) {
    const selected = said.findIndex((l) => MENU_SELECTED.test(l));
    if (selected >= 0 && said.some((l, i) => i !== selected && MENU_OPTION.test(l))) {
      // The question is the last line above the options that is not part of the menu's frame.
      const above = said.slice(0, selected).reverse().find((l) => l.replace(/[│╭╮╰╯─\s]/g, "") !== "" && !MENU_OPTION.test(l));
      return { kind: "question", question: (above ?? "").replace(/[│╭╮╰╯─]/g, "").trim() };
    }
    return { kind: "unknown" };
  }
  // Only the banner above an empty box: the session has not taken its first prompt yet (2.1.3xx
  // runs its SessionStart hooks first, for seconds under load). Not a stall to nudge.
  if (layout.input === "" && said.some((l) => BANNER.test(l)) && !said.some((l) => PROMPT.test(l) || OUTPUT.test(l))) return { kind: "welcome" };
  return { kind: "idle", input: layout.input };
}

/**
 * The part of a screen that shows the agent's work: everything up to its input line, blank lines
 * and the indicators drawn right above the box left out. What Claude Code draws around the input
 * box (modes, effort, tips, hints that come and go) is not activity, so it must not reset a stall
 * timer.
 */
export function screenBody(text: string): string {
  const layout = readLayout(text);
  if (layout.inputAt === undefined) {
    const lines = text.replace(/\r/g, "").split("\n");
    for (let i = lines.length - 1; i >= 0; i--) if (PROMPT.test(lines[i]!)) return lines.slice(0, i + 1).join("\n");
    return text;
  }
  return [...layout.body, `❯ ${layout.input ?? ""}`].join("\n");
}

/**
 * What a permission dialog asks about: the lines between the dialog's top rule and its question
 * ("Bash command · make --version · Show make version"), without Claude Code's own boilerplate
 * (the auto-mode tip, the dashed rules around the command, "This command requires approval").
 */
function permissionSubject(lines: string[], questionAt: number): string {
  const parts: string[] = [];
  for (let i = questionAt - 1; i >= 0 && i >= questionAt - 12; i--) {
    const line = lines[i]!;
    if (RULE.test(line) || OUTPUT.test(line) || /^\s*[╭┌]/u.test(line)) break;
    const text = clean(line);
    if (text === "" || DASHED.test(line) || /requires approval|^permission rule|^tip:/i.test(text)) continue;
    parts.unshift(text);
  }
  return parts.join(" · ").slice(0, 240);
}

/** Is this the API's per-minute 429 (Claude Code's retries spent) rather than a plan's usage banner? */
export function isApiRateLimit(raw: string): boolean {
  return API_LIMIT.test(raw);
}

/** Did the agent print or work after line `at`? */
function after(lines: string[], at: number): boolean {
  return lines.slice(at + 1).some((l) => OUTPUT.test(l) || BUSY.test(l) || SPINNER.test(l));
}

function lastIndex(lines: string[], test: (line: string) => boolean): number {
  for (let i = lines.length - 1; i >= 0; i--) if (test(lines[i]!)) return i;
  return -1;
}

function clean(line: string): string {
  return line.replace(/[│╭╮╰╯─⎿]/g, "").trim();
}

function firstMatchLine(lines: string[], re: RegExp): string {
  return clean(lines.find((l) => re.test(l)) ?? "");
}

/**
 * The reset time of a usage-limit banner (`resets 3pm (Europe/Paris)`, `reset at 15:30`,
 * `resets in 2h 10m`), as the next such instant after `now`. undefined when unparseable.
 */
export function parseResetTime(raw: string, now: Date): Date | undefined {
  const rel = /in\s+(?:(\d+)\s*h(?:ours?)?)?\s*(?:(\d+)\s*m(?:in(?:utes?)?)?)?/i.exec(raw);
  if (rel && (rel[1] || rel[2])) return new Date(now.getTime() + (Number(rel[1] ?? 0) * 60 + Number(rel[2] ?? 0)) * 60_000);
  const m = /resets?\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\s*(?:\(([^)]+)\))?/i.exec(raw);
  if (!m?.[1]) return undefined;
  let hour = Number(m[1]);
  const minute = Number(m[2] ?? 0);
  const ampm = m[3]?.toLowerCase();
  if (ampm === "pm" && hour < 12) hour += 12;
  if (ampm === "am" && hour === 12) hour = 0;
  if (hour > 23 || minute > 59) return undefined;
  const zone = m[4]?.trim() || "UTC";
  let offset: number;
  try {
    offset = zoneOffsetMinutes(zone, now);
  } catch {
    return undefined;
  }
  // Wall-clock date in the zone, then the instant of hour:minute on it (or the next day).
  const local = new Date(now.getTime() + offset * 60_000);
  let candidate = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate(), hour, minute) - offset * 60_000;
  if (candidate <= now.getTime()) candidate += 24 * 3_600_000;
  return new Date(candidate);
}

/** Minutes east of UTC for an IANA zone at `at` (Intl does the tz database work). */
export function zoneOffsetMinutes(zone: string, at: Date): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(at);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return Math.round((asUtc - Math.floor(at.getTime() / 1000) * 1000) / 60_000);
}
