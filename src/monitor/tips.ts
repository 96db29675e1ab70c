/**
 * Every stage's last known tip, kept in `refs/autorun/<slug>/<id>` so that nothing a stage committed
 * can be lost: Claude Code deletes a `--worktree` session's branch on `/exit` when the session made
 * no commits since it started (a relaunched or retried stage's earlier commits with it). The tip is
 * recorded when the agent's turn ends (Stop), when it reports a phase, at its hand-over and before a
 * relaunch; a branch found missing is put back from it before the stage runs or merges again. The
 * ref goes when the stage's branch is deleted after its merge.
 */
import { restoreBranch, saveStageTip } from "../adapters/git-safety.js";
import * as git from "../adapters/git.js";
import { stageTipRef } from "../core/naming.js";
import type { AutorunEvent, Status } from "../types/schemas.js";

/** The stages whose tip may have moved since it was last recorded (the monitor's side). */
export class StageTips {
  private due = new Set<string>();
  /** The tips being recorded beside the monitor's passes. */
  private saving: Promise<void> | undefined;

  observe(event: AutorunEvent): void {
    if (event.stage !== undefined && (event.type === "agent_stopped" || event.type === "phase_status")) this.due.add(event.stage);
  }

  /**
   * `save` beside the monitor's passes (a git process per stage: a pass, and the stall or merge it
   * is for, does not wait for them); one round at a time, stages due meanwhile go in the next pass's.
   * A stage that merges or is relaunched records its tip itself first (`keepOrRestoreBranch`).
   */
  saveBeside(status: Status): void {
    if (this.saving || this.due.size === 0) return;
    this.saving = this.save(status).finally(() => {
      this.saving = undefined;
    });
  }

  /** Waits for the tips being recorded. */
  async settle(): Promise<void> {
    await this.saving;
  }

  /** Records the tip of every running stage whose turn ended or that reported a phase since the last call. */
  async save(status: Status): Promise<void> {
    const ids = [...this.due];
    this.due.clear();
    await Promise.all(
      ids.map(async (id) => {
        const stage = status.stages[id];
        if (stage?.status !== "in_progress" && stage?.status !== "merging") return;
        await saveStageTip(status.project_root, stageTipRef(status.project_slug, id), stage.branch).catch(() => false);
      }),
    );
  }
}

/**
 * Before a stage runs or merges again: its branch, recorded now when it exists, else put back from
 * the recorded tip. Says what it restored (for the log), or undefined.
 */
export async function keepOrRestoreBranch(status: Pick<Status, "project_root" | "project_slug">, id: string, branch: string): Promise<string | undefined> {
  const ref = stageTipRef(status.project_slug, id);
  if (await saveStageTip(status.project_root, ref, branch)) return undefined;
  if (await git.branchExists(status.project_root, branch)) return undefined;
  const tip = await restoreBranch(status.project_root, branch, ref);
  return tip ? `its branch ${branch} was gone (deleted with its worktree, as claude's /exit does); restored it at ${tip.slice(0, 10)}, its last recorded tip` : undefined;
}
