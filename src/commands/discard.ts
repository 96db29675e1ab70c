/**
 * `autorun discard <plan>`: ends a run for good — its monitor, sessions, worktrees, merged branches,
 * reviews and state — after saying what goes and asking, here and on the run's other hosts. A
 * branch with commits the base lacks, or a worktree with uncommitted files, is kept and named.
 */
import { existsSync, rmSync } from "node:fs";
import * as git from "../adapters/git.js";
import { createTmux } from "../adapters/tmux.js";
import { isAlive, signal } from "../adapters/process.js";
import { listReviewFiles, readReview } from "../state/review.js";
import { RuntimeError } from "../errors.js";
import { runningMonitor } from "../monitor/monitor-pid.js";
import { discardOnHosts, hostLines, lookOnHosts } from "../monitor/host-discard.js";
import type { Ctx } from "./ctx.js";
import { confirmed } from "./confirm.js";
import { resolveOrchestration } from "../state/orchestration.js";
import { orchestrateLockFile } from "../state/paths.js";

interface Plan {
  monitor: number | undefined;
  sessions: string[];
  worktrees: { path: string; dirty: string[] }[];
  branches: { branch: string; ahead: number }[];
  reviews: string[];
}

export async function runDiscard(ctx: Ctx, plan: string, opts: { yes?: boolean }): Promise<number> {
  const orch = resolveOrchestration(ctx, plan);
  const { status, paths } = orch;
  const root = status.project_root;
  const base = status.base_branch;
  const tmux = createTmux(orch.config.tmuxSocket);
  const todo: Plan = { monitor: runningMonitor(paths), sessions: [], worktrees: [], branches: [], reviews: [] };
  for (const s of Object.values(status.stages)) {
    if (await tmux.hasSession(s.session)) todo.sessions.push(s.session);
    if (existsSync(s.worktree)) todo.worktrees.push({ path: s.worktree, dirty: await git.dirtyFiles(s.worktree).catch(() => ["?"]) });
    if (existsSync(root) && (await git.branchExists(root, s.branch))) todo.branches.push({ branch: s.branch, ahead: await git.commitsAhead(root, `refs/heads/${base}`, `refs/heads/${s.branch}`).catch(() => -1) });
  }
  for (const file of listReviewFiles(ctx.home)) {
    try {
      if (readReview(file).meta?.orch_dir === paths.dir) todo.reviews.push(file);
    } catch {
      // unreadable: not known to be this run's
    }
  }
  // On other hosts: what the run's stages left there (a host that cannot be reached is named, and left).
  const hosts = await lookOnHosts(orch);
  const keptTrees = todo.worktrees.filter((w) => w.dirty.length > 0);
  // A branch checked out in a worktree that stays cannot go either.
  const inKeptTree = new Map(Object.values(status.stages).filter((s) => keptTrees.some((w) => w.path === s.worktree)).map((s) => [s.branch, s.worktree]));
  const kept = todo.branches.filter((b) => b.ahead !== 0 || inKeptTree.has(b.branch));
  const lines = [
    `Discard ${status.plan_name} (${status.status}, project ${root}):`,
    todo.monitor !== undefined ? `- stop its monitor (pid ${todo.monitor})` : "",
    todo.sessions.length ? `- end ${todo.sessions.length} tmux session(s): ${todo.sessions.join(", ")}` : "",
    todo.worktrees.length > keptTrees.length ? `- remove worktree(s): ${todo.worktrees.filter((w) => w.dirty.length === 0).map((w) => w.path).join(", ")}` : "",
    ...keptTrees.map((w) => `- keep worktree ${w.path}: it has uncommitted or untracked files (${w.dirty.slice(0, 5).join(", ")})`),
    todo.branches.length > kept.length ? `- delete merged branch(es): ${todo.branches.filter((b) => !kept.includes(b)).map((b) => b.branch).join(", ")}` : "",
    ...kept.map((b) =>
      b.ahead !== 0
        ? `- keep branch ${b.branch}: ${b.ahead > 0 ? `${b.ahead} commit(s)` : "commits"} ${base} does not have (delete it yourself with: git branch -D ${b.branch})`
        : `- keep branch ${b.branch}: it is checked out in the worktree kept above (once you have what you need from it: git -C ${root} worktree remove --force ${inKeptTree.get(b.branch)} && git -C ${root} branch -d ${b.branch})`,
    ),
    ...hosts.flatMap((h) => hostLines(h, base)),
    todo.reviews.length ? `- remove ${todo.reviews.length} review file(s)` : "",
    `- remove its state: ${paths.dir} and its log ${paths.monitorLog}`,
  ].filter(Boolean);
  for (const line of lines) ctx.out(line);
  if (!opts.yes && !(await confirmed(ctx, { question: "Discard it?", refusal: `discard removes ${status.plan_name} for good and asks first; run it in a terminal, or add --yes.` }))) return 1;
  if (todo.monitor !== undefined) {
    signal(todo.monitor, "SIGTERM");
    const deadline = Date.now() + 15_000;
    while (isAlive(todo.monitor) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (isAlive(todo.monitor)) throw new RuntimeError(`the monitor (pid ${todo.monitor}) did not stop within 15 s; nothing else was changed. Stop it with: kill ${todo.monitor}`);
  }
  for (const session of todo.sessions) await tmux.killSession(session);
  for (const w of todo.worktrees) if (w.dirty.length === 0 && !(await git.removeWorktree(root, w.path))) ctx.out(`could not remove worktree ${w.path}; remove it with: git worktree remove ${w.path}`);
  if (existsSync(root)) await git.pruneWorktrees(root);
  for (const b of todo.branches) if (!kept.includes(b)) await git.deleteMergedBranch(root, b.branch, base);
  for (const line of await discardOnHosts(orch, hosts)) ctx.out(`could not do all of it on ${line}; what is left there is listed above`);
  for (const file of todo.reviews) rmSync(file, { force: true });
  rmSync(paths.dir, { recursive: true, force: true });
  rmSync(paths.monitorLog, { force: true });
  rmSync(orchestrateLockFile(ctx.home, status.plan_name), { force: true });
  const keptThere = hosts.some((h) => h.unreached !== undefined || h.stages.some((s) => (s.worktree && s.worktree.dirty !== 0) || (s.branch && s.branch.ahead !== 0)));
  ctx.out(`Discarded ${status.plan_name}.${kept.length || keptTrees.length || keptThere ? " What was kept is listed above." : ""}`);
  return 0;
}
