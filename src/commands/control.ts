/** Operating a running orchestration: resume, stop, attach, logs, nudge, merge (retry: retry.ts). */
import { existsSync, openSync, readSync, closeSync, statSync } from "node:fs";
import { watch } from "chokidar";
import { createTmux, onOurServer } from "../adapters/tmux.js";
import { onStopSignal } from "../adapters/process.js";
import { appendFor } from "../state/orchestration.js";
import type { EventBody } from "../types/schemas.js";
import { spent } from "../monitor/controls.js";
import { dollars as usd } from "../core/usage.js";
import { loadStatus, rebuildStatus } from "../state/status.js";
import { runningMonitor } from "../monitor/monitor-pid.js";
import { nudgeStage, stopRun } from "../monitor/person-actions.js";
import type { NudgeResult } from "../monitor/nudge.js";
import { describeMerge, mergeStage, sendBackMessage } from "../monitor/merge.js";
import { startMonitorDetached } from "./monitor.js";
import { monitorLogger } from "../state/monitor-log.js";
import type { Ctx } from "./ctx.js";
import { requireStage, resolveOrchestration, type LoadedOrchestration } from "../state/orchestration.js";
import { RuntimeError, UserError } from "../errors.js";
import { preflightOrchestration } from "./preflight.js";
import { sentence, stagesList } from "../core/printable.js";
import { stageState } from "../core/words.js";
import { onThisMachine } from "../core/hosts.js";
import { listReviewFiles, readReview } from "../state/review.js";
import { actionsFor, parseAnswer } from "../core/review-actions.js";

export async function runResume(ctx: Ctx, plan: string, opts: { budget?: number; stageBudget?: number } = {}): Promise<number> {
  const found = resolveOrchestration(ctx, plan);
  if (found.status.status === "completed") {
    ctx.out(`${found.status.plan_name} already completed; nothing to resume.`);
    return 0;
  }
  // A host's entry fixed since the run started (the reason to resume, often) is taken now.
  const orch = await (await import("./resume-hosts.js")).takeConfiguredHosts(ctx, found);
  liftHolds(ctx, orch, opts);
  // Say what resume will not do: failed stages stay failed (and their dependants blocked).
  const failed = Object.entries(orch.status.stages).filter(([, s]) => s.status === "failed");
  const blocked = Object.entries(orch.status.stages).filter(([, s]) => s.status === "blocked").map(([id]) => id);
  for (const [id, s] of failed) ctx.out(`Stage ${id} failed (${s.failure_reason ?? "no reason recorded"}); resume does not run it again.`);
  if (failed.length > 0) {
    ctx.out(`${blocked.length ? `${stagesList(blocked).replace(/^s/, "S")} ${blocked.length === 1 ? "waits" : "wait"} on ${failed.length === 1 ? "it" : "them"}. ` : ""}To run it again: autorun retry ${orch.status.plan_name} ${failed.map(([id]) => id).join(" ")}`);
  }
  // Its monitor at work already relaunches and goes on: nothing is started, nothing else granted.
  const running = runningMonitor(orch.paths);
  if (running !== undefined) {
    ctx.out(`The monitor of ${orch.status.plan_name} is already running (pid ${running}): it relaunches stages whose session died and continues the plan.`);
    ctx.out(`Log: ${orch.paths.monitorLog}`);
    return 0;
  }
  // Relaunched sessions get this shell's variables: say which ones the run started with are missing.
  const missing = orch.config.agentEnv.filter((name) => ctx.env[name] === undefined);
  if (missing.length > 0) ctx.err(`autorun: warning: ${missing.join(", ")} ${missing.length === 1 ? "was" : "were"} set when ${orch.status.plan_name} started but ${missing.length === 1 ? "is" : "are"} not set now; relaunched agents will not have ${missing.length === 1 ? "it" : "them"}.`);
  // The monitor relaunches agents: one that cannot start is refused here, with the fix.
  await preflightOrchestration(orch, ctx.env);
  await relaunchGone(ctx, orch);
  const pid = await startMonitorDetached(ctx, orch.paths);
  ctx.out(`Monitor running for ${orch.status.plan_name} (pid ${pid}); it relaunches stages whose session died and continues the plan.`);
  ctx.out(`Log: ${orch.paths.monitorLog}`);
  return 0;
}

/**
 * The running stages whose sessions are gone (ended by hand, or with the machine, while no monitor
 * ran): resuming is the person's go-ahead, so their relaunch does not count against their attempts,
 * and `resume` says so. Stages on other hosts are the monitor's to look at there.
 */
async function relaunchGone(ctx: Pick<Ctx, "out">, orch: LoadedOrchestration): Promise<void> {
  // A stage that handed over is merged, not relaunched, whatever became of its session.
  const running = Object.entries(orch.status.stages).filter(([, s]) => s.status === "in_progress" && !s.implement_done && onThisMachine(s.host));
  if (running.length === 0) return;
  const sessions = new Set(await createTmux(orch.config.tmuxSocket).listSessions());
  const dead = running.filter(([, s]) => !sessions.has(s.session)).map(([id]) => id);
  if (dead.length === 0) return;
  // A stage whose review the person answered `skip` (or `merged`) meanwhile: the monitor does that first.
  const answered = answersThatEnd(orch);
  for (const id of dead.filter((id) => answered.has(id))) ctx.out(`Stage ${id}: its session is gone, and your answer to ${answered.get(id)!.file} (${answered.get(id)!.word}) is carried out instead of a relaunch.`);
  const gone = dead.filter((id) => !answered.has(id));
  if (gone.length === 0) return;
  appendFor(orch.paths, orch.status, { type: "orchestration_resumed", relaunch: gone });
  ctx.out(`${sentence(stagesList(gone))}: ${gone.length === 1 ? "its session is" : "their sessions are"} gone; the monitor relaunches ${gone.length === 1 ? "it" : "them"} (not counted against ${gone.length === 1 ? "its" : "their"} attempts).`);
}

/** The stages of the run whose review by the monitor has an answer that ends their session's work (`skip`, `merged`), saved while no monitor ran. */
function answersThatEnd(orch: LoadedOrchestration): Map<string, { file: string; word: string }> {
  const out = new Map<string, { file: string; word: string }>();
  for (const file of listReviewFiles(orch.paths.home)) {
    try {
      const { meta, complete, answers } = readReview(file);
      // Answered, not yet resolved, the monitor's own about a stage of this run.
      if (!complete || !meta || meta.resolved || meta.orch_dir !== orch.paths.dir || meta.stage === undefined || meta.key === undefined) continue;
      const parsed = parseAnswer(answers.at(-1)?.answer ?? "", actionsFor(meta.key, true, meta.about));
      if (parsed.ok && (parsed.action.word === "skip" || parsed.action.word === "merged")) out.set(meta.stage, { file, word: parsed.action.word });
    } catch {
      // gone or unreadable since it was listed: nothing to say of it
    }
  }
  return out;
}

/**
 * What `resume` lifts: a raised budget (`--budget` for the run, `--stage-budget` for every stage),
 * and an open circuit breaker (resuming is the person saying they looked). A budget must be above
 * what was already spent, or it would be crossed again at once.
 */
export function liftHolds(ctx: Pick<Ctx, "out">, orch: Pick<LoadedOrchestration, "paths" | "status">, opts: { budget?: number; stageBudget?: number }): void {
  const status = orch.status;
  const append = (body: EventBody) => appendFor(orch.paths, status, body);
  if (opts.budget !== undefined) {
    const total = spent(status);
    if (opts.budget <= total) throw new UserError(`--budget ${opts.budget}: the run has already spent ${usd(total)}; give a budget above that.`);
  }
  // Only a stage still running is held back by its budget: a finished one has nothing to resume.
  const over = Object.values(status.stages).filter((s) => s.over_budget && (s.status === "in_progress" || s.status === "merging")).map((s) => s.usage?.usd ?? 0);
  if (opts.stageBudget !== undefined && over.length > 0 && opts.stageBudget <= Math.max(...over)) {
    throw new UserError(`--stage-budget ${opts.stageBudget}: a stage over its budget has already spent ${usd(Math.max(...over))}; give a budget above that.`);
  }
  if (opts.budget !== undefined) {
    append({ type: "budget_raised", scope: "run", limit_usd: opts.budget });
    ctx.out(`The run's budget is now ${usd(opts.budget)} (spent so far: ${usd(spent(status))}).`);
  } else if (status.hold?.kind === "budget") {
    ctx.out(`${sentence(status.hold.reason)}: nothing new is launched. To go on: autorun resume ${status.plan_name} --budget <dollars>`);
  }
  if (opts.stageBudget !== undefined) {
    append({ type: "budget_raised", scope: "stage", limit_usd: opts.stageBudget });
    ctx.out(`Every stage may now spend ${usd(opts.stageBudget)}.`);
  } else if (over.length > 0) {
    ctx.out(`${over.length === 1 ? "A stage is" : `${over.length} stages are`} over budget and not nudged. To let ${over.length === 1 ? "it" : "them"} go on: autorun resume ${status.plan_name} --stage-budget <dollars>`);
  }
  if (status.hold?.kind === "circuit") {
    append({ type: "circuit_closed", reason: "autorun resume" });
    ctx.out(`Circuit breaker closed (${status.hold.reason}): launches resume.`);
  }
  // A person resuming goes on now; an agent that still meets the limit pauses the run again.
  if (status.paused_until) {
    append({ type: "rate_limit_cleared" });
    ctx.out(`The pause for a usage limit (until ${status.paused_until}) is lifted: launches and nudges resume; if the limit still holds, the run pauses again when an agent meets it.`);
  }
}

export async function runStop(ctx: Ctx, plan: string, opts: { sessions?: boolean }): Promise<number> {
  const orch = resolveOrchestration(ctx, plan);
  const { monitorPid, ended: killed, unreached } = await stopRun(orch, opts, ctx.clock);
  ctx.out(monitorPid !== undefined ? `Stopped the monitor (pid ${monitorPid}).` : "No monitor was running.");
  if (opts.sessions) ctx.out(killed.length ? `Ended the sessions of ${stagesList(killed)}; worktrees and branches are kept.` : "No stage sessions were running.");
  else {
    // Their agents work on with nobody watching: said, with how to end them too.
    const running = Object.entries(orch.status.stages).filter(([, s]) => (s.status === "in_progress" || s.status === "merging") && !s.relaunch_free).map(([id]) => id);
    const one = running.length === 1;
    if (running.length > 0) ctx.out(`The session${one ? "" : "s"} of ${stagesList(running)} ${one ? "keeps" : "keep"} running, unwatched; to end ${one ? "it" : "them"} too: autorun stop ${orch.status.plan_name} --sessions`);
  }
  // A session on a host that did not answer may still be running there: said as an error, with how
  // to end it, and the exit status says the stop is not complete.
  for (const line of unreached) ctx.err(`autorun: could not end the sessions there: ${line}; they may still be running. Once the host answers, run: autorun stop ${orch.status.plan_name} --sessions`);
  // The next step as it is: a finished run has nothing to continue.
  const name = orch.status.plan_name;
  if (orch.status.status === "completed") ctx.out(`${name} is complete; there is nothing to continue (autorun report ${name}).`);
  else if (orch.status.status === "failed") {
    const failed = Object.entries(orch.status.stages).filter(([, s]) => s.status === "failed").map(([id]) => id);
    ctx.out(`${name} ended with ${stagesList(failed) || "stages"} failed; to run ${failed.length === 1 ? "it" : "them"} again: autorun retry ${name} ${failed.join(" ")}`);
  } else ctx.out(`Continue later with: autorun resume ${name}`);
  return unreached.length > 0 ? 1 : 0;
}

function liveSession(orch: LoadedOrchestration, id: string): string {
  const stage = orch.status.stages[id]!;
  if (stage.status !== "in_progress" && stage.status !== "merging") {
    const name = orch.status.plan_name;
    const next =
      stage.status === "failed"
        ? `to run it again: autorun retry ${name} ${id}`
        : stage.status === "completed"
          ? "its work is finished"
          : `it starts once what it depends on has merged (autorun status ${name})`;
    throw new UserError(`stage ${id} is ${stageState(stage)}, so it has no session to use; ${next}.`);
  }
  return stage.session;
}

export async function runAttach(ctx: Ctx, plan: string, stageArg: string): Promise<number> {
  const orch = resolveOrchestration(ctx, plan);
  const id = requireStage(orch, stageArg);
  const session = liveSession(orch, id);
  const host = orch.status.stages[id]!.host;
  if (host !== undefined) return (await import("./attach-remote.js")).attachOnHost(ctx, orch, { id, host, session });
  const tmux = createTmux(orch.config.tmuxSocket);
  if (!(await tmux.hasSession(session))) throw new RuntimeError(`stage ${id}'s session ${session} is gone; \`autorun resume ${orch.status.plan_name}\` relaunches it.`);
  const here = onOurServer(orch.config.tmuxSocket, ctx.env.TMUX);
  if (!here && !(ctx.isTTY && process.stdin.isTTY)) {
    throw new UserError(`attach needs a terminal; from a script, read stage ${id}'s screen with: tmux${orch.config.tmuxSocket ? ` -L ${orch.config.tmuxSocket}` : ""} capture-pane -p -t =${session}:`);
  }
  if (ctx.env.TMUX && !here) ctx.err(`autorun: this shell is in a session of another tmux server, so stage ${id}'s session opens inside it (nested): to leave it, press the prefix key twice, then d.`);
  return tmux.attach(session, here);
}

export async function runLogs(ctx: Ctx, plan: string | undefined, opts: { follow?: boolean }): Promise<number> {
  const orch = resolveOrchestration(ctx, plan);
  if (orch.guessed) ctx.err(`autorun: ${orch.guessed}`);
  const file = orch.paths.monitorLog;
  if (!existsSync(file)) {
    if (!opts.follow) {
      ctx.out(`No monitor log yet at ${file}.`);
      return 0;
    }
  }
  let offset = 0;
  let pending = "";
  // Reads to the end of the file every time (not to a size seen earlier), and prints whole lines.
  const printNew = () => {
    if (!existsSync(file)) return;
    if (statSync(file).size < offset) offset = 0;
    const fd = openSync(file, "r");
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (let n = readSync(fd, buf, 0, buf.length, offset); n > 0; n = readSync(fd, buf, 0, buf.length, offset)) {
        offset += n;
        pending += buf.toString("utf8", 0, n);
      }
    } finally {
      closeSync(fd);
    }
    const end = pending.lastIndexOf("\n");
    if (end < 0) return;
    for (const line of pending.slice(0, end).split("\n")) ctx.out(line);
    pending = pending.slice(end + 1);
  };
  printNew();
  if (!opts.follow) {
    if (pending) ctx.out(pending);
    return 0;
  }
  // A run that is over, its monitor gone, writes nothing more: following it ends (a stopped run
  // may be resumed, so it is followed on).
  const over = () => {
    const now = loadStatus(orch.paths);
    return (now?.status === "completed" || now?.status === "failed") && runningMonitor(orch.paths) === undefined;
  };
  // Read once more first: the monitor's last lines may have come after the last read, before it went.
  const said = () => {
    printNew();
    if (pending) ctx.out(pending);
    ctx.out(`(${orch.status.plan_name} is over and its monitor has stopped: nothing more will be written)`);
  };
  if (over()) {
    said();
    return 0;
  }
  let done: () => void = () => undefined;
  const ended = new Promise<void>((resolveWait) => (done = resolveWait));
  let finished = false;
  const finishIfOver = () => {
    if (finished || !over()) return;
    finished = true;
    said();
    done();
  };
  const look = () => {
    printNew();
    finishIfOver();
  };
  // The watcher can fold two quick writes into one event: look once more shortly after each.
  const onChange = () => {
    printNew();
    setTimeout(look, 100).unref();
  };
  const watcher = watch(file, { ignoreInitial: true, persistent: true });
  // What was written while the watcher got ready has no event of its own: read once it is. A look
  // each second besides, for an event the watcher missed (a loaded machine): a stat when nothing changed.
  watcher.on("add", onChange).on("change", onChange).on("ready", onChange);
  const every = setInterval(look, 1_000);
  onStopSignal(["SIGINT", "SIGTERM"], () => done());
  await ended;
  clearInterval(every);
  await watcher.close();
  return 0;
}

export async function runNudge(ctx: Ctx, plan: string, stageArg: string, message: string | undefined): Promise<number> {
  const orch = resolveOrchestration(ctx, plan);
  const id = requireStage(orch, stageArg);
  liveSession(orch, id); // refuses a stage with no running session
  const text = message ?? orch.config.nudgeMessage;
  const result = await nudgeStage(orch, id, text, ctx.clock);
  if (!result.sent) throw new RuntimeError(`did not type into stage ${id}: ${result.evidence}${nudgeInstead(orch.status.plan_name, id, result.screen)}`);
  ctx.out(result.verified ? `Sent to stage ${id} and verified: ${result.evidence}` : `Sent to stage ${id} but not verified: ${result.evidence}`);
  return result.verified ? 0 : 1;
}

/** What to do instead, when the pane showed a screen a nudge does not type into. */
function nudgeInstead(name: string, id: string, screen: NudgeResult["screen"]): string {
  if (screen === "busy") return `; the agent is working: nudge it once it waits at its prompt (autorun status ${name} shows when)`;
  if (screen === "permission") return `; answer the question in the stage's session (autorun attach ${name} ${id}), or give such commands an answer with permissionAnswers in autorun.config.json`;
  if (screen === "login" || screen === "trust") return `; answer it in the stage's session: autorun attach ${name} ${id}`;
  return "";
}

/**
 * A stage that has not run has nothing to merge: merging it would bring it in ahead of the stages
 * it waits for, and record it as started with no agent. Refused, with what it waits for.
 */
function refuseUnstarted(orch: LoadedOrchestration, id: string): void {
  const { stages, plan_name: name } = orch.status;
  const stage = stages[id]!;
  if (stage.status !== "pending" && stage.status !== "blocked") return;
  const failed = stage.depends_on.filter((d) => stages[d]?.status === "failed" || stages[d]?.status === "blocked");
  const waiting = stage.depends_on.filter((d) => stages[d]?.status !== "completed");
  if (stage.status === "blocked" || failed.length > 0) {
    const by = failed.length > 0 ? `it is blocked by ${stagesList(failed)}, which ${failed.length === 1 ? "has" : "have"} not succeeded` : "it is blocked";
    const retry = failed.length > 0 ? `run ${failed.length === 1 ? "it" : "them"} again (autorun retry ${name} ${failed.join(" ")}), or ` : "";
    throw new UserError(`stage ${id} has not run: ${by}, so there is nothing of it to merge; ${retry}let what waits for stage ${id} go on without it (autorun skip ${name} ${id})`);
  }
  const why = waiting.length > 0 ? `it waits for ${stagesList(waiting)}` : "the monitor launches it when a slot is free";
  // Merged by the monitor: by none while none runs.
  const by = runningMonitor(orch.paths) !== undefined ? "autorun merges it by itself" : `its monitor merges it, which is not running: autorun resume ${name} starts it`;
  throw new UserError(`stage ${id} has not started yet (${why}), so there is nothing of it to merge; once it has run, ${by}`);
}

export async function runMerge(ctx: Ctx, plan: string, stageArg: string, opts: { dryRun?: boolean } = {}): Promise<number> {
  const orch = resolveOrchestration(ctx, plan);
  const id = requireStage(orch, stageArg);
  refuseUnstarted(orch, id);
  if (opts.dryRun) {
    for (const line of await describeMerge({ paths: orch.paths, config: orch.config }, id)) ctx.out(line);
    ctx.out("Dry run: nothing was merged, moved or sent.");
    return 0;
  }
  const tmux = createTmux(orch.config.tmuxSocket);
  const log = monitorLogger(orch.paths, { out: ctx.out, stamped: false });
  const result = await mergeStage({ tmux, paths: orch.paths, config: orch.config, log, byPerson: true }, id);
  if (result.kind === "sent_back") appendFor(orch.paths, orch.status, sendBackMessage(id, result));
  await rebuildStatus(orch.paths);
  switch (result.kind) {
    case "merged":
      await result.cleanup();
      ctx.out(`Stage ${id} merged into ${orch.status.base_branch} (${result.commit.slice(0, 12)}).`);
      return 0;
    case "skipped":
      ctx.out(`Stage ${id}: nothing to do (${result.detail}).`);
      return 0;
    case "sent_back":
      throw new RuntimeError(`stage ${id} was not merged: ${result.detail.split("\n")[0]}; the reason is queued for its agent (the monitor delivers it at its next idle moment).`);
    default:
      throw new RuntimeError(`stage ${id} was not merged: ${result.detail.split("\n")[0]}`);
  }
}
