/**
 * A captured Claude Code screen read as a layout: the input box wherever it sits (pinned to the
 * bottom of the alternate screen with blank lines above it since 2.1.2xx, right under the output
 * before), what the agent said above it, and what Claude Code draws below it. Blank lines and the
 * chrome that comes and goes (the effort indicator, tmux hints) are not part of what was said, so
 * an error near the top of a tall screen is still the last thing said.
 */

/** The input line: `❯` (current Claude Code), or `>` inside the old box or between rule lines. */
export const PROMPT = /^\s*(?:[│|]\s*)?(❯|>)(?:[\s\u00a0]|$)(.*?)\s*[│|]?\s*$/u;
/** A solid rule or box edge: the input box's frame, a dialog's top. */
export const RULE = /^\s*[─━╭╰]{10,}/u;
/** The dashed rules around the command in a permission dialog (2.1.3xx). */
export const DASHED = /^\s*[╌┄┈]{10,}\s*$/u;
// Below the input box: modes, effort, tips, and Claude Code's transient hints ("tmux focus-events
// off · add 'set -g focus-events on'…", "ctrl+y to paste deleted text").
const BELOW = /^[\s─━╭╮╰╯│|]*$|shortcuts|accept edits|bypass permissions|plan mode|auto mode|manual mode|auto-accept|to cycle|context left|auto-compact|\/effort|\/model|focus-events|to paste deleted text|^\s*[⏵⏸⧉●※]/iu;
// Right above the box, drawn and removed while the agent waits: the effort indicator ("◐ medium ·
// /effort"), tmux's focus hint, the paste hint. Not something the agent said.
const ABOVE_BOX = /^\s*[◐◑◒◓○◉●]\s*\w+\s*·\s*\/effort\s*$|focus-events off|to paste deleted text\s*$/iu;
/**
 * What Claude Code shows in grey on an empty input line: the first-run placeholder and, since
 * 2.1.3xx, the hints after an error. A capture has no colours, so they read as text.
 */
const HINT = /^(try ".*"|once fixed, resend your message|resend your message to try again)$/i;

export interface Layout {
  /** Every non-blank line above the input box that the agent's work drew (the whole screen when no box is drawn). */
  body: string[];
  /** The line index in the capture of the input line; undefined when no input box is drawn (a dialog replaced it). */
  inputAt?: number;
  /** What is typed on the input line ("" for an empty line or a grey hint). */
  input?: string;
  /** The non-blank lines below the input line: the box's bottom, modes, footers. */
  below: string[];
}

export function readLayout(text: string): Layout {
  const lines = text.replace(/\r/g, "").split("\n");
  const nonBlank = (ls: string[]) => ls.filter((l) => l.trim() !== "");
  let seen = 0;
  for (let i = lines.length - 1; i >= 0 && seen <= 8; i--) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    seen++;
    const m = PROMPT.exec(line);
    if (!m) {
      // Only the input box's frame and footer lines may follow the current input line; anything
      // else means a prompt line above is history (the agent printed output after it).
      if (!BELOW.test(line)) break;
      continue;
    }
    const boxed = /^\s*[│|]/.test(line) || RULE.test(lines[i - 1] ?? "");
    if (m[1] === ">" && !boxed) continue;
    if (/^\s*\d+\.\s/.test(m[2] ?? "")) continue; // a menu selection ("❯ 1. Yes"), not the input line
    const typed = (m[2] ?? "").replace(/\u00a0/g, " ").trim();
    const top = RULE.test(lines[i - 1] ?? "") ? i - 1 : i;
    const body = nonBlank(lines.slice(0, top)).filter((l) => !ABOVE_BOX.test(l));
    return { body, inputAt: i, input: HINT.test(typed) ? "" : typed, below: nonBlank(lines.slice(i + 1)) };
  }
  return { body: nonBlank(lines), below: [] };
}
