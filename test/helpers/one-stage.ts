/**
 * The run the monitor's unit tests start from (over a fake tmux and clock): a temp dir with an
 * autorun home, and a one-stage orchestration whose stage 1 runs in session `p_stage-1`.
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appendEvent } from "../../src/state/events.js";
import { orchPaths, type OrchPaths } from "../../src/state/paths.js";

/** The fake clock's start. */
export const T0 = Date.parse("2026-01-01T00:00:00.000Z");

/** A temp dir (`prefix…`) holding the home (`home/`) and the stage's worktree (`wt/`). */
export function oneStageDir(prefix: string): { dir: string; paths: OrchPaths } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const paths = orchPaths(join(dir, "home"), "p", "p");
  mkdirSync(paths.stagesDir, { recursive: true });
  mkdirSync(join(dir, "wt"), { recursive: true });
  return { dir, paths };
}

/** Every event's identity fields for this orchestration. */
export const identOf = (paths: OrchPaths) => ({ orch_dir: paths.dir, plan_name: "p", project_slug: "p" });

/** The orchestration started, stage 1 launched in `p_stage-1` with its worktree at `dir/wt`. */
export function startOneStage(dir: string, paths: OrchPaths): void {
  appendEvent(paths.events, {
    ...identOf(paths), type: "orchestration_started", plan_path: join(dir, "p.md"), project_root: dir, base_branch: "main", waves: [["1"]], max_parallel: 1, schedule: "eager",
    stages: [{ id: "1", name: "Only", depends_on: [], wave: 1, context_file: join(paths.stagesDir, "stage-1-context.md"), branch: "b1", worktree: join(dir, "wt"), session: "p_stage-1" }],
  });
  appendEvent(paths.events, { ...identOf(paths), type: "stage_launched", stage: "1", session: "p_stage-1", session_id: "11111111-1111-4111-8111-111111111111", attempt: 1 });
}
