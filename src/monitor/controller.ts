/**
 * The monitor as an explicit state machine. Its state is the folded status (from events.jsonl,
 * read by byte offset) plus the memory of its parts, each rebuilt from events on replay. The
 * controller only routes each event to the parts' `observe` and runs their decisions: `pass()`
 * moves the orchestration forward one step: ingest → rate-limit window → merge → liveness →
 * screens and stalls → launch → waves → outcome. Clock, tmux and logging are injected.
 */
import { statSync } from "node:fs";
import { applyEvent } from "../core/fold.js";
import { outcome, stagesToLaunch, waveProgress } from "../core/scheduler.js";
import { onThisMachine } from "../core/hosts.js";
import { readEventsFrom, readFirstEvent } from "../state/events.js";
import { appendFor } from "../state/orchestration.js";
import type { AutorunEvent, EventBody, Status } from "../types/schemas.js";
import { launchStages } from "./launcher.js";
import { Liveness } from "./liveness.js";
import { removeValidationWorktree, sendBackMessage } from "./merge.js";
import { reapCompleted } from "./cleanup.js";
import { StageTips } from "./tips.js";
import { carryOut } from "./answers.js";
import { answerForPerson } from "./dialog-answer.js";
import { Attention } from "./attention.js";
import { checkBudgets, checkCircuit } from "./controls.js";
import { Reviews } from "./reviews.js";
import { StopFailures } from "./failures.js";
import { Stalls } from "./stall.js";
import { Transcripts } from "./transcripts.js";
import { MergeQueue } from "./merge-queue.js";
import { Worktrees } from "./worktrees.js";
import { RunHosts } from "./run-hosts.js";
import { checkHosts } from "./host-loss.js";
import type { MonitorDeps, RunView, StageRecord } from "./parts.js";
import { StatusWriter } from "./status-writer.js";

export type { MonitorDeps } from "./parts.js";

const NOTIFY_TYPES = new Set(["review_requested", "stage_attention", "stage_needs_permission", "merge_conflict", "orchestration_complete", "stage_failed", "rate_limited", "budget_exceeded", "circuit_open", "stage_escalated"]);

export class Monitor {
  /** The folded status: a Monitor exists only for an orchestration that has started. */
  status: Status;
  private offset = 0;
  private readonly wavesStarted = new Set<number>();
  private readonly wavesComplete = new Set<number>();
  private reaped = false;
  /** What merged stages left on other hosts, being cleaned up beside the passes. */
  private hostReap: Promise<void> | undefined;
  private replaying = true;
  /** Stages this process is launching now. */
  private readonly launching = new Set<string>();
  /** The worktrees this process makes (for launches, and ahead of them while a merge is checked). */
  private readonly worktrees: Worktrees;

  /** The run as the parts see it. */
  private readonly view: RunView;
  /** Stages whose branch tip is to be recorded (refs/autorun/…): nothing a stage committed is lost. */
  private readonly tips = new StageTips();
  private readonly reviews: Reviews;
  private readonly stalls: Stalls;
  private readonly transcripts: Transcripts;
  private readonly failures: StopFailures;
  private readonly liveness: Liveness;
  private readonly merges: MergeQueue;
  private readonly attention: Attention;
  private readonly statusFile: StatusWriter;

  readonly deps: MonitorDeps;

  private constructor(given: MonitorDeps, first: Status) {
    this.status = first;
    // A run that uses other hosts: their tmux behind the one the parts use.
    const hosts = RunHosts.wanted(given.config, first) ? new RunHosts(given, () => this.status) : undefined;
    const deps = (this.deps = hosts ? { ...given, tmux: hosts.tmux, hosts } : given);
    const status = (): Status => this.status;
    this.view = {
      deps,
      get status() {
        return status();
      },
      inProgress: () => this.inProgress(),
      ingest: () => void this.ingest(),
      emit: (event) => this.emit(event),
    };
    this.worktrees = new Worktrees(deps.hosts ? (host, commit, ids) => deps.hosts!.ahead(host, commit, ids) : undefined);
    this.statusFile = new StatusWriter(deps.paths, status, deps.log);
    this.reviews = new Reviews(this.view);
    this.stalls = new Stalls(this.view, this.reviews);
    this.transcripts = new Transcripts(this.view);
    this.failures = new StopFailures(this.view, this.reviews);
    this.liveness = new Liveness(this.view, this.worktrees);
    this.merges = new MergeQueue(this.view, this.reviews, this.worktrees);
    const { stalls, failures, reviews, transcripts, merges } = this;
    this.attention = new Attention({ view: this.view, stalls, failures, reviews, transcriptOf: (id) => transcripts.pathOf(id), waitsForMerge: (id) => merges.waitsForMerge(id) });
  }

  /**
   * The monitor of the orchestration at `deps.paths`, its state replayed from events.jsonl (the
   * parts' memory included); undefined when the orchestration has not started (no first event).
   */
  static open(deps: MonitorDeps): Monitor | undefined {
    const first = readFirstEvent(deps.paths.events);
    const status = first ? applyEvent(undefined, first) : undefined;
    if (!status) return undefined;
    const monitor = new Monitor(deps, status);
    monitor.ingest();
    return monitor;
  }

  /** True when events.jsonl is gone or shorter than what this monitor has read: it was replaced. */
  replaced(): boolean {
    try {
      return statSync(this.deps.paths.events).size < this.offset;
    } catch {
      return true;
    }
  }

  /** Reads new complete lines of events.jsonl and folds them in. Returns the new events. */
  ingest(): AutorunEvent[] {
    const chunk = readEventsFrom(this.deps.paths.events, this.offset);
    this.offset = chunk.offset;
    for (const bad of chunk.invalid) this.deps.log(`ignored an invalid line at byte ${bad.offset} of events.jsonl: ${bad.text.slice(0, 120)}`);
    for (const event of chunk.events) {
      this.status = applyEvent(this.status, event) ?? this.status;
      this.observe(event);
    }
    this.replaying = false;
    return chunk.events;
  }

  /** Each part notes what the event means for its own memory. */
  private observe(event: AutorunEvent): void {
    if (event.type === "wave_started") this.wavesStarted.add(event.wave);
    if (event.type === "wave_complete") this.wavesComplete.add(event.wave);
    if (!this.replaying && NOTIFY_TYPES.has(event.type) && this.deps.notify) void this.deps.notify(event).catch(() => undefined);
    this.reviews.observe(event);
    this.tips.observe(event);
    this.failures.observe(event);
    this.attention.observe(event, this.replaying);
    this.stalls.observe(event, this.replaying);
    this.deps.hosts?.observe(event);
    this.transcripts.observe(event);
    this.liveness.observe(event);
    this.merges.observe(event);
  }

  private emit(event: EventBody): void {
    appendFor(this.deps.paths, this.status, event);
    this.ingest();
  }

  private inProgress(): [string, StageRecord][] {
    return Object.entries(this.status.stages).filter(([, s]) => s.status === "in_progress");
  }

  /** One step forward. Returns the final outcome when the orchestration is over. */
  async pass(): Promise<{ done: boolean; code: number }> {
    this.ingest();
    const status = this.status;
    if (status.status === "completed") return { done: true, code: 0 };
    if (status.status === "failed") return { done: true, code: 1 };
    const paused = this.paused();
    if (status.paused_until !== null && !paused) this.attention.endRateLimit();

    if (!this.reaped) await this.reapCompletedStages();
    await this.merges.adoptHandMerges();
    await this.actOnAnswers();
    await this.askAboutPermissions();
    await this.reviews.resolveDue();
    this.tips.saveBeside(this.status);
    for (const id of await this.merges.due()) this.startMerge(id);
    this.transcripts.collect();
    await checkBudgets(this.view, this.reviews);
    await this.liveness.check(paused);
    if (this.deps.hosts) await checkHosts(this.view, this.deps.hosts, this.worktrees, paused);
    await checkCircuit(this.view, this.reviews, this.reviews.circuit);
    // What the hooks said (a turn ended on a rate limit or a refused login) before any screen is read.
    await this.failures.check();
    // While the usage limit pauses the run, screens are still read for dialogs and login problems
    // (a person must hear of those), but no nudge or message is typed.
    await this.attention.checkScreens(paused);
    if (!paused) await this.launchReady();
    this.recordWaves();
    const result = this.merges.active || this.attention.busy ? { done: false as const } : outcome(this.status);
    if (result.done) {
      // The last turns' usage, before the run is declared over.
      this.transcripts.collect(true);
      await removeValidationWorktree(this.deps.paths.home, this.status.project_root).catch((error: Error) => this.deps.log(`could not remove the validation worktree: ${error.message}`));
      this.emit({ type: "orchestration_complete", status: result.status });
      this.deps.log(`orchestration ${result.status}: ${result.reason}`);
    }
    // The status file: the last one before the run is declared over; otherwise beside the passes.
    if (result.done) await this.writeStatus();
    else this.statusFile.beside();
    return result.done ? { done: true, code: result.status === "completed" ? 0 : 1 } : { done: false, code: 0 };
  }

  /**
   * Once per monitor: a predecessor killed mid-cleanup may have left sessions or worktrees behind,
   * here and (looked at beside the passes: a host may be slow to answer) on other hosts.
   */
  private async reapCompletedStages(): Promise<void> {
    this.reaped = true;
    const merged = Object.entries(this.status.stages).filter(([, stage]) => stage.status === "completed" && stage.finished_by !== "skipped");
    const elsewhere = merged.filter(([, stage]) => !onThisMachine(stage.host)).map(([id]) => id);
    if (this.deps.hosts && elsewhere.length > 0) this.hostReap = this.deps.hosts.reap(elsewhere).catch((error: Error) => this.deps.log(`could not clean up after merged stages on hosts: ${error.message}`));
    for (const [id, stage] of merged) await reapCompleted(this.deps, { id, stage, root: this.status.project_root, base: this.status.base_branch });
  }

  /** The status file brought up to the folded status (after the write under way beside the passes). */
  async writeStatus(): Promise<void> {
    await this.statusFile.write();
  }

  private paused(): boolean {
    const until = this.status.paused_until;
    return until !== null && until !== undefined && this.deps.clock.now() < Date.parse(until);
  }

  /**
   * The merge of stage `id`, in the background: a project's `validate` commands can take minutes,
   * and the rest of the pass (launches, nudges) must not wait. The project's merge lock keeps
   * merges one at a time; `settle()` waits for them. The merge says what it did; when it merged,
   * what waited for the stage is launched here, before the stage's session and worktree go.
   */
  private startMerge(id: string): void {
    this.merges.track(id, "merge", async () => {
      // A stage on another host: its branch as the host has it, before anything looks at it here.
      await this.deps.hosts?.fetchStage(id);
      const result = await this.merges.merge(id);
      if (result.kind === "sent_back") {
        // Told to rebase onto the base: on another host, the base it names is pushed there before
        // the message is queued (delivered at once, it would have the agent rebase onto an old one).
        await this.deps.hosts?.pushBaseTo(id).catch((error: Error) => this.deps.log(`stage ${id}: could not push ${this.status.base_branch} to its host: ${error.message}`));
        this.emit(sendBackMessage(id, result));
      }
      if (result.kind !== "merged") return;
      await this.launchDependants(result.commit).catch((error: Error) => this.deps.log(`stage ${id}: merged, but launching what waited for it failed: ${error.message}`));
      await result.cleanup();
      await this.deps.hosts?.cleanupStage(id);
    });
  }

  /**
   * Rules a merged stage's session was allowed for good reach later stages only on a person's word:
   * one review per stage (a restarted monitor knows it from the events), while a stage is still to
   * launch. The dialog they came from was seen on the agent's screen, which its own output can imitate.
   */
  private async askAboutPermissions(): Promise<void> {
    if (!Object.values(this.status.stages).some((s) => s.status === "pending" || s.status === "blocked")) return;
    for (const [id, stage] of Object.entries(this.status.stages)) {
      if (stage.proposed_rules.length === 0 || this.reviews.filed(id, "permissions")) continue;
      this.reviews.claim(id, "permissions");
      const rules = stage.proposed_rules.map((r) => `- \`${r}\``).join("\n");
      await this.reviews.file(
        { id, key: "permissions" },
        `Stage ${id}: keep for later stages what its session was allowed for good?`,
        `In stage ${id}'s session, "Yes, and don't ask again" was chosen in a permission dialog, which allowed:\n\n${rules}\n\nStages launched from now on get these only if you keep them; until then one that needs them asks. The dialog was on the agent's screen, which the agent's own output can imitate: keep them only if a person answered it.`,
        [{ topic: "Keep these for later stages", question: "Should the stages launched from now on run these without asking?" }],
      );
    }
  }

  /**
   * The reviews the monitor filed that a person answered: the action the answer names is done,
   * recorded (`review_answered` with the action and what it did) and the review marked resolved.
   */
  private async actOnAnswers(): Promise<void> {
    const actions = {
      view: this.view,
      mergeNow: (id: string) => {
        if (this.merges.busy(id)) return false;
        this.merges.forgetRefusal(id);
        this.startMerge(id);
        return true;
      },
      cleanupFinished: (id: string) => this.merges.cleanupFinished(id),
      nudgeStage: (id: string, why: string, message: string) => {
        this.stalls.forgetNudges(id);
        return this.attention.nudge(id, why, message, { waitTurn: true });
      },
      merging: (id: string) => this.merges.busy(id),
      answerDialog: (id: string, choice: "yes" | "no", about: string) => answerForPerson(this.view, { id, transcript: this.transcripts.pathOf(id) }, choice, about),
    };
    for (const a of this.reviews.answered()) {
      const { action, effect, took } = await carryOut(actions, a, a.answer);
      this.emit({ type: "review_answered", ...(a.id !== undefined ? { stage: a.id } : {}), file: a.file, action, effect });
      this.deps.log(`${a.id !== undefined ? `stage ${a.id}: ` : ""}review ${a.file} answered (${action}): ${effect}`);
      if (took) await this.reviews.settle(a.id, a.key, a.file, effect);
      else await this.reviews.reopen(a.file, effect.replace(/^nothing was done: /, ""));
    }
  }

  /** Waits for the merges in flight, the nudges being typed, the tips and the status file being recorded, and ends the hosts' event streams (before exiting, and in tests). */
  async settle(): Promise<void> {
    await this.merges.settle();
    await this.attention.settle();
    await this.tips.settle();
    await this.statusFile.settle();
    await this.hostReap;
    // Nobody ends a session on a host that does not answer once this monitor is gone: say where.
    for (const [host, sessions] of this.deps.hosts?.cutOff() ?? []) {
      const them = sessions.length === 1 ? "it" : "them";
      const how = this.status.status === "completed" ? `once it answers, end ${them} with: autorun discard ${this.status.plan_name}` : `the monitor of: autorun resume ${this.status.plan_name} ends ${them} once it answers`;
      this.deps.log(`host ${host}: not answering, and the session${sessions.length === 1 ? "" : "s"} ${sessions.join(", ")} of stages that went on elsewhere may still run there; ${how}`);
    }
    // A host's events stream would keep the process from ending.
    await this.deps.hosts?.close();
  }

  /**
   * Right after a merge is recorded: what the stage spent up to its hand-over counts before its
   * dependants start (a budget it crossed holds them back); then the dependants, which only need
   * the merge commit.
   */
  private async launchDependants(commit: string): Promise<void> {
    this.ingest();
    this.transcripts.collect(true);
    await checkBudgets(this.view, this.reviews);
    if (!this.paused()) await this.launchReady(commit);
  }

  /** Launches every stage that may start now; `tip`: the base tip a merge just moved it to. */
  private async launchReady(tip?: string): Promise<void> {
    // A merge launches its dependants at once, beside the pass: neither launches what the other is launching.
    let ids = stagesToLaunch(this.status).filter((id) => !this.launching.has(id));
    // Each on a host: those that must wait (a pinned host down, no free slot) wait.
    const placement = this.deps.hosts ? new Map(this.deps.hosts.place(ids).flatMap((p) => ("host" in p ? [[p.stage, p.host] as const] : []))) : undefined;
    if (placement) ids = ids.filter((id) => placement.has(id));
    if (ids.length === 0) return;
    for (const id of ids) this.launching.add(id);
    try {
      const current = () => {
        this.ingest();
        return this.status;
      };
      const results = await launchStages({ tmux: this.deps.tmux, paths: this.deps.paths, config: this.deps.config, log: this.deps.log, current, worktrees: this.worktrees, ...(this.deps.hosts ? { hosts: this.deps.hosts, placement } : {}) }, ids, tip);
      this.ingest();
      ids.forEach((id, i) => results[i] === "skipped" && this.deps.log(`stage ${id}: not launched: another autorun process launched it first`));
    } finally {
      for (const id of ids) this.launching.delete(id);
    }
  }

  private recordWaves(): void {
    const { started, complete } = waveProgress(this.status);
    for (const wave of started) if (!this.wavesStarted.has(wave)) this.emit({ type: "wave_started", wave });
    for (const wave of complete) if (!this.wavesComplete.has(wave)) this.emit({ type: "wave_complete", wave });
  }
}
