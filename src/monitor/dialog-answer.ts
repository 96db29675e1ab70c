/**
 * Answering a Bash permission dialog from `permissionAnswers`: the decision (dialog.ts) made on
 * the screen and the agent's transcript, the keystroke, and the check that the dialog went. Part
 * of the monitor's screen checks (attention.ts), one stage's dialog at a time.
 */
import type { RunView } from "./parts.js";
import { createHash } from "node:crypto";
import { callShown, decide, parseBashDialog, pendingBashCalls, sameDialog, type BashDialog, type DialogOption, type PendingCall } from "./dialog.js";
import { readTranscriptTail } from "./usage.js";
import { hookAnswer } from "../core/permissions.js";
import { onThisMachine } from "../core/hosts.js";

type Host = Pick<RunView, "deps" | "status" | "emit">;

/** A stage's permission dialogs, as attention keeps them (it alone writes them, through this module). */
export interface DialogMemory {
  /** A dialog answered from `permissionAnswers` and not yet seen gone: its question, the screen it was on, when, how often in a row. */
  answered?: { question: string; screen: string | undefined; at: number; times: number };
  /** The last permission dialog left for a person (what it showed), and why. */
  declined?: { shown: string; why: string; at: number; final: boolean; command?: string };
  /** The last command the stage's PermissionRequest hook answered, and when the monitor read that. */
  hookAnswered?: { command: string; at: number };
  /** A dialog whose answer is the hook's to give: what it showed, and since when it is up. */
  forHook?: { shown: string; since: number };
  /** The last dialog a person's review could have answered (`dialogSubject`), by the dialog as read (`shown`: its JSON). */
  subject?: { shown: string; subject: DialogSubject };
}

/**
 * How long a dialog whose plain yes or no the PermissionRequest hook gives is left to the hook
 * (Claude Code draws the dialog while its hooks run; a hook of a loaded machine takes seconds)
 * before it is answered on screen instead (the hook did not run, or its answer was not taken).
 */
export const HOOK_GRACE_MS = 10_000;

/** What else of the stage the answer reads: the agent output seen last, and its transcript. */
export interface DialogSight {
  lastScreen: string | undefined;
  transcript: string | undefined;
}

/** How long a dialog answered from `permissionAnswers` may stay on screen before the answer counts as not taken. */
const ANSWER_SETTLE_MS = 5_000;

/**
 * A plain yes or no is the PermissionRequest hook's to give, and Claude Code draws the dialog while
 * its hooks run: answering it here too would be a second answer, whose keystroke could land on the
 * next dialog. True while the hook answered it, or may still (for `HOOK_GRACE_MS` after the
 * dialog was first seen); after that the screen answers it (the hook did not run).
 */
function leftToHook(m: DialogMemory, at: { shown: string; command: string; now: number }, answers: Readonly<Record<string, string>>): boolean {
  const { shown, command, now } = at;
  if (!hookAnswer(answers, command)) return false;
  if (m.hookAnswered?.command === command && now - m.hookAnswered.at < 30_000) return true;
  if (m.forHook?.shown !== shown) m.forHook = { shown, since: now };
  return now - m.forHook.since < HOOK_GRACE_MS;
}

/**
 * Answers a Bash permission dialog from `permissionAnswers`, exactly: the command is the agent's
 * pending call that the dialog shows (from its transcript), the key must name that command, the
 * answer's option is read from the dialog's own text, and one that would switch permission modes
 * is refused. The screen is read again just before the keystroke (the same dialog must still be
 * up); the option's digit alone picks it (no Enter, which a next dialog would take as its
 * answer); then the screen is read again, for up to 3 s, to see the dialog go. `done`: answered, or just
 * answered and given time to close; otherwise why a person is asked (and the command, when known).
 */
export async function answerDialog(host: Host, at: { id: string; screen: string }, m: DialogMemory, sight: DialogSight): Promise<"done" | { person: string; command?: string }> {
  const { id, screen } = at;
  const { clock, tmux, config, log } = host.deps;
  const session = host.status.stages[id]!.session;
  const dialog = parseBashDialog(screen);
  if (!dialog) return { person: "it is not a Bash command dialog autorun can read" };
  const shown = JSON.stringify(dialog);
  const now = clock.now();
  const last = m.answered?.question === shown ? m.answered : undefined;
  // An answer takes a moment to close the dialog: until then the same dialog is not news.
  if (last && now - last.at < ANSWER_SETTLE_MS) return "done";
  // The same call asked again on a changed screen is answered again; the very screen answered
  // before, or a third answer with no screen without the dialog between, means it does not take.
  if (last && (sight.lastScreen === last.screen || last.times >= 3)) return { person: "the answer given did not close it" };
  // A dialog already left for a person stays theirs (and is not logged again at every look).
  const declined = m.declined?.shown === shown ? m.declined : undefined;
  if (declined?.final) return { person: declined.why, ...(declined.command !== undefined ? { command: declined.command } : {}) };
  const tail = sight.transcript ? readTranscriptTail(sight.transcript) : undefined;
  const decision = decide(dialog, pendingBashCalls(tail ?? []), config.permissionAnswers);
  if (decision.kind !== "answer") {
    const about = decision.command !== undefined ? ` for ${JSON.stringify(decision.command)}` : "";
    // The call may not be in the transcript yet: it is looked for again for 2 s before a person is asked.
    const later = decision.kind === "none" && decision.command === undefined && now - (declined?.at ?? now) < 2_000;
    if (!later) log(`stage ${id}: not answering the permission dialog${about}: ${decision.why}`);
    const command = decision.command !== undefined ? { command: decision.command } : {};
    m.declined = { shown, why: decision.why, at: declined?.at ?? now, final: !later, ...command };
    return later ? "done" : { person: decision.why, ...command };
  }
  // (A stage on a host has no answers there for its hook: its dialogs are answered here at once.)
  if (onThisMachine(host.status.stages[id]!.host) && leftToHook(m, { shown, command: decision.command, now }, config.permissionAnswers)) return "done";
  const again = await tmux.capturePane(session);
  if (!sameDialog(again === undefined ? undefined : parseBashDialog(again), dialog)) return "done"; // it changed: judged at the next look
  m.answered = { question: shown, screen: sight.lastScreen, at: now, times: (last?.times ?? 0) + 1 };
  const { option, command, key, value } = decision;
  if (m.forHook?.shown === shown) log(`stage ${id}: the PermissionRequest hook did not answer the dialog for ${JSON.stringify(command)} within ${HOOK_GRACE_MS / 1000} s; answering it on screen`);
  log(`stage ${id}: answering the permission dialog for ${JSON.stringify(command)} with "${option.n}. ${option.text}" (permissionAnswers ${JSON.stringify(key)}: ${JSON.stringify(value)})`);
  const verified = await press(host, session, dialog, option);
  host.emit({ type: "permission_answered", stage: id, command: command.slice(0, 2000), key: key.slice(0, 2000), answer: `${option.n}. ${option.text}`.slice(0, 300), verified });
  if (!verified) log(`stage ${id}: the permission dialog for ${JSON.stringify(command)} is still up after the answer`);
  return "done";
}

/**
 * Picks `option` by its digit alone (no Enter, which a next dialog would take as its answer), then
 * reads the screen again for up to 3 s to see the dialog go: whether it went.
 */
async function press(host: Host, session: string, dialog: BashDialog, option: DialogOption): Promise<boolean> {
  const { clock, tmux } = host.deps;
  await tmux.sendLiteral(session, String(option.n));
  // Claude Code redraws within a moment; under load it may take seconds.
  for (let i = 0; i < 15; i++) {
    await clock.sleep(200);
    const after = await tmux.capturePane(session);
    if (after !== undefined && !sameDialog(parseBashDialog(after), dialog)) return true;
  }
  return false;
}

/** The key a person's answer is recorded under in `permission_answered` (a permissionAnswers key there otherwise). */
export const PERSON_ANSWER = "(a person's answer to its review)";

/** A Bash dialog a person may answer from its review: the dialog as read whole, and the agent's call it shows. */
export interface DialogSubject {
  /** What the review keeps of it (a hash: no text of the agent's in the review's metadata). */
  about: string;
  dialog: BashDialog;
  call: PendingCall;
}

/** The longest command and description a review shows in full, so a person may answer its dialog there. */
const SUBJECT_MAX = 4_000;

/**
 * The dialog read from a screen (`parseBashDialog`) as a person's review can have it answered:
 * read whole (its top on screen, under Claude Code's own rule) and tied to exactly one of the
 * agent's pending Bash calls in its transcript, whose whole command and description the review
 * shows. Otherwise why only attaching answers it.
 */
export function dialogSubject(dialog: BashDialog | undefined, transcript: string | undefined): DialogSubject | { why: string } {
  if (!dialog) return { why: "it is not a Bash command dialog autorun can read whole" };
  const shown = callShown(dialog, pendingBashCalls((transcript ? readTranscriptTail(transcript) : undefined) ?? []));
  if ("why" in shown) return shown;
  if (shown.call.command.length + shown.call.description.length > SUBJECT_MAX) return { why: `its command is over ${SUBJECT_MAX} characters, too long to show here in full` };
  const about = createHash("sha256").update(JSON.stringify({ dialog, call: shown.call })).digest("hex");
  return { about, dialog, call: shown.call };
}

/**
 * A person's "yes" or "no" to the review about a Bash permission dialog, picked on the dialog
 * only while it is the very dialog the review was filed about and shows the same call of the
 * agent's (`about`, from `dialogSubject`): another call's dialog is never answered by it. Its
 * plain "Yes" or "No", never an option that keeps the rule or switches modes. What was done, in
 * words (`nothing was done: …` when nothing).
 */
export async function answerForPerson(host: Host, at: { id: string; transcript: string | undefined }, choice: "yes" | "no", about: string): Promise<{ effect: string; picked: boolean }> {
  const { id } = at;
  const stage = host.status.stages[id]!;
  const screen = await host.deps.tmux.capturePane(stage.session);
  const attach = `autorun attach ${host.status.plan_name} ${id}`;
  const subject = dialogSubject(screen === undefined ? undefined : parseBashDialog(screen), at.transcript);
  if ("why" in subject) return { effect: `nothing was done: no Bash permission dialog autorun can read whole is up in its session now (see it with: ${attach})`, picked: false };
  if (subject.about !== about) {
    return { effect: `nothing was done: the dialog up now is another one (for ${JSON.stringify(subject.call.command.slice(0, 80))}), not the one this review asked about: answer that one in its own review, or with: ${attach}`, picked: false };
  }
  const option = subject.dialog.options.find((o) => o.meaning === choice);
  if (!option) return { effect: `nothing was done: the dialog offers no plain "${choice === "yes" ? "Yes" : "No"}"; answer it with: ${attach}`, picked: false };
  const verified = await press(host, stage.session, subject.dialog, option);
  host.emit({ type: "permission_answered", stage: id, command: subject.call.command.slice(0, 2000), key: PERSON_ANSWER, answer: `${option.n}. ${option.text}`.slice(0, 300), verified });
  return { effect: `picked "${option.n}. ${option.text}" on its dialog${verified ? "" : ", which was still up 3 s later"}`, picked: true };
}
