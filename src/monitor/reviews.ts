/**
 * The reviews the monitor files and resolves: one per condition (a restarted monitor knows which
 * are open from the events), about a stage or the whole run; marked resolved, once the events
 * that cleared their condition are folded in, when it cleared by itself.
 */
import { relative, isAbsolute, resolve } from "node:path";
import { createReviewFile, readReview, reopenReviewFile, resolveReviewFile } from "../state/review.js";
import { reviewDir } from "../state/paths.js";
import { actionSentence, actionsFor } from "../core/review-actions.js";
import type { AutorunEvent } from "../state/schemas.js";
import type { MonitorHost } from "./attention.js";

type Host = Pick<MonitorHost, "deps" | "status" | "mem" | "emit">;

export class Reviews {
  /** Conditions that cleared, whose reviews are resolved at the next pass (`id` undefined: the run's own). */
  private readonly due: { id: string | undefined; keys: (key: string) => boolean; reason: string }[] = [];
  /** Open reviews about the whole run (the budget, the circuit breaker), by condition. */
  private readonly runOpen = new Map<string, string>();
  /** The circuit breaker's open review, whose answer closes it. */
  readonly circuit: { file?: string } = {};

  constructor(private readonly host: Host) {}

  /** Notes what the events say of the reviews: filed (by condition) and resolved. */
  observe(event: AutorunEvent): void {
    if (event.type !== "review_requested" && event.type !== "review_resolved") return;
    const m = event.stage === undefined ? undefined : this.host.mem(event.stage);
    const open = m ? m.reviewFiles : this.runOpen;
    if (event.type === "review_requested") {
      // A review about a condition is the monitor's own: filed under the home's review folder. One
      // named elsewhere was written by someone else (an agent can write events and files in its
      // worktree) and neither stands for the monitor's review nor acts when answered.
      if (!event.key || !this.isOwnFile(event.file)) return;
      m?.reviewFiled.add(event.key);
      open.set(event.key, event.file);
      if (!m && event.key === "circuit") this.circuit.file = event.file;
      return;
    }
    for (const [key, file] of open) {
      if (file !== event.file) continue;
      open.delete(key);
      m?.reviewFiled.delete(key);
    }
  }

  /** The reviews about `keys` of stage `id` (undefined: the run) are to be resolved: `reason` cleared them. */
  resolveLater(id: string | undefined, keys: (key: string) => boolean, reason: string): void {
    this.due.push({ id, keys, reason });
  }

  /**
   * Files a review about condition `key` (one per condition; a restarted monitor knows it from the
   * events), about stage `id` or (undefined) the whole run.
   */
  async file(id: string | undefined, title: string, context: string, questions: { topic: string; question: string }[], key?: string): Promise<void> {
    const { paths, log } = this.host.deps;
    // What an answer does is written in the review: the last question ends with the answers it takes.
    const actions = key ? actionsFor(key, id !== undefined) : [];
    const asked = actions.length ? questions.map((q, i) => (i === questions.length - 1 ? { ...q, question: `${q.question.trim()}\n\n${actionSentence(actions)}` } : q)) : questions;
    const file = await createReviewFile(paths.home, title, context, asked, { ...(id !== undefined ? { stage: id } : {}), orch_dir: paths.dir, plan_name: this.host.status.plan_name, ...(key ? { key, actions: actions.map((a) => a.word) } : {}) });
    this.host.emit({ type: "review_requested", ...(id !== undefined ? { stage: id } : {}), file, title, ...(key ? { key } : {}) });
    log(`${id !== undefined ? `stage ${id}: ` : ""}asked a person: ${title} (${file})`);
  }

  /** Open reviews the monitor filed that have an answer now: about stage `id` (undefined: the run). */
  answered(): { id: string | undefined; key: string; file: string; answer: string }[] {
    const out: { id: string | undefined; key: string; file: string; answer: string }[] = [];
    const look = (id: string | undefined, open: Map<string, string>) => {
      for (const [key, file] of open) {
        if (key === "circuit") continue; // closed by checkCircuit, which reads its answer
        try {
          const r = readReview(file);
          // The file must still say it is the monitor's review of this run about this condition.
          if (!this.isOwnFile(file) || r.meta?.key !== key || r.meta.orch_dir !== this.host.deps.paths.dir) continue;
          if (r.complete && !r.meta.resolved) out.push({ id, key, file, answer: r.answers[r.answers.length - 1]!.answer });
        } catch {
          // gone or unreadable: nothing to act on
        }
      }
    };
    look(undefined, this.runOpen);
    for (const id of Object.keys(this.host.status.stages)) look(id, this.host.mem(id).reviewFiles);
    return out;
  }

  /** Is `file` in the home's review folder, where only autorun's own commands write? */
  private isOwnFile(file: string): boolean {
    const rel = relative(reviewDir(this.host.deps.paths.home), resolve(file));
    return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) && !rel.includes("/");
  }

  /** Marks an answered review resolved with what its answer did (the file says so), and forgets it. */
  async settle(id: string | undefined, key: string, file: string, effect: string): Promise<void> {
    const m = id === undefined ? undefined : this.host.mem(id);
    (m ? m.reviewFiles : this.runOpen).delete(key);
    m?.reviewFiled.delete(key);
    if (await resolveReviewFile(file, effect, new Date(), { answered: true }).catch(() => false)) {
      this.host.emit({ type: "review_resolved", ...(id !== undefined ? { stage: id } : {}), file, reason: effect });
    }
  }

  /** An answer that could not be acted on: the review is open again, saying why. */
  async reopen(file: string, why: string): Promise<void> {
    await reopenReviewFile(file, why).catch(() => false);
  }

  /** Marks the open reviews whose condition cleared resolved (the file says so). */
  async resolveDue(): Promise<void> {
    for (const { id, keys, reason } of this.due.splice(0)) {
      const m = id === undefined ? undefined : this.host.mem(id);
      const open = m ? m.reviewFiles : this.runOpen;
      for (const [key, file] of [...open]) {
        if (!keys(key)) continue;
        open.delete(key);
        m?.reviewFiled.delete(key);
        // Answered or not: the condition it asked about is gone.
        if (await resolveReviewFile(file, reason, new Date(), { answered: true }).catch(() => false)) {
          this.host.emit({ type: "review_resolved", ...(id !== undefined ? { stage: id } : {}), file, reason });
          this.host.deps.log(`${id !== undefined ? `stage ${id}: ` : ""}review ${file} resolved: ${reason}`);
        }
      }
    }
  }
}
