/**
 * The monitor's side of merging: which stages are due for a merge, the merges and cleanups running
 * in the background (one per stage), a refused merge waiting on the person's checkout, a stage sent
 * back too often (a person is asked), and stages a person merged by hand. This part alone writes
 * that memory. It does not launch anything: `merge` returns what the merge did, and the controller
 * starts what waited for it.
 */
import * as git from "../adapters/git.js";
import { operationOnBase } from "../adapters/git-safety.js";
import type { AutorunEvent } from "../types/schemas.js";
import { cleanup } from "./cleanup.js";
import { isLocked, withLock } from "../state/lock.js";
import { mergeLockPath } from "./merge-plan.js";
import { handMergedAmong } from "./finish.js";
import { MAX_SEND_BACKS, mergeStage, type MergeOutcome } from "./merge.js";
import type { ReviewDesk, RunView } from "./parts.js";
import { memoryOf } from "./parts.js";
import type { Worktrees } from "./worktrees.js";

interface MergeMemory {
  /** When a merge was refused for the person's uncommitted files (`refusedFiles`), retried once they are clear. */
  refusedAt?: number;
  refusedFiles?: string[];
  /** Sent back too often with the same commit: a person was asked, so no more nudges. */
  stuck?: boolean;
}

export class MergeQueue {
  private readonly memory = new Map<string, MergeMemory>();
  /** Merges and cleanups in flight, by stage. */
  private readonly running = new Map<string, Promise<void>>();
  /** The base tip when stages were last looked at for a merge of a person's own. */
  private baseSeen: string | undefined;

  constructor(
    private readonly view: Pick<RunView, "deps" | "status" | "ingest" | "emit">,
    private readonly reviews: Pick<ReviewDesk, "file" | "filed" | "claim">,
    private readonly worktrees: Worktrees,
  ) {}

  private mem(id: string): MergeMemory {
    return memoryOf(this.memory, id, () => ({}));
  }

  observe(event: AutorunEvent): void {
    if (event.stage === undefined) return;
    const m = this.mem(event.stage);
    switch (event.type) {
      case "merge_conflict":
        if (event.commit !== undefined) {
          const tip = event.commit;
          m.stuck = (this.view.status.stages[event.stage]?.send_backs.filter((c) => c === tip).length ?? 0) > MAX_SEND_BACKS;
        }
        if (event.reason === "checkout_overlap") Object.assign(m, { refusedAt: this.view.deps.clock.now(), refusedFiles: event.files });
        break;
      case "phase_status":
      case "stage_retried":
        m.stuck = false;
        break;
      case "merge_complete":
      case "stage_done_by_person":
      case "stage_skipped":
        m.refusedAt = undefined;
        break;
      default:
        break;
    }
  }

  /** The stage waits for its merge (the person's checkout, or a person asked): not a stall. */
  waitsForMerge(id: string): boolean {
    const m = this.memory.get(id);
    return m !== undefined && (m.refusedAt !== undefined || m.stuck === true);
  }

  /** A merge or cleanup of stage `id` is under way. */
  busy(id: string): boolean {
    return this.running.has(id);
  }

  /** Any merge or cleanup is under way (the run is not over while one is). */
  get active(): boolean {
    return this.running.size > 0;
  }

  /** Runs `job` for stage `id` in the background, known as under way until it ends; then another pass. */
  track(id: string, what: string, job: () => Promise<void>): void {
    const run = job()
      .catch((error: Error) => this.view.deps.log(`stage ${id}: ${what} failed: ${error.message}`))
      .finally(() => {
        this.running.delete(id);
        this.view.deps.wake?.();
      });
    this.running.set(id, run);
  }

  /** Waits for the merges and cleanups in flight. */
  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()]);
  }

  /** A refused merge is tried again now, whatever the checkout. */
  forgetRefusal(id: string): void {
    this.mem(id).refusedAt = undefined;
  }

  /**
   * Stages ready for a merge and not being merged: handed over, left mid-merge, or refused for the
   * person's checkout which is clear now (looked at 2 s after the refusal at the soonest).
   */
  async due(): Promise<string[]> {
    const now = this.view.deps.clock.now();
    const ids: string[] = [];
    for (const [id, stage] of Object.entries(this.view.status.stages)) {
      if (this.running.has(id)) continue;
      const m = this.mem(id);
      const retryRefused = stage.status === "in_progress" && m.refusedAt !== undefined && now - m.refusedAt > 2_000 && (await this.checkoutClear(m.refusedFiles ?? []));
      if (!((stage.status === "in_progress" && stage.implement_done) || stage.status === "merging" || retryRefused)) continue;
      if (retryRefused) m.refusedAt = undefined;
      ids.push(id);
    }
    return ids;
  }

  /** Merges stage `id` (under the project's merge lock) and asks a person when it waits on them. */
  async merge(id: string): Promise<MergeOutcome> {
    const { tmux, paths, config, log, clock } = this.view.deps;
    const result = await mergeStage({ tmux, paths, config, log, clock, worktrees: this.worktrees }, id);
    this.view.ingest();
    if (result.kind === "refused") {
      this.mem(id).refusedFiles = result.files;
      await this.ask({ id, key: `refused:${result.reason}` }, `Stage ${id} waits to merge: your checkout is in its way`, result.detail, {
        topic: "Unblock the merge",
        question: `${result.detail}. Commit those changes, stash them (\`git stash -u\` takes untracked files too) or move them aside (or finish what you are in the middle of); autorun merges as soon as they are out of the way (or run \`autorun merge ${this.view.status.plan_name} ${id}\`).`,
      });
    }
    if (result.kind === "stuck" && result.reason === "guarded_files") {
      await this.ask({ id, key: `stuck:${result.reason}` }, `Stage ${id} changes the run's checks or rights: a person merges it`, result.detail, { topic: "Merge it or not", question: `${result.detail}. Write what you decided.` });
    }
    if (result.kind === "stuck") {
      const s = this.view.status;
      await this.ask({ id, key: `stuck:${result.reason}` }, `Stage ${id} keeps handing over work that cannot merge`, result.detail, {
        topic: "Help the stage",
        question: `autorun sent stage ${id} back ${MAX_SEND_BACKS} times with the same commit (${result.reason.replace(/_/g, " ")}). Attach (\`autorun attach ${s.plan_name} ${id}\`) and help it, or merge its branch yourself (\`git merge --no-ff ${s.stages[id]!.branch}\` on ${s.base_branch}).`,
      });
    }
    return result;
  }

  /** One review per condition of the stage. */
  private async ask(on: { id: string; key: string }, title: string, detail: string, question: { topic: string; question: string }): Promise<void> {
    const { id, key } = on;
    if (this.reviews.filed(id, key)) return;
    this.reviews.claim(id, key);
    await this.reviews.file({ id, key }, title, detail, [question]);
  }

  /**
   * Stages a person merged by hand (`git merge` of the stage branch into the base): recorded as
   * done, their session ended and worktree removed as after a merge, and their dependants go on.
   * Looked for whenever the base tip moved.
   */
  async adoptHandMerges(): Promise<void> {
    const { project_root: root, base_branch: base } = this.view.status;
    const open = Object.entries(this.view.status.stages).filter(([, st]) => st.status === "in_progress" || st.status === "failed");
    const candidates = open.filter(([id]) => !this.running.has(id));
    if (candidates.length === 0) return;
    // Read from the ref's file, not by starting git: this runs on every pass.
    const tip = git.refFromFiles(root, `refs/heads/${base}`) ?? (await git.headCommit(root, `refs/heads/${base}`).catch(() => undefined));
    if (tip === undefined || tip === this.baseSeen) return;
    // A stage being merged now is looked at again once its merge is over, even if the base stays.
    if (candidates.length === open.length) this.baseSeen = tip;
    for (const [id, commit] of await handMergedAmong(root, base, candidates)) {
      const stage = this.view.status.stages[id]!;
      // Read after git and recorded under the project's merge lock, as a person's done or skip
      // is: a merge of autorun's own is recorded before it moves the base, and a done or skip
      // that took the lock first has its say. A held lock is not waited for (a merge's checks may
      // take minutes): the base is looked at again at a later pass.
      const lock = mergeLockPath(this.view.deps.paths.home, root);
      if (isLocked(lock)) {
        this.baseSeen = undefined;
        return;
      }
      const recorded = await withLock(lock, async () => {
        this.view.ingest();
        const now = this.view.status.stages[id]!;
        if ((now.status !== "in_progress" && now.status !== "failed") || this.running.has(id)) return false;
        this.view.emit({ type: "stage_done_by_person", stage: id, how: "detected", commit, detail: `${now.branch} is in ${base}, merged by a person` });
        return true;
      }, 5_000).catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ELOCKED") return false;
        throw error;
      });
      if (!recorded) continue;
      this.view.deps.log(`stage ${id}: ${stage.branch} was merged into ${base} by hand; the stage is done and what waits for it goes on`);
      this.cleanupFinished(id);
    }
  }

  /** Ends the session and removes the worktree of a stage a person merged, as after a merge (in the background). */
  cleanupFinished(id: string): void {
    const { project_root: root, base_branch: base } = this.view.status;
    const stage = this.view.status.stages[id]!;
    this.track(id, "cleanup after the merge by hand", () => cleanup(this.view.deps, { id, stage, root, base }));
  }

  /** The person's checkout no longer has uncommitted changes to any of `files`. */
  private async checkoutClear(files: readonly string[]): Promise<boolean> {
    const s = this.view.status;
    if (await operationOnBase(s.project_root, s.base_branch)) return false;
    const checkout = await git.checkoutOf(s.project_root, s.base_branch);
    if (!checkout) return true;
    const dirty = new Set(await git.dirtyFiles(checkout));
    return !files.some((f) => dirty.has(f));
  }
}
