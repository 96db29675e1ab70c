/**
 * The reviews the monitor files and resolves: one per condition (a restarted monitor knows which
 * are open from the events), about a stage or the whole run; marked resolved, once the events
 * that cleared their condition are folded in, when it cleared by itself. This part alone keeps
 * which conditions have a review: one entry per stage and condition.
 */
import { relative, isAbsolute, resolve } from "node:path";
import { createReviewFile, readReview, reopenReviewFile, resolveReviewFile } from "../state/review.js";
import { reviewDir } from "../state/paths.js";
import { isDialogAttention } from "../types/constants.js";
import { actionSentence, actionsFor } from "../core/review-actions.js";
import { dollars } from "../core/usage.js";
import type { AutorunEvent } from "../types/schemas.js";
import type { ReviewDesk, ReviewQuestion, RunView } from "./parts.js";

/**
 * A condition the monitor asked a person about. `file`: its open review (known from the events);
 * `filed`: not to be asked again (set before the review is written, and kept until the condition
 * may be asked about anew: a retry, a dialog that closed).
 */
interface Entry {
  file?: string;
  filed: boolean;
  /** What its review was filed about (`about` in its metadata; "" for nothing), once read. */
  about?: string;
}

type Conditions = Map<string, Entry>;

export class Reviews implements ReviewDesk {
  /** Conditions that cleared, whose reviews are resolved at the next pass (`id` undefined: the run's own). */
  private readonly due: { id: string | undefined; keys: (key: string) => boolean; reason: string }[] = [];
  /** The run's own conditions (the budget, the circuit breaker). */
  private readonly run: Conditions = new Map();
  private readonly stages = new Map<string, Conditions>();
  /** The circuit breaker's open review, whose answer closes it. */
  readonly circuit: { file?: string } = {};
  /** Reviews a stage's agent filed (questions for a person, answered or not), by stage, until resolved. */
  private readonly questions = new Map<string, Set<string>>();
  /** Stages that finished: their agent's reviews are resolved at the next pass, with this reason. */
  private readonly questionsDue: { id: string; reason: string }[] = [];

  constructor(private readonly view: Pick<RunView, "deps" | "status" | "emit">) {}

  private of(id: string | undefined): Conditions {
    if (id === undefined) return this.run;
    let c = this.stages.get(id);
    if (!c) this.stages.set(id, (c = new Map()));
    return c;
  }

  filed(id: string, key: string): boolean {
    return this.of(id).get(key)?.filed === true;
  }

  claim(id: string, key: string): void {
    const c = this.of(id);
    c.set(key, { ...c.get(key), filed: true });
  }

  release(id: string, key: string): void {
    const c = this.of(id);
    const entry = c.get(key);
    if (entry?.file === undefined) c.delete(key);
    else entry.filed = false;
  }

  aboutOf(id: string, key: string): string | undefined {
    const entry = this.of(id).get(key);
    if (entry?.file === undefined) return undefined;
    if (entry.about === undefined) {
      try {
        entry.about = readReview(entry.file).meta?.about ?? "";
      } catch {
        entry.about = "";
      }
    }
    return entry.about || undefined;
  }

  async replace(id: string, key: string, reason: string): Promise<void> {
    const file = this.of(id).get(key)?.file;
    if (file === undefined) this.of(id).delete(key);
    else if (await this.settle(id, key, file, reason)) this.view.deps.log(`stage ${id}: review ${file} resolved: ${reason}`);
  }

  isOpen(id: string, key: string): boolean {
    return this.of(id).get(key)?.file !== undefined;
  }

  /** Notes what the events say of the reviews (filed, by condition; resolved), and which conditions cleared. */
  observe(event: AutorunEvent): void {
    const id = event.stage;
    switch (event.type) {
      case "review_requested":
        // A question a stage's agent asked (no condition): settled once the stage is finished.
        if (!event.key && id !== undefined && this.isOwnFile(event.file)) this.questions.set(id, (this.questions.get(id) ?? new Set()).add(event.file));
        // A review about a condition is the monitor's own: filed under the home's review folder. One
        // named elsewhere was written by someone else (an agent can write events and files in its
        // worktree) and neither stands for the monitor's review nor acts when answered.
        if (!event.key || !this.isOwnFile(event.file)) return;
        this.of(id).set(event.key, { file: event.file, filed: true });
        if (id === undefined && event.key === "circuit") this.circuit.file = event.file;
        return;
      case "review_resolved":
        for (const [key, entry] of this.of(id)) if (entry.file === event.file) this.of(id).delete(key);
        if (id !== undefined) this.questions.get(id)?.delete(event.file);
        return;
      case "stage_retried":
        // A person runs it again: what its reviews asked about went with the attempt (not the
        // question a merged session leaves, whether later stages keep what it was allowed).
        for (const key of [...this.of(id).keys()]) this.release(id!, key);
        this.resolveLater(id, (k) => k !== "permissions", `stage ${id} was retried`);
        return;
      case "phase_status":
        if (this.isOpen(id!, "idle")) this.resolveLater(id, (k) => k === "idle", "the agent is working again");
        return;
      case "merge_complete":
        // (Not the question it leaves: whether later stages keep what its session was allowed.)
        this.resolveLater(id, (k) => k !== "permissions", `stage ${id} merged`);
        // Its agent's questions too: nobody reads their answers any more.
        if (id !== undefined) this.questionsDue.push({ id, reason: `stage ${id} merged` });
        return;
      case "stage_done_by_person":
      case "stage_skipped": {
        const reason = event.type === "stage_skipped" ? `stage ${id} was skipped` : `stage ${id} was merged by a person`;
        this.resolveLater(id, () => true, reason);
        if (id !== undefined) this.questionsDue.push({ id, reason });
        return;
      }
      case "stage_attention":
        if (id !== undefined && event.attention === null && event.reason === "dialog closed") {
          for (const key of [...this.of(id).keys()]) if (isDialogAttention(key)) this.release(id, key);
          this.resolveLater(id, isDialogAttention, "the dialog was answered");
        }
        return;
      case "circuit_closed":
        this.circuit.file = undefined;
        this.resolveLater(undefined, (k) => k === "circuit", "the circuit breaker was closed");
        return;
      case "budget_raised":
        if (event.scope === "run") this.resolveLater(undefined, (k) => k === "budget", `the run's budget was raised to ${dollars(event.limit_usd)}`);
        else for (const stage of Object.keys(this.view.status.stages)) this.resolveLater(stage, (k) => k === "budget", `the stage budget was raised to ${dollars(event.limit_usd)}`);
        return;
      default:
        return;
    }
  }

  resolveLater(id: string | undefined, keys: (key: string) => boolean, reason: string): void {
    this.due.push({ id, keys, reason });
  }

  /**
   * Files a review about condition `key` (one per condition; a restarted monitor knows it from the
   * events), about stage `id` or (undefined) the whole run.
   */
  async file(on: { id: string | undefined; key?: string; about?: string }, title: string, context: string, questions: ReviewQuestion[]): Promise<void> {
    const { id, key, about } = on;
    const { paths, log } = this.view.deps;
    // What an answer does is written in the review: the last question ends with the answers it takes.
    const actions = key ? actionsFor(key, id !== undefined, about) : [];
    const asked = actions.length ? questions.map((q, i) => (i === questions.length - 1 ? { ...q, question: `${q.question.trim()}\n\n${actionSentence(actions)}` } : q)) : questions;
    const file = await createReviewFile(paths.home, { title, context, questions: asked }, { ...(id !== undefined ? { stage: id } : {}), orch_dir: paths.dir, plan_name: this.view.status.plan_name, ...(key ? { key, actions: actions.map((a) => a.word) } : {}), ...(about !== undefined ? { about } : {}) });
    this.view.emit({ type: "review_requested", ...(id !== undefined ? { stage: id } : {}), file, title, ...(key ? { key } : {}) });
    log(`${id !== undefined ? `stage ${id}: ` : ""}asked a person: ${title} (${file})`);
  }

  /** Open reviews the monitor filed that have an answer now: about stage `id` (undefined: the run). */
  answered(): { id: string | undefined; key: string; file: string; answer: string; about?: string }[] {
    const out: { id: string | undefined; key: string; file: string; answer: string; about?: string }[] = [];
    const look = (id: string | undefined, open: Conditions) => {
      for (const [key, { file }] of open) {
        if (file === undefined || key === "circuit") continue; // the breaker is closed by checkCircuit, which reads its answer
        try {
          const r = readReview(file);
          // The file must still say it is the monitor's review of this run about this condition.
          if (!this.isOwnFile(file) || r.meta?.key !== key || r.meta.orch_dir !== this.view.deps.paths.dir || r.meta.stage !== id) continue;
          if (r.complete && !r.meta.resolved) out.push({ id, key, file, answer: r.answers[r.answers.length - 1]!.answer, ...(r.meta.about !== undefined ? { about: r.meta.about } : {}) });
        } catch {
          // gone or unreadable: nothing to act on
        }
      }
    };
    look(undefined, this.run);
    for (const id of Object.keys(this.view.status.stages)) look(id, this.of(id));
    return out;
  }

  /** Whether `file` says it is a review stage `id`'s agent filed in this run (one about no condition). */
  private agentsReview(file: string, id: string): boolean {
    try {
      const meta = readReview(file).meta;
      return meta !== undefined && meta.key === undefined && meta.orch_dir === this.view.deps.paths.dir && meta.stage === id;
    } catch {
      return false;
    }
  }

  /** Is `file` in the home's review folder, where only autorun's own commands write? */
  private isOwnFile(file: string): boolean {
    const rel = relative(reviewDir(this.view.deps.paths.home), resolve(file));
    return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) && !rel.includes("/");
  }

  /** Marks an answered review resolved with what its answer did (the file says so), and forgets it. */
  async settle(id: string | undefined, key: string, file: string, effect: string): Promise<boolean> {
    this.of(id).delete(key);
    if (!(await resolveReviewFile(file, effect, new Date(), { answered: true }).catch(() => false))) return false;
    this.view.emit({ type: "review_resolved", ...(id !== undefined ? { stage: id } : {}), file, reason: effect });
    return true;
  }

  /** An answer that could not be acted on: the review is open again, saying why. */
  async reopen(file: string, why: string): Promise<void> {
    await reopenReviewFile(file, why).catch(() => false);
  }

  /** Marks the open reviews whose condition cleared resolved (the file says so), and those of finished stages' agents. */
  async resolveDue(): Promise<void> {
    for (const { id, reason } of this.questionsDue.splice(0)) {
      for (const file of this.questions.get(id) ?? []) {
        this.questions.get(id)!.delete(file);
        if (!this.agentsReview(file, id)) continue;
        if (await resolveReviewFile(file, reason, new Date(), { answered: true }).catch(() => false)) {
          this.view.emit({ type: "review_resolved", stage: id, file, reason });
          this.view.deps.log(`stage ${id}: review ${file} resolved: ${reason}`);
        }
      }
    }
    for (const { id, keys, reason } of this.due.splice(0)) {
      const open = this.of(id);
      for (const [key, { file }] of [...open]) {
        if (file === undefined || !keys(key)) continue;
        open.delete(key);
        // Answered or not: the condition it asked about is gone.
        if (await resolveReviewFile(file, reason, new Date(), { answered: true }).catch(() => false)) {
          this.view.emit({ type: "review_resolved", ...(id !== undefined ? { stage: id } : {}), file, reason });
          this.view.deps.log(`${id !== undefined ? `stage ${id}: ` : ""}review ${file} resolved: ${reason}`);
        }
      }
    }
  }
}
