/** `autorun review new|list|open|wait|answers`: questions for a person, answered in their editor. */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import { watch } from "chokidar";
import { createReviewFile, parseReview, readReview, reviewEntries, type ParsedReview, type ReviewEntry, type ReviewQuestion } from "../state/review.js";
import { loadStatus } from "../state/status.js";
import { appendFor, openOrchestrationDir } from "../state/orchestration.js";
import { findExecutable, runInteractive } from "../adapters/process.js";
import { parseAgentCmd } from "../adapters/agent.js";
import { RuntimeError, UserError } from "../errors.js";
import type { Ctx } from "./ctx.js";
import { runningMonitor } from "../monitor/monitor-pid.js";
import { actionsFor, parseAnswer } from "../core/review-actions.js";
import { ownIdentity, stageIdentity, type StageIdentity } from "./agent-identity.js";

/**
 * The orchestration and stage a review is about, checked as `autorun event` checks them: from a
 * stage's session only that stage (whatever the flags, the variables or the review file say), and
 * an orchestration that exists with the stage in its plan. None named: a review of no run.
 */
function reviewIdentity(ctx: Ctx, named: { orchDir?: string; stage?: string }): StageIdentity | undefined {
  const { orchDir } = ownIdentity(ctx, named);
  return orchDir ? stageIdentity(ctx, named, false) : undefined;
}

function recordEvent(id: StageIdentity | undefined, body: { type: "review_requested"; file: string; title: string } | { type: "review_answered"; file: string }): void {
  if (id) appendFor(id.paths, id, { ...body, ...(id.stage !== undefined ? { stage: id.stage } : {}) });
}

function parseQuestion(q: string, i: number): ReviewQuestion {
  const m = /^([^:?\n]{1,60}):\s+(.+)$/s.exec(q.trim());
  return m ? { topic: m[1]!.trim(), question: m[2]!.trim() } : { topic: `Question ${i + 1}`, question: q.trim() };
}

export async function runReviewNew(ctx: Ctx, f: { title: string; context: string; question?: string[]; stage?: string; orchDir?: string }): Promise<number> {
  if (!f.title.trim()) throw new UserError("--title must not be empty.");
  const questions = (f.question ?? []).filter((q) => q.trim() !== "").map(parseQuestion);
  if (questions.length === 0) throw new UserError('give at least one --question "…".');
  // From a stage's session, only about that stage (whatever the flags and variables say).
  const id = reviewIdentity(ctx, f);
  const orchDir = id?.paths.dir;
  const stage = id?.stage;
  const planName = orchDir ? basename(orchDir) : undefined;
  // A run's review goes to that run's home, where its monitor reads answers: not wherever an
  // AUTORUN_HOME in the caller's environment points (this runs outside the Bash sandbox).
  const file = await createReviewFile(id ? id.paths.home : ctx.home, { title: f.title.trim(), context: f.context, questions }, {
    ...(stage ? { stage } : {}),
    ...(orchDir ? { orch_dir: orchDir } : {}),
    ...(planName ? { plan_name: planName } : {}),
  });
  recordEvent(id, { type: "review_requested", file, title: f.title.trim() });
  ctx.out(file);
  return 0;
}

export function runReviewList(ctx: Ctx, f: { json?: boolean; all?: boolean }): number {
  const all = reviewEntries(ctx.home);
  if (f.json) {
    ctx.out(JSON.stringify(all, null, 2));
    return 0;
  }
  if (all.length === 0) {
    ctx.out("No review files.");
    return 0;
  }
  // A resolved review says what a run did while it runs; once the run is over it is history.
  const running = new Map<string, boolean>();
  const ofARunningRun = (e: ReviewEntry) => {
    if (e.orch_dir === null) return false;
    if (!running.has(e.orch_dir)) {
      const orch = openOrchestrationDir(e.orch_dir);
      running.set(e.orch_dir, orch !== undefined && loadStatus(orch.paths)?.status === "running");
    }
    return running.get(e.orch_dir)!;
  };
  const shown = f.all ? all : all.filter((e) => e.state !== "resolved" || ofARunningRun(e));
  const hidden = all.length - shown.length;
  if (shown.length === 0) ctx.out("No open or answered review files.");
  for (const e of [...shown.filter((x) => x.state === "open"), ...shown.filter((x) => x.state !== "open")]) {
    const where = e.stage ? `${e.plan_name ?? "?"} stage ${e.stage}` : (e.plan_name ?? "");
    // A run's own hold (the circuit breaker, its budget) blocks every launch of that run.
    const open = e.stage ? `blocks ${where}` : e.plan_name && (e.key === "circuit" || e.key === "budget") ? `holds ${e.plan_name}'s launches` : e.plan_name ? `about ${e.plan_name}` : "blocks nothing";
    const blocks = e.state === "resolved" ? `resolved: ${e.resolved_reason ?? "its condition cleared"}` : e.state === "answered" ? `to be read by ${e.key ? "the monitor" : "its agent"}${where ? ` (${where})` : ""}` : open;
    ctx.out(`${e.state.padEnd(8)}  ${e.title.padEnd(50)}  ${blocks}\n          ${e.file}`);
  }
  if (hidden > 0) ctx.out(`(${hidden} resolved review${hidden === 1 ? "" : "s"} of runs that are over not shown: autorun review list --all)`);
  return 0;
}

export async function runReviewOpen(ctx: Ctx, file: string | undefined): Promise<number> {
  let target = file ? namedReview(ctx, file).target : reviewEntries(ctx.home).find((e) => e.state === "open")?.file;
  if (!target) {
    ctx.out("No unanswered review files.");
    return 0;
  }
  const editor = ctx.env.VISUAL || ctx.env.EDITOR;
  if (!editor) throw new UserError(`set $VISUAL or $EDITOR to open ${target} (e.g. export EDITOR=vim), or open it yourself.`);
  target = resolve(target);
  let argv: string[];
  try {
    argv = parseAgentCmd(editor);
  } catch (error) {
    throw new UserError(`$${ctx.env.VISUAL ? "VISUAL" : "EDITOR"}: ${(error as Error).message}; set it to your editor's command (e.g. export EDITOR=vim).`);
  }
  if (!findExecutable(argv[0]!, ctx.env.PATH)) {
    throw new UserError(`the editor "${argv[0]}" (from $${ctx.env.VISUAL ? "VISUAL" : "EDITOR"}) is not installed or not on PATH; set $VISUAL or $EDITOR to an editor you have, or open ${target} yourself.`);
  }
  const before = textOf(target);
  const code = await runInteractive([...argv, target]);
  if (code !== 0) throw new RuntimeError(`${argv[0]} exited with ${code}; ${target} is as the editor left it.`);
  // Say what the file says now, so a person knows whether the stage can go on.
  const after = textOf(target);
  let saved: ParsedReview | undefined;
  try {
    saved = after === undefined ? undefined : parseReview(after);
  } catch {
    saved = undefined;
  }
  const unanswered = saved ? saved.answers.filter((a) => a.answer.trim() === "").length : undefined;
  // An editor closed without saving: said so, not "Saved".
  const said = after === before ? `${target} was not changed` : `Saved ${target}`;
  if (saved?.damage) ctx.out(`${said}, but ${saved.damage.join("; ")}. Then: autorun review open ${target}`);
  else if (saved?.complete) ctx.out(`${said}: ${whatFollows(saved)}`);
  else if (unanswered !== undefined && unanswered > 0) ctx.out(`${said}: ${unanswered} of ${saved!.answers.length} question${saved!.answers.length === 1 ? "" : "s"} still unanswered; finish with: autorun review open ${target}`);
  else ctx.out(`${target} is not a complete review yet (a question or the last line is missing); the stage waits until it is.`);
  return 0;
}

/** A file's text, or undefined when it cannot be read (gone). */
function textOf(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** What an answered review leads to, said only as far as it is true. */
function whatFollows(r: ParsedReview): string {
  const meta = r.meta;
  if (meta?.resolved) return `every question is answered; autorun had already resolved it (${meta.resolved.reason}).`;
  if (meta?.key === undefined) {
    return meta?.stage ? `every question is answered; stage ${meta.stage}'s agent gets the answers if it waits on this review (autorun review wait).` : "every question is answered.";
  }
  const parsed = parseAnswer(r.answers[r.answers.length - 1]?.answer ?? "", actionsFor(meta.key, meta.stage !== undefined, meta.about));
  if (!parsed.ok) return `${parsed.why}, so the monitor will do nothing with it; answer with one of those words.`;
  const orch = meta.orch_dir ? openOrchestrationDir(meta.orch_dir) : undefined;
  const running = orch ? runningMonitor(orch.paths) !== undefined : false;
  const then = `\`${parsed.action.word}\`: ${parsed.action.does}`;
  return running
    ? `the monitor does ${then} at its next pass, then marks the review resolved with what it did (autorun review list).`
    : `no monitor is running for ${meta.plan_name ?? "its run"}, so nothing happens yet; \`autorun resume ${meta.plan_name ?? "<plan>"}\` starts one, which does ${then}.`;
}

/**
 * The review file a person or agent named, read: one that does not exist, is a directory or holds
 * no question (a plan, say) is refused with what to do instead, before any editor or wait.
 */
function namedReview(ctx: Ctx, file: string): { target: string; review: ParsedReview } {
  const target = resolve(ctx.cwd, file);
  if (!existsSync(target)) throw new UserError(`no review file at ${target}; see autorun review list.`);
  if (statSync(target).isDirectory()) throw new UserError(`${target} is a directory, not a review file; name one of the files autorun review list shows.`);
  const review = readReview(target);
  if (!review.meta && review.answers.length === 0) throw new UserError(`${target} is not a review file (no questions to answer in it); see autorun review list.`);
  return { target, review };
}

export function runReviewAnswers(ctx: Ctx, file: string): number {
  const { target, review: r } = namedReview(ctx, file);
  ctx.out(JSON.stringify({ file: target, title: r.title, complete: r.complete, answers: r.answers }, null, 2));
  return 0;
}

/** Blocks until the file holds every answer, read twice the same (a save in progress is not an answer). */
export async function runReviewWait(ctx: Ctx, file: string, f: { timeout?: number }): Promise<number> {
  const { target, review } = namedReview(ctx, file);
  // Whose review it is, checked before waiting: a stage records an answer only to its own.
  const meta = review.meta;
  const id = reviewIdentity(ctx, { ...(meta?.orch_dir ? { orchDir: meta.orch_dir } : {}), ...(meta?.stage ? { stage: meta.stage } : {}) });
  const settled = async (): Promise<ParsedReview | undefined> => {
    try {
      const first = readReview(target);
      if (!first.complete) return undefined;
      await new Promise((r) => setTimeout(r, 150));
      const second = readReview(target);
      return second.complete && JSON.stringify(second.answers) === JSON.stringify(first.answers) ? second : undefined;
    } catch {
      return undefined;
    }
  };
  const answered = await new Promise<ParsedReview | undefined>((resolveWait) => {
    let finished = false;
    // chokidar reports a change only once the file's size has held still (a save in progress,
    // truncate-then-write, is not a save); the completeness check then does the rest.
    const watcher = watch(target, { ignoreInitial: true, persistent: true, awaitWriteFinish: { stabilityThreshold: 200, pollInterval: 50 } });
    const finish = (r: ParsedReview | undefined) => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      void watcher.close().then(() => resolveWait(r));
    };
    // Each save that does not answer everything is said on stderr (stdout is the answers' JSON).
    const progress = (first: boolean) => {
      try {
        const r = readReview(target);
        const total = r.meta?.questions ?? r.answers.length;
        const done = r.answers.filter((a) => a.answer !== "").length;
        ctx.err(first ? `waiting for answers in ${target}: ${done} of ${total} answered` : `still waiting: ${done} of ${total} answered in ${target}`);
        for (const d of r.damage ?? []) ctx.err(`  ${d}`);
      } catch {
        ctx.err(`still waiting: ${target} cannot be read yet`);
      }
    };
    const check = (first = false) => void settled().then((r) => (r ? finish(r) : finished || progress(first)));
    const timer = f.timeout ? setTimeout(() => finish(undefined), f.timeout * 1000) : undefined;
    watcher.on("change", () => check()).on("add", () => check()).on("ready", () => check(true));
  });
  if (!answered) {
    ctx.err(`autorun: timed out after ${f.timeout}s waiting for answers in ${target}; the review is still open.`);
    return 1;
  }
  recordEvent(id, { type: "review_answered", file: target });
  ctx.out(JSON.stringify({ file: target, title: answered.title, answers: answered.answers }, null, 2));
  return 0;
}
