/**
 * `autorun discard <plan>`: ends a run for good — its monitor, sessions, worktrees, merged branches,
 * reviews and state — after saying what goes and asking, here and on the run's other hosts. A
 * branch with commits the base lacks, or a worktree with uncommitted files, is kept and named; the
 * notes kept from merged stages' worktrees go beside the run's report, which stays.
 *
 * What is done is looked at again once the monitor has stopped: a monitor still at work when the
 * list was shown may have merged a stage meanwhile (its worktree's files then kept with the run's
 * notes), and nothing a person was told is kept may be removed.
 */
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import * as git from "../adapters/git.js";
import { createTmux, type Tmux } from "../adapters/tmux.js";
import { isAlive, signal } from "../adapters/process.js";
import { listReviewFiles, readReview } from "../state/review.js";
import { RuntimeError } from "../errors.js";
import { runningMonitor } from "../monitor/monitor-pid.js";
import { discardOnHosts, hostLines, lookOnHosts, type HostLook } from "../monitor/host-discard.js";
import type { Ctx } from "./ctx.js";
import { confirmed } from "./confirm.js";
import { resolveOrchestration, type LoadedOrchestration } from "../state/orchestration.js";
import { orchestrateLockFile, reportsDir } from "../state/paths.js";

/** What discarding the run would do now. */
interface Look {
  orch: LoadedOrchestration;
  monitor: number | undefined;
  sessions: string[];
  worktrees: { path: string; dirty: string[] }[];
  branches: { branch: string; ahead: number }[];
  /** Branches kept: commits the base lacks, or checked out in a worktree that is kept (with it). */
  kept: { branch: string; ahead: number }[];
  inKeptTree: Map<string, string>;
  reviews: string[];
  /** Notes kept from merged stages' worktrees (in the run's state), and where they go. */
  notes: { id: string; from: string }[];
  notesTo: string;
  reports: string[];
  hosts: HostLook[];
}

export async function runDiscard(ctx: Ctx, plan: string, opts: { yes?: boolean }): Promise<number> {
  const first = resolveOrchestration(ctx, plan);
  const tmux = createTmux(first.config.tmuxSocket);
  const shown = await look(ctx, first, tmux);
  const said = lines(shown);
  for (const line of said) ctx.out(line);
  const name = shown.orch.status.plan_name;
  if (!opts.yes && !(await confirmed(ctx, { question: "Discard it?", refusal: `discard removes ${name} for good and asks first; run it in a terminal, or add --yes.` }))) return 1;
  if (shown.monitor !== undefined) {
    signal(shown.monitor, "SIGTERM");
    const deadline = Date.now() + 15_000;
    while (isAlive(shown.monitor) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (isAlive(shown.monitor)) throw new RuntimeError(`the monitor (pid ${shown.monitor}) did not stop within 15 s; nothing else was changed. Stop it with: kill ${shown.monitor}`);
  }
  // A monitor at work may have moved the run on since the list was made: what is done is what is there now.
  const now = shown.monitor !== undefined ? await look(ctx, resolveOrchestration(ctx, plan), tmux) : shown;
  const after = lines(now).slice(1);
  if (after.some((l) => !said.includes(l))) {
    ctx.out(`${name} moved on before its monitor stopped; what is done instead:`);
    for (const line of after) ctx.out(line);
  }
  await carryOut(ctx, now, tmux);
  const keptThere = now.hosts.some((h) => h.unreached !== undefined || h.stages.some((s) => (s.worktree && s.worktree.dirty !== 0) || (s.branch && s.branch.ahead !== 0)));
  const keptHere = now.kept.length > 0 || now.worktrees.some((w) => w.dirty.length > 0) || now.notes.length > 0;
  ctx.out(`Discarded ${name}.${keptHere || keptThere ? " What was kept is listed above." : ""}`);
  return 0;
}

async function look(ctx: Ctx, orch: LoadedOrchestration, tmux: Tmux): Promise<Look> {
  const { status, paths } = orch;
  const root = status.project_root;
  const base = status.base_branch;
  const sessions: string[] = [];
  const worktrees: Look["worktrees"] = [];
  const branches: Look["branches"] = [];
  for (const s of Object.values(status.stages)) {
    if (await tmux.hasSession(s.session)) sessions.push(s.session);
    if (existsSync(s.worktree)) worktrees.push({ path: s.worktree, dirty: await git.dirtyFiles(s.worktree).catch(() => ["?"]) });
    if (!existsSync(root)) continue;
    // The stage's branch, and its earlier attempts kept by `retry --fresh-worktree` (`<branch>-attempt-<n>`).
    const own = (await git.branchExists(root, s.branch)) ? [s.branch] : [];
    for (const branch of [...own, ...(await git.listBranches(root, `${s.branch}-attempt-*`).catch(() => []))]) {
      branches.push({ branch, ahead: await git.commitsAhead(root, `refs/heads/${base}`, `refs/heads/${branch}`).catch(() => -1) });
    }
  }
  const reviews = listReviewFiles(ctx.home).filter((file) => {
    try {
      return readReview(file).meta?.orch_dir === paths.dir;
    } catch {
      return false; // unreadable: not known to be this run's
    }
  });
  // A branch checked out in a worktree that stays cannot go either.
  const keptTrees = worktrees.filter((w) => w.dirty.length > 0);
  const inKeptTree = new Map(Object.values(status.stages).filter((s) => keptTrees.some((w) => w.path === s.worktree)).map((s) => [s.branch, s.worktree]));
  const notes = Object.entries(status.stages).flatMap(([id, s]) => (s.kept_files && s.kept_files.startsWith(`${paths.dir}/`) && existsSync(s.kept_files) ? [{ id, from: s.kept_files }] : []));
  const reports = ["md", "json"].map((ext) => join(reportsDir(ctx.home), `${status.plan_name}.${ext}`)).filter((f) => existsSync(f));
  return {
    orch,
    monitor: runningMonitor(paths),
    sessions,
    worktrees,
    branches,
    kept: branches.filter((b) => b.ahead !== 0 || inKeptTree.has(b.branch)),
    inKeptTree,
    reviews,
    notes,
    notesTo: join(reportsDir(ctx.home), `${status.plan_name}-notes`),
    reports,
    // On other hosts: what the run's stages left there (a host that cannot be reached is named, and left).
    hosts: await lookOnHosts(orch),
  };
}

function lines(l: Look): string[] {
  const { status, paths } = l.orch;
  const { project_root: root, base_branch: base } = status;
  const keptTrees = l.worktrees.filter((w) => w.dirty.length > 0);
  return [
    `Discard ${status.plan_name} (${status.status}, project ${root}):`,
    l.monitor !== undefined ? `- stop its monitor (pid ${l.monitor})` : "",
    l.sessions.length ? `- end ${l.sessions.length} tmux session(s): ${l.sessions.join(", ")}` : "",
    l.worktrees.length > keptTrees.length ? `- remove worktree(s): ${l.worktrees.filter((w) => w.dirty.length === 0).map((w) => w.path).join(", ")}` : "",
    ...keptTrees.map((w) => `- keep worktree ${w.path}: it has uncommitted or untracked files (${w.dirty.slice(0, 5).join(", ")})`),
    l.branches.length > l.kept.length ? `- delete merged branch(es): ${l.branches.filter((b) => !l.kept.includes(b)).map((b) => b.branch).join(", ")}` : "",
    ...l.kept.map((b) => {
      const commits = b.ahead !== 0 ? `${b.ahead > 0 ? `${b.ahead} commit(s)` : "commits"} ${base} does not have` : "";
      const tree = l.inKeptTree.get(b.branch);
      // A branch checked out in a worktree git will not delete: the worktree goes first.
      if (tree === undefined) return `- keep branch ${b.branch}: ${commits} (delete it yourself with: git -C ${root} branch -D ${b.branch})`;
      return `- keep branch ${b.branch}: ${commits ? `${commits}, ` : ""}checked out in the worktree kept above (once you have what you need from it: git -C ${root} worktree remove --force ${tree} && git -C ${root} branch -D ${b.branch})`;
    }),
    ...l.hosts.flatMap((h) => hostLines(h, base)),
    l.reviews.length ? `- remove ${l.reviews.length} review file(s)` : "",
    l.notes.length ? `- keep the notes kept from the worktree${l.notes.length === 1 ? "" : "s"} of stage${l.notes.length === 1 ? "" : "s"} ${l.notes.map((n) => n.id).join(", ")}: moved to ${l.notesTo}` : "",
    l.reports.length ? `- keep its report: ${l.reports.join(", ")}` : "",
    `- remove its state: ${paths.dir} and its log ${paths.monitorLog}`,
  ].filter(Boolean);
}

async function carryOut(ctx: Ctx, l: Look, tmux: Tmux): Promise<void> {
  const { status, paths } = l.orch;
  const { project_root: root, base_branch: base } = status;
  for (const session of l.sessions) await tmux.killSession(session);
  for (const w of l.worktrees) if (w.dirty.length === 0 && !(await git.removeWorktree(root, w.path))) ctx.out(`could not remove worktree ${w.path}; remove it with: git worktree remove ${w.path}`);
  if (existsSync(root)) await git.pruneWorktrees(root);
  for (const b of l.branches) if (!l.kept.includes(b)) await git.deleteMergedBranch(root, b.branch, base);
  for (const line of await discardOnHosts(l.orch, l.hosts)) ctx.out(`could not do all of it on ${line}; what is left there is listed above`);
  for (const file of l.reviews) rmSync(file, { force: true });
  for (const n of l.notes) moveAside(n.from, join(l.notesTo, `stage-${n.id}`));
  rmSync(paths.dir, { recursive: true, force: true });
  rmSync(paths.monitorLog, { force: true });
  rmSync(orchestrateLockFile(ctx.home, status.plan_name), { force: true });
}

/** `from` moved to `to` (or, when `to` is taken, to `to-2`, `to-3`…). */
function moveAside(from: string, to: string): void {
  let target = to;
  for (let n = 2; existsSync(target); n++) target = `${to}-${n}`;
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  try {
    renameSync(from, target);
  } catch {
    cpSync(from, target, { recursive: true });
  }
}
