/**
 * The stages' worktrees as one process makes them: the adds in flight (a second launcher waits for
 * the checkout to finish), those made ahead at a merge commit (one still there needs no git call
 * to know it), how many `git worktree add` run at once, and when a worktree found for a stage about
 * to start is brought to the base tip. One object per process (the monitor's, or orchestrate's),
 * handed to the launcher and the merge; nothing of it is module state.
 */
import { existsSync } from "node:fs";
import * as git from "../adapters/git.js";
import type { Status } from "../types/schemas.js";
import { stagesToLaunch } from "../core/scheduler.js";
import { MERGE_SUBJECT_PREFIX } from "../core/naming.js";
import { onThisMachine } from "../core/hosts.js";

type Stage = Status["stages"][string];

/** At most this many `git worktree add` at once: more only queue for the same cores. */
const ADDS_AT_ONCE = 4;

export class Worktrees {
  /**
   * `elsewhere`: what makes ready, on another host, the stages `ids` pinned there (the merge commit
   * pushed to it and their worktrees made there while the merge is checked).
   */
  constructor(private readonly elsewhere?: (host: string, commit: string, ids: readonly string[]) => void) {}

  /** Worktrees being created, so a second launcher waits for the checkout to finish. */
  private readonly creating = new Map<string, Promise<void>>();
  /** Worktrees made ahead at a merge commit, and that commit. */
  private readonly madeAt = new Map<string, string>();
  private adds = 0;
  private readonly waiting: (() => void)[] = [];

  /** `git worktree add` for a stage (see git.addStageWorktree), a few at a time. */
  async add(root: string, dir: string, branch: string, start: string): Promise<"made at start" | "existing branch"> {
    // A slot, or a wait for one that ends by being handed its slot.
    if (this.adds < ADDS_AT_ONCE) this.adds++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await git.addStageWorktree(root, dir, branch, start);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.adds--;
    }
  }

  /** The worktree is being made now (by this process). */
  inFlight(worktree: string): boolean {
    return this.creating.has(worktree);
  }

  /** From here on the stage's agent changes the worktree: what it was made at no longer says anything. */
  handedOver(worktree: string): void {
    this.madeAt.delete(worktree);
  }

  /**
   * The stage's worktree at the tip of the base branch: created there unless it exists (or is being
   * created). One that exists for a stage about to start (made ahead at a merge commit that did not
   * become the tip, or by a monitor that stopped) is brought to the tip when it holds no work. `tip`:
   * the commit a merge just made the tip, when the caller is that merge.
   */
  async ensure(status: Status, stage: Stage, tip?: string): Promise<void> {
    const inflight = this.creating.get(stage.worktree);
    if (inflight) await inflight.catch(() => undefined);
    if (existsSync(stage.worktree)) {
      if (stage.status !== "pending") return;
      // Made ahead at the very commit the caller's merge made the tip: nothing to ask git. Anything
      // else is compared with the tip as it is now (the base may have moved on since `tip`).
      if (tip !== undefined && this.madeAt.get(stage.worktree) === tip) return;
      return this.toTip(status, stage);
    }
    const job = this.add(status.project_root, stage.worktree, stage.branch, `refs/heads/${status.base_branch}`)
      // A branch that existed already (left by a monitor killed while it made this worktree ahead,
      // at a merge commit that never became the tip) is brought to the tip like a worktree found.
      .then(async (how) => {
        if (how === "existing branch" && stage.status === "pending") await this.toTip(status, stage);
      })
      .catch(async (error: unknown) => {
        // Made meanwhile by another process: a second launcher, or the git of a monitor killed while
        // it made this worktree ahead at a merge commit that then never became the tip. Once that
        // add is over, the worktree is brought to the tip like any worktree found.
        if (!existsSync(stage.worktree)) throw error;
        await git.worktreeAddOver(stage.worktree);
        if (stage.status === "pending") await this.toTip(status, stage);
      })
      .finally(() => this.creating.delete(stage.worktree));
    this.creating.set(stage.worktree, job);
    return job;
  }

  /**
   * A worktree found for a stage about to start, brought to the base tip as it is now when it holds
   * no work of its own: nothing on its first-parent line beyond the tip but autorun's merge commits
   * (one made ahead that did not become the tip) and nothing uncommitted. Anything else (a retried
   * stage's earlier work) is left as it is.
   */
  private async toTip(status: Status, stage: Stage): Promise<void> {
    const target = await git.headCommit(status.project_root, `refs/heads/${status.base_branch}`);
    if (this.madeAt.get(stage.worktree) === target) return;
    const head = await git.worktreeHead(stage.worktree);
    if (!head || head === target) return;
    // Its own line only: a merge commit made ahead brings the merged stage's commits in through its
    // second parent, and they are that stage's work, not this one's (a merge whose check failed, or a
    // stage a person skipped, must not come in through its dependant).
    const beyond = await git.firstParentSubjects(stage.worktree, target, head);
    if (beyond.some((subject) => !subject.startsWith(MERGE_SUBJECT_PREFIX))) return;
    if (await git.hasTrackedChanges(stage.worktree)) return;
    await git.resetWorktree(stage.worktree, target);
  }

  /**
   * Makes, ahead of time, the worktrees of the stages `ids` at `commit`, the base tip they will start
   * from: the slowest step of their launch then runs beside what comes before it (a merge being
   * checked and moving the base, orchestrate writing its files), and a launch told that tip needs no
   * git call for them. Best effort: a launch brings what it finds to the base tip. Resolves to the
   * stages whose worktree this call made.
   */
  makeAhead(status: Status, ids: readonly string[], commit: string): Promise<string[]> {
    const made: Promise<string | undefined>[] = [];
    for (const id of ids) {
      const stage = status.stages[id];
      if (!stage || this.creating.has(stage.worktree) || existsSync(stage.worktree)) continue;
      const job = this.add(status.project_root, stage.worktree, stage.branch, commit)
        .then((how) => void (how === "made at start" && this.madeAt.set(stage.worktree, commit)))
        .finally(() => this.creating.delete(stage.worktree));
      this.creating.set(stage.worktree, job);
      made.push(job.then(() => id, () => undefined));
    }
    return Promise.all(made).then((all) => all.filter((id): id is string => id !== undefined));
  }

  /** The worktrees of the stages that merging `merged` (as `commit`, the next base tip) would launch. */
  prepareFor(status: Status, merged: string, commit: string): void {
    const after: Status = { ...status, stages: { ...status.stages, [merged]: { ...status.stages[merged]!, status: "completed" } } };
    // Not for a stage pinned to another host: it gets its worktree there, and one made here would
    // only take CPU from its launch (and be removed after it); the commit goes there instead.
    const pinned = (id: string) => status.stages[id]!.settings.host;
    const next = stagesToLaunch(after).filter((id) => status.stages[id]!.depends_on.includes(merged));
    void this.makeAhead(status, next.filter((id) => onThisMachine(pinned(id))), commit);
    for (const host of new Set(next.map(pinned))) {
      if (!onThisMachine(host)) this.elsewhere?.(host, commit, next.filter((id) => pinned(id) === host));
    }
  }
}
