/**
 * The reviews the monitor files and resolves: one per condition (a restarted monitor knows which
 * are open from the events), about a stage or the whole run; marked resolved, once the events
 * that cleared their condition are folded in, when it cleared by itself.
 */
import { createReviewFile, resolveReviewFile } from "../state/review.js";
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
      if (!event.key) return;
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
    const file = await createReviewFile(paths.home, title, context, questions, { ...(id !== undefined ? { stage: id } : {}), orch_dir: paths.dir, plan_name: this.host.status.plan_name });
    this.host.emit({ type: "review_requested", ...(id !== undefined ? { stage: id } : {}), file, title, ...(key ? { key } : {}) });
    log(`${id !== undefined ? `stage ${id}: ` : ""}asked a person: ${title} (${file})`);
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
        if (await resolveReviewFile(file, reason).catch(() => false)) {
          this.host.emit({ type: "review_resolved", ...(id !== undefined ? { stage: id } : {}), file, reason });
          this.host.deps.log(`${id !== undefined ? `stage ${id}: ` : ""}review ${file} resolved: ${reason}`);
        }
      }
    }
  }
}
