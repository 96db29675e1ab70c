/**
 * What needs attention in running stages, from their screens and hook events: stalls (nudged,
 * verified, capped), permission/login/trust dialogs (never answered blindly), usage limits (the
 * whole run pauses). Part of the monitor's pass; it acts through the controller's host interface.
 */
import type { AutorunEvent, EventOf, Status } from "../types/schemas.js";
import { hookAnswer } from "../core/permissions.js";
import type { MonitorDeps, ReviewDesk, RunView } from "./parts.js";
import { memoryOf } from "./parts.js";
import { screenBody, withoutPastLimits } from "./pane.js";
import { answerDialog, dialogSubject, type DialogMemory } from "./dialog-answer.js";
import { parseBashDialog, type PendingCall } from "./dialog.js";
import { isDialogAttention } from "../types/constants.js";
import { stagesList } from "../core/printable.js";
import { verifiedNudge, type NudgeResult } from "./nudge.js";
import { budgetSpent } from "./controls.js";
import type { StopFailures } from "./failures.js";
import type { Stalls } from "./stall.js";
import { startRateLimit } from "./pause.js";
import { cutAtWord } from "../core/text-width.js";

/** What attention is given: the run, the parts whose memory it reads, and the reviews it files. */
export interface AttentionParts {
  view: Pick<RunView, "deps" | "status" | "inProgress" | "ingest" | "emit">;
  stalls: Stalls;
  failures: Pick<StopFailures, "failed" | "recovered">;
  reviews: Pick<ReviewDesk, "file" | "filed" | "claim" | "aboutOf" | "replace">;
  /** The transcript a stage's hooks named last. */
  transcriptOf(id: string): string | undefined;
  /** The stage waits for its merge (the person's checkout, or a person asked): not a stall. */
  waitsForMerge(id: string): boolean;
}

/** Attention's own memory of a stage: when its screen was last read, and its permission dialogs. */
interface ScreenMemory extends DialogMemory {
  lookedAt?: number;
}

/**
 * How often a screen is read with nothing pushed about it: a quarter of `stallSeconds` (a silent
 * stall is seen within 1¼ of it), at most 15 s, never more often than the monitor's tick.
 */
export function screenInterval(config: Pick<MonitorDeps["config"], "stallSeconds" | "pollSeconds">): number {
  return Math.max(config.pollSeconds * 1000, Math.min((config.stallSeconds * 1000) / 4, 15_000));
}

export class Attention {
  /** Times a pass is already asked for (screens changing at once need one wake, not one each). */
  private readonly wakes = new Set<number>();

  private wakeAt(at: number): void {
    // One asked for at that time or a little after serves (never one before: the stall would not be due yet).
    if (!this.deps.wake || [...this.wakes].some((w) => w >= at && w - at < 200)) return;
    this.wakes.add(at);
    this.deps.wake(Math.max(0, at - this.deps.clock.now()));
    // Forget it once it is due (by then the pass it asked for has run).
    setTimeout(() => this.wakes.delete(at), Math.max(0, at - this.deps.clock.now()) + 1000).unref();
  }

  /** The nudge being typed into each stage's pane (a merge's message and a stall nudge must not interleave). */
  private readonly typing = new Map<string, Promise<boolean>>();

  private readonly memory = new Map<string, ScreenMemory>();

  constructor(private readonly parts: AttentionParts) {}

  private get deps(): MonitorDeps {
    return this.parts.view.deps;
  }

  private get status(): Status {
    return this.parts.view.status;
  }

  private mem(id: string): ScreenMemory {
    return memoryOf(this.memory, id, () => ({}));
  }

  private inProgress(): [string, Status["stages"][string]][] {
    return this.parts.view.inProgress();
  }

  /** The usage limit the run paused for (its banner, and the stages that waited), until it clears. */
  private limit: { raw: string; waiting: string[] } | undefined;

  /** Banners of limits already over (their window passed, or a person resumed): still on a screen, they pause nothing. */
  private readonly pastLimits = new Set<string>();

  /** Every limit line read on a screen since the last limit ended: past too once this one ends. */
  private readonly limitLines = new Set<string>();

  /**
   * A pause and its end. When it ends (its window over, or `autorun resume`), the stages that
   * waited are nudged, each beside the pass after whatever is being done with it at this moment.
   */
  observe(event: AutorunEvent, replaying: boolean): void {
    if (event.type === "permission_hook_answered" && !replaying) this.hookAnswered(event);
    if (event.type === "rate_limited") {
      this.limit = { raw: event.raw, waiting: this.limited() };
    } else if (event.type === "rate_limit_cleared" && this.limit) {
      const { raw, waiting } = this.limit;
      this.limit = undefined;
      for (const line of [raw, ...this.limitLines]) this.pastLimits.add(line);
      this.limitLines.clear();
      if (replaying) return;
      for (const id of waiting.filter((w) => this.status.stages[w]?.status === "in_progress")) {
        this.beside(id, "nudging it after the usage limit", () => this.nudge(id, "the usage limit is over", this.deps.config.nudgeMessage, { waitTurn: true }));
      }
    }
  }

  /**
   * A stage's PermissionRequest hook says it answered a Bash call from permissionAnswers. The
   * event comes from the agent's side: the log confirms it only when this run's `permissionAnswers`
   * gives that very answer to that command.
   */
  private hookAnswered(e: EventOf<"permission_hook_answered">): void {
    const given = hookAnswer(this.deps.config.permissionAnswers, e.command);
    const command = JSON.stringify(cutAtWord(e.command, 200));
    if (given?.key === e.key && given.answer === e.answer) {
      this.mem(e.stage).hookAnswered = { command: e.command, at: this.deps.clock.now() };
      this.deps.log(`stage ${e.stage}: answered "${e.answer}" to the permission request for ${command} through its PermissionRequest hook (permissionAnswers ${JSON.stringify(e.key)})`);
    } else this.deps.log(`stage ${e.stage}: a permission answer for ${command} was reported that permissionAnswers does not give; nothing follows from it`);
  }

  /** The stages in progress that wait for the usage limit to end. */
  private limited(): string[] {
    return this.inProgress().filter(([, s]) => s.attention === "rate_limited").map(([id]) => id);
  }

  endRateLimit(): void {
    const waiting = this.limited();
    this.parts.view.emit({ type: "rate_limit_cleared" });
    this.deps.log(`usage limit window over; resuming ${waiting.length ? stagesList(waiting) : "launches"}`);
  }

  /**
   * Runs `work` on stage `id` beside the monitor's passes, after what is already running for it
   * (when nothing is, it starts now: up to its first await, it runs within the pass); the stage
   * counts as being judged (not looked at again, the run not over) until it is done.
   */
  private beside(id: string, what: string, work: () => Promise<unknown>): void {
    const prior = this.judging.get(id);
    const job: Promise<void> = (prior ? prior.then(work) : work())
      .then(
        () => undefined,
        (error: Error) => this.deps.log(`stage ${id}: ${what} failed: ${error.message}`),
      )
      .finally(() => {
        if (this.judging.get(id) === job) this.judging.delete(id);
      });
    this.judging.set(id, job);
  }

  /** Screens being judged and nudges being typed, by stage: they run beside the monitor's passes. */
  private readonly judging = new Map<string, Promise<void>>();

  /**
   * Each running stage's screen, read in one tmux call and judged on its own. What a screen says
   * (a dialog, a usage limit) is decided within the pass; what takes time (a second look, typing a
   * nudge and confirming it, answering a dialog) runs beside the passes, so a nudge to one stage
   * never delays another stage's nudge, a merge or a launch. A stage is judged once at a time.
   */
  async checkScreens(paused = false): Promise<void> {
    const now = this.deps.clock.now();
    const every = screenInterval(this.deps.config);
    const looked = this.inProgress().filter(([id, stage]) => {
      const m = this.mem(id);
      const s = this.parts.stalls.of(id);
      if (this.judging.has(id)) return false;
      // Done and waiting for its merge (or for the person's checkout to clear): not a stall.
      if (stage.implement_done || stage.attention === "review" || this.parts.waitsForMerge(id)) return false;
      // A screen is read when a hook says the turn ended, a message waits, a dialog is up (or was
      // just answered), a screen-path stall falls due, or the last look is `every` old: the hooks
      // push what matters, the screen confirms it.
      const stallDue = s.lastScreen !== undefined && now - s.screenSince >= this.deps.config.stallSeconds * 1000;
      // An event restarted the stall timer after the screen was last read (a phase reported, a
      // prompt sent): what the agent shows after it is read now, so a silent stall is timed from
      // about when it began, not from a look up to `every` later.
      const restarted = s.screenSince > Math.max(m.lookedAt ?? -Infinity, s.bodySeenAt ?? -Infinity);
      return s.idleHint || stage.pending_messages.length > 0 || stage.attention !== null || m.answered !== undefined || stallDue || restarted || m.lookedAt === undefined || now - m.lookedAt >= every;
    });
    for (const [id] of looked) this.mem(id).lookedAt = now;
    const screens = await this.deps.tmux.capturePanes(looked.map(([, s]) => s.session));
    // What a job does is written as events, which bring the next pass.
    for (const [id, stage] of looked) this.beside(id, "checking its screen", () => this.checkScreen(id, paused, screens.get(stage.session)));
  }

  /** A screen is being judged or a nudge typed (the run is not over while one is). */
  get busy(): boolean {
    return this.judging.size > 0;
  }

  /** Waits for the screens being judged and the nudges being typed (before exiting, and in tests). */
  async settle(): Promise<void> {
    while (this.judging.size > 0) await Promise.all([...this.judging.values()]);
  }

  private async checkScreen(id: string, paused: boolean, screen: string | undefined): Promise<void> {
    const { config, clock, tmux } = this.deps;
    const stage = this.status.stages[id]!;
    const m = this.mem(id);
    const stalls = this.parts.stalls;
    if (screen === undefined) return;
    // The lines of a limit that is over stay on the screen until the agent's output pushes them
    // off: the screen is read as if they were gone, so they neither pause the run again nor hide a stall.
    const state = withoutPastLimits(screen, this.pastLimits, this.limitLines);
    const now = clock.now();
    // Only the agent's output counts as activity, not hints that come and go below its input box.
    const body = screenBody(screen);
    if (stalls.sawScreen(id, body, now)) {
      // Look again right when an unchanged screen would be a stall, not at the next regular look.
      if (!paused) this.wakeAt(now + config.stallSeconds * 1000 + 10);
    }
    if (state.kind === "rate_limited") {
      if (this.status.paused_until === null) startRateLimit(this.parts.view, state.raw);
      return;
    }
    if (state.kind === "permission" || state.kind === "login" || state.kind === "trust" || state.kind === "question") {
      await this.handleBlockingScreen(id, state.kind, state.kind === "permission" || state.kind === "question" ? state.question : state.raw, screen);
      return;
    }
    // After a turn ended on an API error, only the agent at work proves it works again: a screen
    // that looks idle (a newer Claude Code draws its error above an empty input box) clears nothing.
    if (this.parts.failures.failed(id)) {
      if (state.kind !== "busy") return;
      this.parts.failures.recovered(id);
    }
    // A dialog is over only when the screen shows the agent again; an unreadable screen proves nothing.
    if (state.kind === "idle" || state.kind === "busy") {
      m.answered = undefined;
      m.declined = undefined;
      m.subject = undefined; // the same dialog drawn again is another call's
    }
    if (isDialogAttention(stage.attention) && (state.kind === "idle" || state.kind === "busy")) {
      // Its review is resolved at the next pass, and the same dialog may be asked about again.
      this.parts.view.emit({ type: "stage_attention", stage: id, attention: null, reason: "dialog closed" });
    }
    // Past a budget nothing more is typed: no nudge, no message (each would start a paid turn).
    if (state.kind === "busy" || paused || budgetSpent(this.status, stage)) return;
    const pending = stage.pending_messages[0];
    // When a hook said the turn ended, the stall is timed from that (the hook path).
    const stalled = stalls.stalled(id, state.kind === "idle", now);
    const hinted = stalls.of(id).idleHint;
    // A queued message goes at the next idle moment; a bare nudge only after stallSeconds.
    if (!(pending && (state.kind === "idle" || hinted)) && stalled === undefined) {
      // An idle screen whose timer an event restarted after the screen last changed: looked at
      // again when that timer falls due.
      if (state.kind === "idle" && !hinted) this.wakeAt(stalls.of(id).screenSince + config.stallSeconds * 1000 + 10);
      return;
    }
    // Idle on two checks at least 200 ms apart, screen unchanged between them: an earlier look
    // that saw this very screen counts as the first (the second then waits only for what is left).
    const seenFor = now - (stalls.of(id).bodySeenAt ?? now);
    if (seenFor < 200) {
      await clock.sleep(210 - seenFor);
      const again = await tmux.capturePane(stage.session);
      if (again === undefined || screenBody(again) !== body) return;
      const looked = withoutPastLimits(again, this.pastLimits).kind;
      if (looked === "busy" || (!stalls.of(id).idleHint && looked !== "idle")) return;
    } else if (!stalls.of(id).idleHint && state.kind !== "idle") return;
    if (pending) {
      await this.deliver(id, pending);
      return;
    }
    if (stalled === undefined) return;
    const action = await stalls.onStall(id, stalled, stalls.idleSeconds(id, stalled, now));
    if (action.kind === "nudge") await this.nudge(id, action.why, config.nudgeMessage);
  }

  /**
   * The Bash dialog on `screen` as its review may have it answered (dialog-answer.ts), or why not.
   * Kept while the same dialog is up, so its transcript is read once, not at every look.
   */
  private subjectOf(id: string, screen: string): { about?: string; call?: PendingCall; why?: string } {
    const m = this.mem(id);
    const dialog = parseBashDialog(screen);
    const shown = JSON.stringify(dialog ?? null);
    if (m.subject?.shown === shown) return m.subject.subject;
    const subject = dialogSubject(dialog, this.parts.transcriptOf(id));
    if ("why" in subject) return { why: subject.why };
    m.subject = { shown, subject };
    return subject;
  }

  private async handleBlockingScreen(id: string, kind: "permission" | "login" | "trust" | "question", question: string, screen: string): Promise<void> {
    const m = this.mem(id);
    let why: string | undefined;
    if (kind === "permission" && Object.keys(this.deps.config.permissionAnswers).length > 0) {
      const { stalls, transcriptOf } = this.parts;
      const outcome = await answerDialog(this.parts.view, { id, screen }, m, {
        get lastScreen() {
          return stalls.of(id).lastScreen;
        },
        transcript: transcriptOf(id),
      });
      if (outcome === "done") return;
      why = outcome.person;
    }
    // A Bash dialog tied to one call of the agent's may be answered from its review (dialog-answer.ts).
    const subject = kind === "permission" ? this.subjectOf(id, screen) : undefined;
    if (this.status.stages[id]!.attention === kind && this.parts.reviews.filed(id, kind)) {
      // Another dialog in the place of the one a review asks about, or the same one now tied to its
      // call (the transcript caught up): that review goes, and one that can answer it is filed.
      const before = this.parts.reviews.aboutOf(id, kind);
      if (subject?.about === undefined || subject.about === before) return;
      await this.parts.reviews.replace(id, kind, before === undefined ? "a review that can answer the dialog took its place" : "another dialog took its place");
    }
    if (kind === "permission") {
      const command = subject?.call?.command;
      this.parts.view.emit({ type: "stage_needs_permission", stage: id, source: "screen", message: `${kind}: ${question}`.slice(0, 300), ...(command !== undefined ? { command: command.slice(0, 2000) } : {}) });
    }
    else this.parts.view.emit({ type: "stage_attention", stage: id, attention: kind, reason: question.slice(0, 300) });
    this.parts.reviews.claim(id, kind);
    const s = this.status;
    const what = { permission: "permission prompt", question: "question", login: "login problem", trust: "workspace trust dialog" }[kind];
    const fix = kind === "login"
      ? `Fix the agent's login (for Claude Code: /login, or a valid ANTHROPIC_API_KEY in the shell that runs \`autorun resume\`), then attach with \`autorun attach ${s.plan_name} ${id}\` and tell it to continue. This review closes by itself once the agent is past it.`
      : `${subject?.call ? "Answer it here, or attach" : "Attach"} with \`autorun attach ${s.plan_name} ${id}\` and answer it there: this review closes by itself once the dialog is gone.`;
    const unanswered = why ? `\n\nNot answered from permissionAnswers: ${why}.` : "";
    const call = subject?.call ? `\n\nThe command it asks to run, whole, as the agent's transcript records it:\n\n${indented(subject.call.command)}\n\nIts description:\n\n${indented(subject.call.description || "(none)")}` : subject?.why ? `\n\nIt can be answered only in its session: ${subject.why}.` : "";
    await this.parts.reviews.file({ id, key: kind, ...(subject?.about !== undefined ? { about: subject.about } : {}) }, `Stage ${id} is waiting at a ${what}`, `Stage ${id} (${s.stages[id]!.name}) shows a ${what} in tmux session ${s.stages[id]!.session}:\n\n    ${question}${unanswered}${call}\n\nautorun never answers these blindly.`, [
      { topic: kind === "login" ? "Fix the login" : `Answer the ${what}`, question: fix },
    ]);
  }

  /** Types a queued message (one typist per pane); it stays queued if the pane was busy. */
  private async deliver(id: string, pending: { id: string; message: string; reason: string }): Promise<void> {
    this.parts.stalls.restart(id);
    await this.type(id, { why: `message (${pending.reason.replace(/_/g, " ")})`, message: pending.message, waitTurn: true }, (result) => {
      this.parts.view.emit({ type: "message_delivered", stage: id, id: pending.id, verified: result.verified, evidence: result.evidence });
      this.deps.log(`stage ${id}: told it why (${pending.reason.replace(/_/g, " ")})${result.verified ? "" : ", not verified"}: ${cutAtWord(pending.message, 160)}`);
    });
  }

  /**
   * A verified nudge, recorded as an event with its evidence. One typist per session: a stall
   * nudge is skipped while another is typing; `waitTurn` (a merge's message) queues behind it.
   */
  async nudge(id: string, why: string, message: string, opts: { waitTurn?: boolean } = {}): Promise<boolean> {
    return this.type(id, { why, message, ...opts }, (result) => {
      this.parts.view.emit({ type: "stall_continue_sent", stage: id, message: message.slice(0, 500), verified: result.verified, attempt: this.parts.stalls.of(id).consecutiveNudges + 1, evidence: result.evidence });
      this.deps.log(`stage ${id}: nudged: ${why}; typed ${JSON.stringify(cutAtWord(message, 60))}, ${result.verified ? "and it took it" : "but could not confirm it took it"} (${result.evidence})`);
    });
  }

  private async type(id: string, t: { why: string; message: string; waitTurn?: boolean }, record: (result: NudgeResult) => void): Promise<boolean> {
    const before = this.typing.get(id);
    if (before && !t.waitTurn) return false;
    const run = (before ?? Promise.resolve(false)).catch(() => false).then(() => this.typeInto(id, t.why, t.message, record));
    const tracked = run.finally(() => {
      if (this.typing.get(id) === tracked) this.typing.delete(id);
    });
    tracked.catch(() => undefined); // the caller gets `run`'s outcome; this copy only marks the turn
    this.typing.set(id, tracked);
    return run;
  }

  private async typeInto(id: string, why: string, message: string, record: (result: NudgeResult) => void): Promise<boolean> {
    this.parts.view.ingest();
    const stage = this.status.stages[id];
    if (!stage || stage.status !== "in_progress") return false;
    const result = await verifiedNudge(this.deps.tmux, stage.session, message, { clock: this.deps.clock });
    if (!result.sent) {
      this.deps.log(`stage ${id}: not typed yet (${why}): ${result.evidence}`);
      return false;
    }
    record(result);
    return result.verified;
  }
}

/** Text of the agent's set apart in a review: each line indented as code, so none reads as a heading or an answer. */
function indented(text: string): string {
  return text.split("\n").map((line) => `    ${line}`).join("\n");
}
