/**
 * Verified nudges: paste the text, press Enter once it shows, re-capture and confirm it was
 * submitted; press Enter again with backoff when the text is still in the input.
 * Never types into a busy pane.
 */
import type { Tmux } from "../adapters/tmux.js";
import { classifyPane, type PaneState } from "./pane.js";
import type { Clock } from "../core/clock.js";
import { printable } from "../core/printable.js";

export interface NudgeResult {
  sent: boolean;
  verified: boolean;
  attempts: number;
  evidence: string;
  /** Not sent: the screen the pane showed instead of a prompt (a person answers it in the session). */
  screen?: "busy" | "permission" | "login" | "trust";
}

/**
 * Waits, at most 0.5 s, for the pasted text to show in the input (or the input to change, or the
 * screen to stop being a prompt's). Earlier lines of the screen may quote the same text (the last
 * nudge): only the input counts.
 */
async function untilShown(tmux: Tmux, session: string, o: { single: string; was: PaneState; clock: Clock }): Promise<void> {
  const { was } = o;
  for (const until = o.clock.now() + 500; o.clock.now() < until; ) {
    const look = await tmux.capturePane(session);
    if (look === undefined) return;
    const now = classifyPane(look);
    if (now.kind !== "idle" || now.input.includes(o.single.slice(0, 40)) || (was.kind === "idle" && now.input !== was.input)) return;
    await o.clock.sleep(20);
  }
}

/** `maxEnter`: Enter presses (the first included) before the nudge counts as not taken. */
export async function verifiedNudge(tmux: Tmux, session: string, text: string, o: { clock: Clock; maxEnter?: number }): Promise<NudgeResult> {
  const { clock, maxEnter = 4 } = o;
  // Every look is the screen and the cursor's row in one tmux call: one process on the way to a
  // verified nudge instead of two.
  const first = await tmux.captureWithCursor(session);
  if (first === undefined) return { sent: false, verified: false, attempts: 0, evidence: "session not found" };
  const before = first.screen;
  const state = classifyPane(before);
  if (state.kind === "busy") return { sent: false, verified: false, attempts: 0, evidence: `pane busy: ${state.marker}`, screen: "busy" };
  if (state.kind === "permission" || state.kind === "login" || state.kind === "trust") {
    return { sent: false, verified: false, attempts: 0, evidence: `pane shows a ${state.kind} screen`, screen: state.kind };
  }
  // One line of printable text: what a message quotes (a check's output, an agent's words) must not
  // reach the pane as keys (an escape sequence is Shift+Tab to Claude Code, a carriage return Enter).
  const single = printable(text.replace(/\s*[\r\n]+\s*/g, " ").replace(/\t/g, " ")).trim();
  if (!(state.kind === "idle" && state.input.includes(single))) {
    if (!(await tmux.pasteText(session, single))) return { sent: false, verified: false, attempts: 0, evidence: "paste-buffer failed" };
    // Enter must be a keypress of its own, not part of what the input takes as typed text. The text
    // goes in as one bracketed paste, after which an input box takes Enter at once; Enter is sent
    // once the text shows (at most 0.5 s: one drawn another way, "[Pasted text #1]", is not seen).
    await untilShown(tmux, session, { single, was: state, clock });
  }
  // Where the cursor sits relative to the prompt line with our text: a line-mode agent (no TUI
  // redraw) shows a submitted line only by the cursor moving below it.
  const offset = (look: { screen: string; row: number | undefined }): number | undefined => {
    if (look.row === undefined) return undefined;
    const lines = look.screen.split("\n");
    for (let i = lines.length - 1; i >= 0; i--) if (lines[i]!.includes(single.slice(0, 40)) && /❯|>/.test(lines[i]!)) return look.row - i;
    return undefined;
  };
  let typedAt: number | undefined;
  // The screen just before the first Enter: what changes after it is the agent's answer to it.
  let typedScreen: string | undefined;
  let attempts = 0;
  let evidence = "";
  let backoff = 500;
  for (let i = 0; i < maxEnter; i++) {
    attempts++;
    if (i === 0) {
      const typed = await tmux.enterAfterLook(session);
      if (typed === undefined) return { sent: true, verified: false, attempts, evidence: "session ended before Enter" };
      typedAt = offset(typed);
      typedScreen = typed.screen;
    } else await tmux.sendEnter(session);
    const deadline = clock.now() + backoff + 700;
    // The first Enter's call takes a while on a busy machine: the agent may have taken it already.
    let lookNow = i === 0;
    while (clock.now() < deadline) {
      if (!lookNow) await clock.sleep(60);
      lookNow = false;
      const look = await tmux.captureWithCursor(session);
      if (look === undefined) return { sent: true, verified: false, attempts, evidence: "session ended after Enter" };
      const after = look.screen;
      const st = classifyPane(after);
      if (st.kind === "busy") return { sent: true, verified: true, attempts, evidence: `busy after Enter: ${st.marker}` };
      if (st.kind === "idle" && !st.input.includes(single.slice(0, 40)) && after !== before) {
        return { sent: true, verified: true, attempts, evidence: "input cleared and screen changed after Enter" };
      }
      if (st.kind !== "idle" && st.kind !== "unknown") {
        // A screen that already showed this (a usage-limit banner) has not moved on by showing it still.
        if (st.kind !== state.kind) return { sent: true, verified: true, attempts, evidence: `screen moved on to ${st.kind}` };
        if (typedScreen !== undefined && after !== typedScreen) return { sent: true, verified: true, attempts, evidence: `screen changed after Enter (still ${st.kind})` };
      }
      if (st.kind === "unknown" && after !== before) return { sent: true, verified: true, attempts, evidence: "screen changed after Enter" };
      if (st.kind === "idle" && typedAt !== undefined) {
        const now = offset(look);
        if (now !== undefined && now > typedAt) return { sent: true, verified: true, attempts, evidence: "cursor moved below the submitted line" };
      }
      evidence = st.kind === "idle" ? `text still in input: ${JSON.stringify(st.input.slice(0, 60))}` : "screen unchanged";
    }
    backoff *= 2;
  }
  return { sent: true, verified: false, attempts, evidence };
}
