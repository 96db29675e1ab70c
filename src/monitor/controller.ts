/**
 * The monitor as an explicit state machine. Its state is the folded status (from events.jsonl,
 * read by byte offset) plus a little per-stage memory that is itself rebuilt from events on
 * replay. `pass()` moves the orchestration forward one step: ingest → rate-limit window → merge →
 * liveness → screens and stalls → launch → waves → outcome. Clock, tmux and logging are injected.
 */
import { statSync } from "node:fs";
import { applyEvent } from "../core/fold.js";
import { outcome, stagesToLaunch, waveProgress } from "../core/scheduler.js";
import type { Tmux } from "../adapters/tmux.js";
import * as git from "../adapters/git.js";
import { operationOnBase } from "../adapters/git-safety.js";
import { readEventsFrom, readFirstEvent } from "../state/events.js";
import { appendFor } from "../state/orchestration.js";
import { writeStatusFile } from "../state/status.js";
import type { OrchPaths } from "../state/paths.js";
import type { Config } from "../state/config.js";
import type { AutorunEvent, EventBody, Status } from "../state/schemas.js";
import { isDialogAttention } from "../state/constants.js";
import { launchStages } from "./launcher.js";
import { checkLiveness } from "./liveness.js";
import { MAX_SEND_BACKS, mergeStage, removeValidationWorktree } from "./merge.js";
import { cleanup, reapCompleted } from "./cleanup.js";
import { StageTips } from "./tips.js";
import { handMerged } from "./finish.js";
import { carryOut } from "./answers.js";
import { readTranscript, recordUsage, resumeFrom } from "./usage.js";
import { dollars } from "../core/usage.js";
import type { Clock } from "./clock.js";
import { Attention, type StageMemory } from "./attention.js";
import { checkBudgets, checkCircuit } from "./controls.js";
import { Reviews } from "./reviews.js";

export interface MonitorDeps {
  paths: OrchPaths;
  config: Config;
  tmux: Tmux;
  clock: Clock;
  log: (msg: string) => void;
  /** Called for events people should hear about (notifyCommand, tmux message). */
  notify?: (event: AutorunEvent) => Promise<void>;
  /**
   * Asks for another pass now, or after `afterMs` (a background merge finished, a stall falls due),
   * instead of at the next safety-net tick. The timer must not keep a stopping monitor alive.
   */
  wake?: (afterMs?: number) => void;
}

const NOTIFY_TYPES = new Set(["review_requested", "stage_attention", "stage_needs_permission", "merge_conflict", "orchestration_complete", "stage_failed", "rate_limited", "budget_exceeded", "circuit_open", "stage_escalated"]);

export class Monitor {
  /** The folded status: a Monitor exists only for an orchestration that has started. */
  status: Status;
  private offset = 0;
  private readonly memory = new Map<string, StageMemory>();
  private readonly wavesStarted = new Set<number>();
  private readonly wavesComplete = new Set<number>();
  private writtenCount = -1;
  private reaped = false;
  /** Stages whose branch tip is to be recorded (refs/autorun/…): nothing a stage committed is lost. */
  private readonly tips = new StageTips();
  private readonly merging = new Map<string, Promise<void>>();
  private replaying = true;
  /** Stages this process is launching now. */
  private readonly launching = new Set<string>();
  /** The base tip when stages were last looked at for a merge of a person's own. */
  private baseSeen: string | undefined;

  private readonly attention: Attention;
  private readonly reviews: Reviews;

  private constructor(readonly deps: MonitorDeps, first: Status) {
    this.status = first;
    this.attention = new Attention(this);
    this.reviews = new Reviews(this);
  }

  /**
   * The monitor of the orchestration at `deps.paths`, its state replayed from events.jsonl (per-stage
   * memory included); undefined when the orchestration has not started (no first event).
   */
  static open(deps: MonitorDeps): Monitor | undefined {
    const first = readFirstEvent(deps.paths.events);
    const status = first ? applyEvent(undefined, first) : undefined;
    if (!status) return undefined;
    const monitor = new Monitor(deps, status);
    monitor.ingest();
    return monitor;
  }

  mem(id: string): StageMemory {
    let m = this.memory.get(id);
    if (!m) {
      m = { screenSince: this.deps.clock.now(), idleHint: false, consecutiveNudges: 0, reviewFiled: new Set(), reviewFiles: new Map(), quickDeaths: 0 };
      this.memory.set(id, m);
    }
    return m;
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

  private observe(event: AutorunEvent): void {
    if (event.type === "wave_started") this.wavesStarted.add(event.wave);
    if (event.type === "wave_complete") this.wavesComplete.add(event.wave);
    if (!this.replaying && NOTIFY_TYPES.has(event.type) && this.deps.notify) void this.deps.notify(event).catch(() => undefined);
    this.reviews.observe(event);
    this.tips.observe(event);
    this.attention.failures.observe(event);
    if (event.stage === undefined) {
      this.observeRun(event);
      return;
    }
    const m = this.mem(event.stage);
    switch (event.type) {
      case "session_started":
        if (event.transcript) Object.assign(m, { transcript: event.transcript, usageDue: true });
        break;
      case "usage_recorded":
        m.usage = recordUsage(m.usage, event);
        m.usageDue = false;
        break;
      case "stage_idle":
      case "agent_stopped":
        if (event.type === "agent_stopped" && event.transcript) Object.assign(m, { transcript: event.transcript, usageDue: true });
        if (!m.idleHint) m.idleSince = this.deps.clock.now();
        m.idleHint = true;
        // Look again right when the stall would be due, not at the next safety-net tick.
        if (!this.replaying) this.deps.wake?.(this.deps.config.stallSeconds * 1000 + 10);
        break;
      case "phase_status":
        if (m.reviewFiles.has("idle")) this.reviews.resolveLater(event.stage, (k) => k === "idle", "the agent is working again");
        m.stuck = false;
        m.consecutiveNudges = 0;
        m.idleHint = false;
        m.screenSince = this.deps.clock.now();
        break;
      case "stage_launched":
      case "stage_relaunched":
        m.launchedAt = Date.parse(event.ts);
        m.idleHint = false;
        m.screenSince = this.deps.clock.now();
        break;
      case "prompt_submitted":
        m.idleHint = false;
        m.screenSince = this.deps.clock.now();
        break;
      case "stage_retried":
        Object.assign(m, { quickDeaths: 0, stuck: false, deadAt: undefined, consecutiveNudges: 0, idleHint: false });
        m.reviewFiled.clear();
        break;
      case "stage_escalated":
        Object.assign(m, { quickDeaths: 0, deadAt: undefined, consecutiveNudges: 0, idleHint: false });
        break;
      case "session_dead":
        m.deadAt = this.deps.clock.now();
        if (!event.server_gone && m.launchedAt !== undefined && Date.parse(event.ts) - m.launchedAt < 10_000) m.quickDeaths += 1;
        break;
      case "stall_continue_sent":
        m.consecutiveNudges += 1;
        m.idleHint = false;
        break;
      case "merge_started":
      case "merge_conflict":
        // The agent's last Stop came before this: it is not a stall, and a message is on its way.
        m.idleHint = false;
        m.screenSince = this.deps.clock.now();
        if (event.type === "merge_conflict" && event.commit !== undefined) {
          const tip = event.commit;
          m.stuck = (this.status.stages[event.stage]?.send_backs.filter((c) => c === tip).length ?? 0) > MAX_SEND_BACKS;
        }
        if (event.type === "merge_conflict" && event.reason === "checkout_overlap") {
          m.refusedAt = this.deps.clock.now();
          m.refusedFiles = event.files;
        }
        break;
      case "merge_complete":
        m.refusedAt = undefined;
        this.reviews.resolveLater(event.stage, () => true, `stage ${event.stage} merged`);
        break;
      case "stage_done_by_person":
      case "stage_skipped":
        m.refusedAt = undefined;
        this.reviews.resolveLater(event.stage, () => true, event.type === "stage_skipped" ? `stage ${event.stage} was skipped` : `stage ${event.stage} was merged by a person`);
        break;
      case "stage_attention":
        if (event.attention === null && event.reason === "dialog closed") this.reviews.resolveLater(event.stage, isDialogAttention, "the dialog was answered");
        break;
      default:
        break;
    }
  }

  /** Events about the whole run that lift a hold: their reviews are resolved. */
  private observeRun(event: AutorunEvent): void {
    switch (event.type) {
      case "circuit_closed":
        this.reviews.circuit.file = undefined;
        this.reviews.resolveLater(undefined, (k) => k === "circuit", "the circuit breaker was closed");
        break;
      case "budget_raised":
        if (event.scope === "run") this.reviews.resolveLater(undefined, (k) => k === "budget", `the run's budget was raised to ${dollars(event.limit_usd)}`);
        else for (const id of Object.keys(this.status.stages)) this.reviews.resolveLater(id, (k) => k === "budget", `the stage budget was raised to ${dollars(event.limit_usd)}`);
        break;
      default:
        break;
    }
  }

  resolveReviewsLater(id: string, keys: (key: string) => boolean, reason: string): void {
    this.reviews.resolveLater(id, keys, reason);
  }

  emit(event: EventBody): void {
    appendFor(this.deps.paths, this.status, event);
    this.ingest();
  }

  inProgress(): [string, Status["stages"][string]][] {
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
    await this.adoptHandMerges();
    await this.actOnAnswers();
    await this.reviews.resolveDue();
    await this.tips.save(this.status);
    await this.mergeReady();
    this.collectUsage();
    await checkBudgets(this);
    await checkLiveness(this, paused);
    await checkCircuit(this, this.reviews.circuit);
    // What the hooks said (a turn ended on a rate limit or a refused login) before any screen is read.
    await this.attention.failures.check();
    // While the usage limit pauses the run, screens are still read for dialogs and login problems
    // (a person must hear of those), but no nudge or message is typed.
    await this.attention.checkScreens(paused);
    if (!paused) await this.launchReady();
    this.recordWaves();
    const result = this.merging.size > 0 || this.attention.busy ? { done: false as const } : outcome(this.status);
    if (result.done) {
      // The last turns' usage, before the run is declared over.
      this.collectUsage(true);
      await removeValidationWorktree(this.deps.paths.home, this.status.project_root).catch((error: Error) => this.deps.log(`could not remove the validation worktree: ${error.message}`));
      this.emit({ type: "orchestration_complete", status: result.status });
      this.deps.log(`orchestration ${result.status}: ${result.reason}`);
    }
    await this.writeStatus();
    return result.done ? { done: true, code: result.status === "completed" ? 0 : 1 } : { done: false, code: 0 };
  }

  /** Once per monitor: a predecessor killed mid-cleanup may have left sessions or worktrees behind. */
  private async reapCompletedStages(): Promise<void> {
    this.reaped = true;
    for (const [id, stage] of Object.entries(this.status.stages)) {
      if (stage.status === "completed" && stage.finished_by !== "skipped") await reapCompleted(this.deps, id, stage, this.status.project_root, this.status.base_branch);
    }
  }

  async writeStatus(): Promise<void> {
    if (this.status.event_count !== this.writtenCount) {
      await writeStatusFile(this.deps.paths, this.status);
      this.writtenCount = this.status.event_count;
    }
  }

  private paused(): boolean {
    const until = this.status.paused_until;
    return until !== null && until !== undefined && this.deps.clock.now() < Date.parse(until);
  }

  /**
   * Starts the merge of every stage that is ready for one, in the background: a project's
   * `validate` commands can take minutes, and the rest of the pass (launches, nudges) must not wait.
   * The project's merge lock keeps merges one at a time; `settle()` waits for them.
   */
  private async mergeReady(): Promise<void> {
    const now = this.deps.clock.now();
    for (const [id, stage] of Object.entries(this.status.stages)) {
      if (this.merging.has(id)) continue;
      const m = this.mem(id);
      const retryRefused = stage.status === "in_progress" && m.refusedAt !== undefined && now - m.refusedAt > 2_000 && (await this.checkoutClear(m.refusedFiles ?? []));
      if (!((stage.status === "in_progress" && stage.implement_done) || stage.status === "merging" || retryRefused)) continue;
      if (retryRefused) m.refusedAt = undefined;
      this.startMerge(id);
    }
  }

  /**
   * Stages a person merged by hand (`git merge` of the stage branch into the base): recorded as
   * done, their session ended and worktree removed as after a merge, and their dependants go on.
   * Looked for whenever the base tip moved.
   */
  private async adoptHandMerges(): Promise<void> {
    const { project_root: root, base_branch: base } = this.status;
    const open = Object.entries(this.status.stages).filter(([, st]) => st.status === "in_progress" || st.status === "failed");
    const candidates = open.filter(([id]) => !this.merging.has(id));
    if (candidates.length === 0) return;
    const tip = await git.headCommit(root, `refs/heads/${base}`).catch(() => undefined);
    if (tip === undefined || tip === this.baseSeen) return;
    // A stage being merged now is looked at again once its merge is over, even if the base stays.
    if (candidates.length === open.length) this.baseSeen = tip;
    for (const [id, stage] of candidates) {
      const commit = await handMerged(root, base, stage);
      if (!commit) continue;
      // Read after git: a merge of autorun's own is recorded before it moves the base.
      this.ingest();
      const now = this.status.stages[id]!;
      if ((now.status !== "in_progress" && now.status !== "failed") || this.merging.has(id)) continue;
      this.emit({ type: "stage_done_by_person", stage: id, how: "detected", commit, detail: `${now.branch} is in ${base}, merged by a person` });
      this.deps.log(`stage ${id}: ${now.branch} was merged into ${base} by hand; the stage is done and what waits for it goes on`);
      this.cleanupFinished(id);
    }
  }

  /** Ends the session and removes the worktree of a stage a person merged, as after a merge (in the background). */
  cleanupFinished(id: string): void {
    const { project_root: root, base_branch: base } = this.status;
    const stage = this.status.stages[id]!;
    const job = cleanup(this.deps, id, stage, root, base)
      .catch((error: Error) => this.deps.log(`stage ${id}: cleanup after the merge by hand failed: ${error.message}`))
      .finally(() => {
        this.merging.delete(id);
        this.deps.wake?.();
      });
    this.merging.set(id, job);
  }

  /** Starts a merge of stage `id` now, in the background; false when one is under way. */
  mergeNow(id: string): boolean {
    if (this.merging.has(id)) return false;
    this.mem(id).refusedAt = undefined;
    this.startMerge(id);
    return true;
  }

  /** The merge of stage `id` in the background, known in `merging` until it ends; then another pass. */
  private startMerge(id: string): void {
    const job = this.mergeOne(id)
      .catch((error: Error) => this.deps.log(`stage ${id}: merge failed: ${error.message}`))
      .finally(() => {
        this.merging.delete(id);
        this.deps.wake?.();
      });
    this.merging.set(id, job);
  }

  nudgeStage(id: string, why: string, message: string): Promise<boolean> {
    return this.attention.nudge(id, why, message, { waitTurn: true });
  }

  /**
   * The reviews the monitor filed that a person answered: the action the answer names is done,
   * recorded (`review_answered` with the action and what it did) and the review marked resolved.
   */
  private async actOnAnswers(): Promise<void> {
    for (const a of this.reviews.answered()) {
      const { action, effect, took } = await carryOut(this, a.id, a.key, a.answer);
      this.emit({ type: "review_answered", ...(a.id !== undefined ? { stage: a.id } : {}), file: a.file, action, effect });
      this.deps.log(`${a.id !== undefined ? `stage ${a.id}: ` : ""}review ${a.file} answered (${action}): ${effect}`);
      if (took) await this.reviews.settle(a.id, a.key, a.file, effect);
      else await this.reviews.reopen(a.file, effect.replace(/^nothing was done: /, ""));
    }
  }

  /**
   * Reads what each agent's transcript gained since its last turn (only the new bytes) and records
   * the stage's total as `usage_recorded`. `all`: every stage with a transcript, due or not.
   */
  private collectUsage(all = false): void {
    for (const id of Object.keys(this.status.stages)) {
      const m = this.mem(id);
      if (!m.transcript || !(m.usageDue || all)) continue;
      m.usageDue = false;
      // Each transcript is read on from where it was left (a retry's new session, or hooks that
      // name two transcripts in turn, count each byte once); a new one adds to the stage's total.
      const from = resumeFrom(m.usage, m.transcript);
      if (!from) {
        this.deps.log(`stage ${id}: not reading transcript ${m.transcript}: the stage's hooks named too many transcripts`);
        continue;
      }
      const next = readTranscript(from, this.deps.config.prices);
      if (!next) continue;
      if ("refused" in next) {
        this.deps.log(`stage ${id}: not reading the transcript its hook named: ${next.refused}`);
        continue;
      }
      this.emit({ type: "usage_recorded", stage: id, transcript: next.transcript, offset: next.offset, usage: next.total, ...(next.last ? { last_message: next.last } : {}) });
    }
  }

  /** Waits for the merges in flight and the nudges being typed (before exiting, and in tests). */
  async settle(): Promise<void> {
    while (this.merging.size > 0) await Promise.all([...this.merging.values()]);
    await this.attention.settle();
  }

  private async mergeOne(id: string): Promise<void> {
    const m = this.mem(id);
    let dependants: Promise<void> | undefined;
    const onMerged = (commit: string): void => {
      dependants = this.launchDependants(commit).catch((error: Error) => this.deps.log(`stage ${id}: merged, but launching what waited for it failed: ${error.message}`));
    };
    const result = await mergeStage({ tmux: this.deps.tmux, paths: this.deps.paths, config: this.deps.config, log: this.deps.log, prepareDependants: true, onMerged }, id);
    this.ingest();
    if (result.kind === "merged") {
      await dependants;
      await result.cleanup();
      return;
    }
    if (result.kind === "refused") {
      m.refusedFiles = result.files;
      if (!m.reviewFiled.has(`refused:${result.reason}`)) {
        m.reviewFiled.add(`refused:${result.reason}`);
        await this.fileReview(id, `Stage ${id} waits to merge: your checkout is in its way`, result.detail, [
          {
            topic: "Unblock the merge",
            question: `${result.detail}. Commit or stash those changes (or finish what you are in the middle of); autorun merges as soon as they are out of the way (or run \`autorun merge ${this.status.plan_name} ${id}\`).`,
          },
        ], `refused:${result.reason}`);
      }
    }
    if (result.kind === "stuck" && result.reason === "guarded_files" && !m.reviewFiled.has(`stuck:${result.reason}`)) {
      m.reviewFiled.add(`stuck:${result.reason}`);
      await this.fileReview(id, `Stage ${id} changes the run's checks or rights: a person merges it`, result.detail, [
        { topic: "Merge it or not", question: `${result.detail}. Write what you decided.` },
      ], `stuck:${result.reason}`);
    }
    if (result.kind === "stuck" && !m.reviewFiled.has(`stuck:${result.reason}`)) {
      m.reviewFiled.add(`stuck:${result.reason}`);
      await this.fileReview(id, `Stage ${id} keeps handing over work that cannot merge`, result.detail, [
        {
          topic: "Help the stage",
          question: `autorun sent stage ${id} back ${MAX_SEND_BACKS} times with the same commit (${result.reason.replace(/_/g, " ")}). Attach (\`autorun attach ${this.status.plan_name} ${id}\`) and help it, or merge its branch yourself (\`git merge --no-ff ${this.status.stages[id]!.branch}\` on ${this.status.base_branch}).`,
        },
      ], `stuck:${result.reason}`);
    }
  }

  /**
   * Right after a merge is recorded (the merge lock still held): what the stage spent up to its
   * hand-over counts before its dependants start (a budget it crossed holds them back); then the
   * dependants, which only need the merge commit.
   */
  private async launchDependants(commit: string): Promise<void> {
    this.ingest();
    this.collectUsage(true);
    await checkBudgets(this);
    if (!this.paused()) await this.launchReady(commit);
  }

  /** The person's checkout no longer has uncommitted changes to any of `files`. */
  private async checkoutClear(files: readonly string[]): Promise<boolean> {
    const s = this.status;
    if (await operationOnBase(s.project_root, s.base_branch)) return false;
    const checkout = await git.checkoutOf(s.project_root, s.base_branch);
    if (!checkout) return true;
    const dirty = new Set(await git.dirtyFiles(checkout));
    return !files.some((f) => dirty.has(f));
  }

  /** Launches every stage that may start now; `tip`: the base tip a merge just moved it to. */
  private async launchReady(tip?: string): Promise<void> {
    // A merge launches its dependants at once, beside the pass: neither launches what the other is launching.
    const ids = stagesToLaunch(this.status).filter((id) => !this.launching.has(id));
    if (ids.length === 0) return;
    for (const id of ids) this.launching.add(id);
    try {
      const current = () => {
        this.ingest();
        return this.status;
      };
      const results = await launchStages({ tmux: this.deps.tmux, paths: this.deps.paths, config: this.deps.config, log: this.deps.log, current }, ids, tip);
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

  /** Files a review about condition `key`, about stage `id` or (undefined) the whole run. */
  fileReview(id: string | undefined, title: string, context: string, questions: { topic: string; question: string }[], key?: string): Promise<void> {
    return this.reviews.file(id, title, context, questions, key);
  }
}
