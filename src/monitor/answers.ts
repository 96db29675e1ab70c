/**
 * What the monitor does with the answer to a review it filed: the action the answer names (the
 * review lists them), done and described in words that say only what happened.
 */
import { parseAnswer, actionsFor } from "../core/review-actions.js";
import { dollars } from "../core/usage.js";
import { stagesList } from "../core/printable.js";
import { stageState } from "../core/words.js";
import { spent } from "./controls.js";
import { dependantsOf, workInBase } from "./finish.js";
import type { RunView } from "./parts.js";
import { cutAtWord } from "../core/text-width.js";

/** What carrying out an answer may do: record events, and ask the monitor for a merge, a cleanup or a nudge. */
export interface AnswerHost {
  view: Pick<RunView, "status" | "deps" | "emit">;
  /** Starts a merge of the stage now (in the background); false when one is already under way. */
  mergeNow(id: string): boolean;
  /** Ends the session and removes the worktree of a stage a person merged, as after a merge. */
  cleanupFinished(id: string): void;
  /** A verified nudge (a person's: the count of nudges in a row starts again); whether it was typed and taken. */
  nudgeStage(id: string, why: string, message: string): Promise<boolean>;
  /** A merge of the stage is in flight in this monitor (it may not have written merge_started yet). */
  merging(id: string): boolean;
  /** Picks the plain "Yes" or "No" of the stage's Bash permission dialog, if it is still the one `about` describes. */
  answerDialog(id: string, choice: "yes" | "no", about: string): Promise<{ effect: string; picked: boolean }>;
}

/** The action's word, what it did, and whether it took (else the review stays open for another answer). */
export interface Outcome {
  action: string;
  effect: string;
  took: boolean;
}

/** A person's word on the rules stage `id`'s session was allowed for good: kept for later stages, or not. */
function keepPermissions(view: AnswerHost["view"], id: string, keep: boolean): string {
  const rules = view.status.stages[id]!.proposed_rules;
  if (rules.length === 0) return "nothing to do: no rules wait for a word";
  if (!keep) return `not kept: a later stage that needs ${rules.length === 1 ? "it" : "one"} asks again (${rules.join(", ")})`;
  view.emit({ type: "permissions_learned", stage: id, rules });
  return `kept for the stages launched from now on: ${rules.join(", ")}`;
}

/**
 * Does what `answer` asks of the review about `key` (of stage `id`, or the run; `about`: what the
 * condition showed when it was filed): the action's word and what it did.
 */
export async function carryOut(host: AnswerHost, review: { id: string | undefined; key: string; about?: string }, answer: string): Promise<Outcome> {
  const { id, key, about } = review;
  const parsed = parseAnswer(answer, actionsFor(key, id !== undefined, about));
  if (!parsed.ok) return { action: "none", effect: `nothing was done: ${parsed.why}`, took: false };
  const word = parsed.action.word;
  // Nothing done while the condition stands: the review is asked again, not closed.
  const said = (effect: string) => ({ action: word, effect, took: !effect.startsWith("nothing was done") });
  const { view } = host;
  const status = view.status;
  if (word === "raise") {
    const limit = Number(parsed.arg);
    const used = id === undefined ? spent(status) : Math.max(0, ...Object.values(status.stages).filter((s) => s.over_budget).map((s) => s.usage?.usd ?? 0));
    if (limit <= used) return said(`nothing was done: ${dollars(limit)} is not above the ${dollars(used)} already spent`);
    view.emit({ type: "budget_raised", scope: id === undefined ? "run" : "stage", limit_usd: limit });
    return said(id === undefined ? `the run's budget is now ${dollars(limit)}` : `every stage may now spend ${dollars(limit)}`);
  }
  if (id === undefined) return said("nothing was done");
  const stage = status.stages[id];
  if (!stage) return said(`nothing was done: no stage ${id}`);
  if (key === "permissions") return said(keepPermissions(view, id, word === "keep"));
  if (stage.status === "completed") return said(`nothing to do: stage ${id} is already ${stageState(stage)}`);
  switch (word) {
    case "skip": {
      // A merge under way may have read the stage before this answer: it goes first, and the answer is asked again.
      if (stage.status === "merging" || host.merging(id)) return said(`nothing was done: stage ${id} is being merged right now`);
      await view.deps.tmux.killSession(stage.session);
      view.emit({ type: "stage_skipped", stage: id, reason: `a person answered "skip" to its review` });
      const waiting = dependantsOf(status, id);
      return said(`stage ${id} was skipped: ${waiting.length ? `${stagesList(waiting)} go${waiting.length === 1 ? "es" : ""} on without it` : "nothing depends on it"}; its worktree and branch are kept`);
    }
    case "merge":
    case "retry":
      if (stage.status !== "in_progress") return said(`nothing was done: stage ${id} is ${stageState(stage)}`);
      return said(host.mergeNow(id) ? `the merge of stage ${id} was tried again (the monitor log says how it went)` : `a merge of stage ${id} was already under way`);
    case "merged": {
      const found = await workInBase(status.project_root, status.base_branch, stage, { applied: true });
      if (found.kind !== "applied" && (found.kind !== "in_base" || !found.own)) {
        const why = found.kind === "not_in_base" ? `its branch ${stage.branch} has ${found.ahead} commit(s) ${status.base_branch} does not have` : found.kind === "no_branch" ? `its branch ${stage.branch} does not exist` : `its branch ${stage.branch} has no commits of its own`;
        // `done` takes a stage with nothing of its own to merge, never one with commits the base lacks.
        const next = found.kind === "not_in_base" ? `merge it (git merge --no-ff ${stage.branch}, or answer "merge"), or let what waits for it go on without it: answer "skip" (or autorun skip ${status.plan_name} ${id})` : `say it is done anyway with: autorun done ${status.plan_name} ${id}`;
        return said(`nothing was done: ${why}; ${next}`);
      }
      const merge = found.kind === "in_base" && found.own ? { commit: found.commit } : {};
      view.emit({ type: "stage_done_by_person", stage: id, how: "review", ...merge, detail: found.kind === "applied" ? `the changes of ${stage.branch} are in ${status.base_branch} as other commits` : `${stage.branch} is in ${status.base_branch}` });
      host.cleanupFinished(id);
      return said(`stage ${id} is done (its branch is in ${status.base_branch}); what waits for it goes on`);
    }
    case "yes":
    case "no": {
      if (stage.status !== "in_progress" || about === undefined) return said(`nothing was done: stage ${id} is ${stageState(stage)}`);
      const picked = await host.answerDialog(id, word, about);
      if (!picked.picked || word === "yes" || !parsed.arg) return said(picked.effect);
      // "No, and tell Claude what to do differently": what to do instead goes in as its next prompt.
      const typed = await host.nudgeStage(id, "a person's answer to its review", parsed.arg);
      return said(`${picked.effect}, then ${typed ? `typed ${JSON.stringify(cutAtWord(parsed.arg, 60))} into its session, and it took it` : `could not confirm that ${JSON.stringify(cutAtWord(parsed.arg, 60))} reached its session`}`);
    }
    case "nudge": {
      if (stage.status !== "in_progress") return said(`nothing was done: stage ${id} is ${stageState(stage)}`);
      const message = parsed.arg || view.deps.config.nudgeMessage;
      const typed = await host.nudgeStage(id, "a person's answer to its review", message);
      return said(typed ? `typed ${JSON.stringify(cutAtWord(message, 60))} into its session, and it took it` : `could not confirm that ${JSON.stringify(cutAtWord(message, 60))} reached its session (busy, or gone); the monitor nudges it again when it is idle`);
    }
    default:
      return said("nothing was done");
  }
}
