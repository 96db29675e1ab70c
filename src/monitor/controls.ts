/**
 * The controls long runs need: budgets (the whole run's and each stage's, from the usage read off
 * the agents' transcripts) and the circuit breaker (so many stages failed in a row that something
 * is wrong beyond one stage). Both stop new launches through the status's `hold`; a person lifts
 * it (`autorun resume --budget`, or answering the circuit breaker's review). Part of the monitor's
 * pass, over the same host interface as attention and liveness.
 */
import { readReview } from "../state/review.js";
import type { Config } from "../state/config.js";
import type { Status } from "../types/schemas.js";
import { sentence, stagesList } from "../core/printable.js";
import { dollars as usd } from "../core/usage.js";
import type { ReviewDesk, RunView } from "./parts.js";

type Host = Pick<RunView, "deps" | "status" | "inProgress" | "emit">;

type Stage = Status["stages"][string];


/** What a stage may spend: a budget a person raised during the run, else the plan's for it, else `stageBudgetUsd`. */
export function stageLimit(status: Status, config: Pick<Config, "stageBudgetUsd">, stage: Stage): number | undefined {
  return status.stage_budget_usd ?? stage.settings.budget_usd ?? config.stageBudgetUsd;
}

function runLimit(status: Status, config: Pick<Config, "budgetUsd">): number | undefined {
  return status.budget_usd ?? config.budgetUsd;
}

/** Dollars the run has spent so far (stages whose model has no price count nothing). */
export function spent(status: Status): number {
  return Object.values(status.stages).reduce((sum, s) => sum + (s.usage?.usd ?? 0), 0);
}

/** The stage is past a budget: no nudges or messages are typed into it. */
export function budgetSpent(status: Status, stage: Stage): boolean {
  return stage.over_budget || status.hold?.kind === "budget";
}

/** Its session was ended for the budget (`onBudget: stop`): not a death to relaunch after. */
export function budgetStopped(status: Status, config: Pick<Config, "onBudget">, stage: Stage): boolean {
  return config.onBudget === "stop" && budgetSpent(status, stage);
}

/** Compares what was spent with each budget; crossing one is recorded once, told, and acted on. */
export async function checkBudgets(host: Host, reviews: Pick<ReviewDesk, "file">): Promise<void> {
  const { config, tmux, log } = host.deps;
  const status = host.status;
  const stop = config.onBudget === "stop";
  for (const [id, stage] of Object.entries(status.stages)) {
    if (stage.over_budget || stage.usage?.usd == null) continue;
    const limit = stageLimit(status, config, stage);
    if (limit === undefined || stage.usage.usd < limit) continue;
    // A stage that finished before its spending was read is still over budget: said once, nothing to stop.
    if (stage.status === "completed" || stage.status === "failed") {
      host.emit({ type: "budget_exceeded", stage: id, limit_usd: limit, spent_usd: stage.usage.usd, stopped: false });
      log(`stage ${id} spent ${usd(stage.usage.usd)} of its ${usd(limit)} budget (it had already ${stage.status === "completed" ? "finished" : "failed"}; nothing to stop)`);
      continue;
    }
    if (stage.status !== "in_progress" && stage.status !== "merging") continue;
    const end = stop && stage.status === "in_progress";
    if (end) await tmux.killSession(stage.session);
    host.emit({ type: "budget_exceeded", stage: id, limit_usd: limit, spent_usd: stage.usage.usd, stopped: end });
    const what = `stage ${id} spent ${usd(stage.usage.usd)} of its ${usd(limit)} budget`;
    log(`${what}; ${end ? "its session was ended (worktree and commits kept)" : "no more nudges for it"}`);
    await reviews.file({ id, key: "budget" }, `Stage ${id} spent its budget`, `${sentence(what)}. ${end ? "Its session was ended; its worktree and commits are kept." : "It is not nudged any more; it may finish its current turn."}`, [
      { topic: "Raise the budget or stop", question: `The same as \`raise\`: \`autorun resume ${status.plan_name} --stage-budget <dollars>\`; to end the whole run: \`autorun stop ${status.plan_name} --sessions\`.` },
    ]);
  }
  const limit = runLimit(status, config);
  if (limit === undefined || status.hold?.kind === "budget") return;
  const total = spent(status);
  if (total < limit) return;
  const running = host.inProgress().map(([id]) => id);
  if (stop) for (const id of running) await tmux.killSession(status.stages[id]!.session);
  host.emit({ type: "budget_exceeded", limit_usd: limit, spent_usd: total, stopped: stop && running.length > 0 });
  const what = `the run spent ${usd(total)} of its ${usd(limit)} budget`;
  log(`${what}: nothing new is launched${running.length === 0 ? "" : stop ? `; sessions of ${stagesList(running)} ended (worktrees and commits kept)` : `; ${stagesList(running)} may finish but are not nudged`}. Raise it with: autorun resume ${status.plan_name} --budget <dollars>`);
  await reviews.file({ id: undefined, key: "budget" }, `The run spent its budget`, `${sentence(what)}. Nothing new is launched.`, [
    { topic: "Raise the budget or stop", question: `A budget above the ${usd(total)} spent. The same as \`raise\`: \`autorun resume ${status.plan_name} --budget <dollars>\`; to end the run: \`autorun stop ${status.plan_name} --sessions\`.` },
  ]);
}

/**
 * Opens the breaker when `circuitBreaker` stages failed in a row (no merge between them): nothing
 * new is launched, and a person is asked. Answering that review closes it again.
 */
export async function checkCircuit(host: Host, reviews: Pick<ReviewDesk, "file">, review: { file?: string }): Promise<void> {
  const { config, log } = host.deps;
  const status = host.status;
  if (status.hold?.kind === "circuit") {
    if (review.file && readAnswered(review.file)) {
      host.emit({ type: "circuit_closed", reason: `answered in ${review.file}` });
      log(`circuit breaker closed: the review ${review.file} was answered; launching again`);
      review.file = undefined;
    }
    return;
  }
  const failed = status.failed_in_row;
  if (config.circuitBreaker === 0 || failed.length < config.circuitBreaker || status.hold) return;
  host.emit({ type: "circuit_open", failed });
  const reasons = failed.map((id) => `- stage ${id} (${status.stages[id]?.name ?? "?"}): ${status.stages[id]?.failure_reason ?? "failed"}`).join("\n");
  log(`circuit breaker open: ${failed.length} stage${failed.length === 1 ? "" : "s"} failed in a row (${failed.join(", ")}); nothing new is launched until a person looks`);
  await reviews.file({ id: undefined, key: "circuit" }, `${failed.length} stage${failed.length === 1 ? "" : "s"} failed in a row: launches stopped`, `${failed.length} stage${failed.length === 1 ? "" : "s"} failed one after another with no merge between them, which usually means something beyond one stage is wrong (the agent's login or model, the project's setup, the plan):\n\n${reasons}\n\nNothing new is launched; stages already running go on.`, [
    { topic: "What was wrong", question: `Look at the reasons above (and \`autorun logs ${status.plan_name}\`), fix what they have in common, then write what you did here: answering closes the breaker and launches resume (so does \`autorun resume ${status.plan_name}\`). Failed stages run again only with \`autorun retry ${status.plan_name} <stage>\`.` },
  ]);
}

function readAnswered(file: string): boolean {
  try {
    return readReview(file).complete;
  } catch {
    return false;
  }
}
