/**
 * Where a stage's agent works: its SessionStart hook names its directory (`cwd`), which must be the
 * stage's worktree. An agent elsewhere (in the person's checkout, where it would commit onto the
 * base branch) is ended before it acts: its program is stopped, the pane stays dead for the
 * monitor, which relaunches the stage in its worktree (a second death fails the stage).
 */
import { realpathSync } from "node:fs";
import { resolve, sep } from "node:path";
import { ownPane } from "../adapters/tmux.js";
import { readFirstLine } from "../state/append.js";
import type { OrchPaths } from "../state/paths.js";

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** Is `cwd` the worktree or a directory inside it? */
export function isInside(cwd: string, worktree: string): boolean {
  const dir = real(cwd);
  const root = real(worktree);
  return dir === root || dir.startsWith(root.endsWith(sep) ? root : `${root}${sep}`);
}

/**
 * Why this session must end, when the hook's `cwd` is not the stage's worktree: undefined when it
 * is, or when the payload names no directory (an agent other than Claude Code may not). On another
 * host the stage's worktree is that host's (`hostWorktree`, which its launch puts in the session's
 * environment): the run's record names the controller's.
 */
export async function misplaced(paths: OrchPaths, stage: string, cwd: unknown, hostWorktree?: string): Promise<{ reason: string; session: string } | undefined> {
  if (typeof cwd !== "string" || !cwd.startsWith("/") || cwd.includes("\0") || cwd.length > 4096) return undefined;
  // The run's first event names every planned stage's worktree and session: one line read, where
  // the whole log (which grows all run) would be folded, and no schema loaded (this runs at every
  // session's start). A stage the plan gained later is folded for.
  const record = plannedPlace(paths, stage) ?? (await import("../state/status.js")).loadStatus(paths)?.stages[stage];
  const worktree = hostWorktree?.startsWith("/") ? hostWorktree : record?.worktree;
  if (!record || !worktree || isInside(cwd, worktree)) return undefined;
  return { reason: `started in ${cwd}, not in its worktree ${worktree}; autorun ended it before it acted`, session: record.session };
}

/** A stage's worktree and session as the run's first event (orchestration_started) names them. */
function plannedPlace(paths: OrchPaths, stage: string): { worktree: string; session: string } | undefined {
  const first = readFirstLine(paths.events);
  if (first?.type !== "orchestration_started" || !Array.isArray(first.stages)) return undefined;
  const found: unknown = first.stages.find((s: unknown) => typeof s === "object" && s !== null && (s as { id?: unknown }).id === stage);
  const { worktree, session } = (found ?? {}) as { worktree?: unknown; session?: unknown };
  return typeof worktree === "string" && typeof session === "string" ? { worktree, session } : undefined;
}

/**
 * Ends the program of the pane this hook runs in (its whole process group, this hook included),
 * if that pane is the stage's own session: the pane stays, dead, for the monitor to see.
 */
export async function endOwnPane(session: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const pane = await ownPane(env).catch(() => undefined);
  if (!pane || pane.session !== session || pane.pid <= 1) return false;
  for (const target of [-pane.pid, pane.pid]) {
    try {
      process.kill(target, "SIGTERM");
      return true;
    } catch {
      // No such group (the program made its own): the program alone.
    }
  }
  return false;
}
