/**
 * What a person may answer to a review the monitor filed, by the condition it is about (its key),
 * and what each answer does: written into the review itself, read back by the monitor, which does
 * it, records it and marks the review resolved. Pure.
 */

export interface ReviewAction {
  word: string;
  /** `dollars`: the word takes an amount (`raise 40`); `text`: the rest of the answer goes with it; `none`: nothing may follow it. */
  arg?: "dollars" | "text" | "none";
  does: string;
}

const SKIP: ReviewAction = { word: "skip", does: "let what waits for the stage go on without it (its worktree and branch are kept)" };
// (No ";" in a `does`: the answers are listed in one sentence, between commas.)
const MERGED: ReviewAction = { word: "merged", does: "say you merged its branch into the base yourself (the stage is done once autorun finds its commits there)" };

/**
 * The answers a review about condition `key` takes (`stage`: about one stage, else the run;
 * `about`: what the condition showed when it was filed, which a permission dialog needs to be
 * answered from the review).
 */
export function actionsFor(key: string, stage: boolean, about?: string): ReviewAction[] {
  if (key.startsWith("refused:")) return [{ word: "merge", does: "try the merge again now (once your checkout is out of its way)" }, SKIP];
  if (key.startsWith("stuck:")) return [MERGED, { word: "retry", does: "try the merge again now (after you changed its branch)" }, SKIP];
  if (key === "idle") return [{ word: "nudge", arg: "text", does: "type the rest of your answer (or the usual nudge) into its session" }, MERGED, SKIP];
  if (key === "budget") return stage ? [{ word: "raise", arg: "dollars", does: "let every stage spend that many dollars (`raise 5`)" }, SKIP] : [{ word: "raise", arg: "dollars", does: "let the run spend that many dollars (`raise 40`)" }];
  if (key === "circuit") return [{ word: "resume", does: "close the breaker: launches resume (any answer does)" }];
  // A Bash permission dialog: its own "Yes" or "No" picked, only while that very dialog is up.
  if (key === "permission" && about !== undefined) return [{ word: "yes", arg: "none", does: "pick the dialog's \"Yes\" for this one command (only while that same dialog is up)" }, { word: "no", arg: "text", does: "pick its \"No\" and type the rest of your answer, if any, into the session as what to do instead" }, SKIP];
  if (key === "permissions") return [{ word: "keep", does: "let the stages launched from now on use them without asking" }, { word: "drop", does: "keep none of them (a later stage that needs one asks again)" }];
  // Another dialog on the agent's screen is answered there; this review closes by itself once it is gone.
  return [SKIP];
}

/** Words people write for an action, by the action's own word. */
const ALIASES: Record<string, string[]> = { yes: ["allow", "approve"], no: ["deny", "refuse"], merge: ["done", "merge"], merged: ["done", "merge", "merged"], nudge: ["nudge", "continue"], resume: ["resume", "done", "fixed"] };

/** "Answer `merge` to …, or `skip` to …." */
export function actionSentence(actions: readonly ReviewAction[]): string {
  const parts = actions.map((a) => `\`${a.word}${a.arg === "dollars" ? " <dollars>" : a.arg === "text" ? " [message]" : ""}\` to ${a.does}`);
  return `Answer ${parts.length > 1 ? `${parts.slice(0, -1).join(", ")}, or ${parts[parts.length - 1]}` : parts[0]}.`;
}

export type ParsedAnswer = { ok: true; action: ReviewAction; arg: string } | { ok: false; why: string };

/** The action an answer asks for: its first word (in backticks or not), and what follows it. */
export function parseAnswer(answer: string, actions: readonly ReviewAction[]): ParsedAnswer {
  const text = answer.trim().replace(/^[`"'*_]+/, "");
  const m = /^([A-Za-z]+)[`"'*_.,:!]*\s*([\s\S]*)$/.exec(text);
  const word = m?.[1]?.toLowerCase() ?? "";
  const action = actions.find((a) => a.word === word) ?? actions.find((a) => (ALIASES[a.word] ?? []).includes(word));
  const known = actions.map((a) => `\`${a.word}\``).join(", ");
  if (!action) return { ok: false, why: `the answer ${JSON.stringify(answer.trim().slice(0, 40))} is not one of ${known}` };
  const arg = (m?.[2] ?? "").trim().replace(/[`"']/g, "");
  // A grant is given whole or not at all: "yes, but only …" is not a yes.
  if (action.arg === "none" && arg !== "") return { ok: false, why: `\`${action.word}\` takes nothing after it; write \`${action.word}\` alone, or attach to the session to say more` };
  if (action.arg === "dollars" && !(Number(arg.replace(/^\$/, "")) > 0)) return { ok: false, why: `\`${action.word}\` needs an amount of dollars after it (\`${action.word} 40\`)` };
  return { ok: true, action, arg: action.arg === "dollars" ? String(Number(arg.replace(/^\$/, ""))) : arg };
}
