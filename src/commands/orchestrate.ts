/** `autorun orchestrate <plan>`: parse, write the orchestration, launch ready stages, start the monitor. */
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, dirname, relative, resolve, join } from "node:path";
import writeFileAtomic from "write-file-atomic";
import { parsePlan } from "../core/parse-plan.js";
import type { Plan } from "../core/plan.js";
import { checkModels, modelProblem } from "../core/stage-settings.js";
import { checkStageHosts, onThisMachine, otherHostsHaveSlots, resolveHosts } from "../core/hosts.js";
import { planNameFromPath, projectSlug } from "../core/slug.js";
import { branchName, sessionName, worktreeName } from "../core/naming.js";
import { renderContextFile } from "../core/context-file.js";
import { contextFilePath, locksDir, makeDir, orchestrateLockFile, orchPaths } from "../state/paths.js";
import { projectDir } from "./project-dir.js";
import { appendEvent, nowIso, readFirstEvent } from "../state/events.js";
import { foldEvents } from "../core/fold.js";
import { withLock } from "../state/lock.js";
import { loadStatus, rebuildStatus } from "../state/status.js";
import { loadConfig } from "../state/config.js";
import type { ConfigFile } from "../types/schemas.js";
import { writeProjectRules, writeSettings } from "../state/settings.js";
import * as git from "../adapters/git.js";
import { createTmux } from "../adapters/tmux.js";
import { localAllowRules, passthroughEnv } from "../adapters/agent.js";
import { preflightAgent, preflightProblems, templateWarnings } from "./preflight.js";
import { launchStages, type LaunchDeps } from "../monitor/launcher.js";
import { Worktrees } from "../monitor/worktrees.js";
import { stagesToLaunch } from "../core/scheduler.js";
import { describeErrno, RuntimeError, UserError } from "../errors.js";
import type { Ctx } from "./ctx.js";
import { listOrchestrations } from "../state/orchestration.js";
import type { EventWithoutTs, Status } from "../types/schemas.js";
import { eventsFile } from "../state/orchestration.js";
import { endDoneBefore, printDryRun, printSummary, type PreparedPlan } from "./prepared-plan.js";
import { existingRunRefusal, keepAside } from "./run-aside.js";
import { stagesList } from "../core/printable.js";

export interface OrchestrateOptions {
  dryRun?: boolean;
  json?: boolean;
  verbose?: boolean;
  base?: string;
  project?: string;
  parseWith?: string;
  fresh?: boolean;
  noMonitor?: boolean;
  config: ConfigFile;
}

function readPlanText(planPath: string): string {
  try {
    if (statSync(planPath).isDirectory()) throw new UserError(`${planPath} is a directory; pass the master plan file.`);
    return readFileSync(planPath, "utf8");
  } catch (error) {
    if (error instanceof UserError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (code ?? String(error));
    throw new UserError(`cannot read plan ${planPath}: ${why}; check the path.`);
  }
}

async function preparePlan(ctx: Ctx, planArg: string, opts: OrchestrateOptions): Promise<PreparedPlan> {
  const planPath = resolve(ctx.cwd, planArg);
  const text = readPlanText(planPath);
  const relativePath = relative(ctx.cwd, planPath);
  const label = relativePath && !relativePath.startsWith("..") ? relativePath : planPath;
  const plan = opts.parseWith === "claude" ? await (await import("../adapters/claude-parse.js")).parsePlanWithClaude(label, text) : parsePlan(label, text);
  // A stage parked in an HTML comment is not run; say so, so nobody waits for it.
  for (const c of plan.commented ?? []) ctx.err(`autorun: warning: stage ${c.id} is commented out at ${label}:${c.line}; not run.`);
  for (const w of plan.warnings ?? []) ctx.err(`autorun: warning: ${w}.`);
  const projectRoot = (await projectDir(ctx, opts.project)) ?? (await git.toplevel(dirname(planPath)));
  // A plan kept in another project's repository most likely meant that project.
  if (opts.project === undefined && projectRoot !== undefined && !planPath.startsWith(`${projectRoot}/`)) {
    const planRepo = await git.toplevel(dirname(planPath));
    if (planRepo !== undefined && planRepo !== projectRoot) ctx.err(`autorun: warning: ${label} is in the git repository ${planRepo}, but the run works in ${projectRoot} (this directory's); to run it there: --project ${planRepo}.`);
  }
  const planName = orchestrationName(ctx.home, planNameFromPath(planPath), planPath, projectRoot);
  const config = loadConfig(ctx.home, projectRoot, opts.config, ctx.env);
  // The git and tmux questions at once: each is a process, and they do not depend on each other.
  // The names in use matter only to the dry run here (the run asks again under its lock).
  const [current, inUse] = await Promise.all([
    projectRoot ? git.currentBranch(projectRoot) : undefined,
    opts.dryRun ? slugsInUse(plan, projectRoot, config.tmuxSocket) : undefined,
  ]);
  if (projectRoot && current === undefined && !opts.base && !plan.base_branch) {
    throw new UserError(`HEAD is detached in ${projectRoot}, so there is no current branch for stages to merge into; check out a branch (git switch <branch>) or pass --base <branch>.`);
  }
  const baseBranch = opts.base ?? plan.base_branch ?? current ?? "main";
  checkModels(label, plan.stages, config.prices);
  const hosts = resolveHosts(config);
  checkStageHosts(label, plan.stages, hosts);
  const slug = uniqueSlug(ctx.home, planName, inUse);
  for (const [key, names] of [["model", config.model === undefined ? [] : [config.model]], ["escalation", config.escalation]] as const) {
    for (const name of names) {
      const problem = modelProblem(name, config.prices);
      if (problem) throw new UserError(`${key === "model" ? "--model / model" : "escalation"}: ${problem}.`);
    }
  }
  return { planPath, planName, slug, plan, projectRoot, baseBranch, config, paths: orchPaths(ctx.home, planName, slug), env: ctx.env };
}

/**
 * An orchestration belongs to its project and plan file: a plan name already used by another
 * project (or another plan file of the same name) gets a distinct, stable name — the project's
 * directory name (or the plan's directory) appended — so nothing ever continues another's run.
 */
function orchestrationName(home: string, base: string, planPath: string, projectRoot: string | undefined): string {
  const belongsHere = (name: string): boolean | undefined => {
    const first = readFirstEvent(eventsFile(home, name));
    if (first?.type !== "orchestration_started") return existsSync(eventsFile(home, name)) ? false : undefined;
    return first.plan_path === planPath && (projectRoot === undefined || first.project_root === projectRoot);
  };
  // Another project's plan of this name: tell them apart by project; else by the plan's directory.
  const suffix = planNameFromPath(projectRoot && belongsToOtherProject(home, base, projectRoot) ? basename(projectRoot) : basename(dirname(planPath)));
  for (const candidate of [base, `${base}-${suffix}`.slice(0, 120), ...Array.from({ length: 20 }, (_, i) => `${base}-${suffix}-${i + 2}`.slice(0, 124))]) {
    const mine = belongsHere(candidate);
    if (mine === undefined || mine) return candidate;
  }
  throw new UserError(`too many orchestrations named ${base}* under ${home}; remove old ones from ${join(home, "orchestration")}.`);
}

function belongsToOtherProject(home: string, name: string, projectRoot: string): boolean {
  const first = readFirstEvent(eventsFile(home, name));
  return first?.type === "orchestration_started" && first.project_root !== projectRoot;
}

/**
 * The project slug names sessions, branches and worktrees, so two orchestrations must never share
 * one: a plan that already has an orchestration keeps its slug (on `--fresh`, only if nothing of
 * the old run's names is left); a new one whose slug is taken gets `-2`, `-3`, … (stable: the
 * first orchestration keeps the plain slug).
 */
function uniqueSlug(home: string, planName: string, inUse: (slug: string) => boolean = () => false, fresh = false): string {
  const own = readFirstEvent(eventsFile(home, planName));
  // `--fresh` starts over under the same names only when the run set aside left none of them
  // behind (a stopped run's branches and worktrees stay its own: nothing of them is adopted).
  if (own?.type === "orchestration_started" && !(fresh && inUse(own.project_slug))) return own.project_slug;
  const taken = new Set<string>();
  for (const other of listOrchestrations(home)) {
    // Runs kept aside by --fresh (`name.<time>`) are never continued.
    if (other.name === planName || other.name.includes(".")) continue;
    const first = readFirstEvent(eventsFile(home, other.name));
    if (first) taken.add(first.project_slug);
  }
  const base = projectSlug(planName);
  let slug = base;
  for (let n = 2; taken.has(slug) || inUse(slug); n++) slug = `${base}-${n}`;
  return slug;
}

/**
 * Names a new run must not share with what already exists outside this AUTORUN_HOME: another
 * home's (or a person's) sessions on this tmux socket, and stage branches or worktrees already in
 * the project. A run started under another AUTORUN_HOME would otherwise adopt them as its own.
 */
async function slugsInUse(plan: Plan, projectRoot: string | undefined, socket: string | undefined): Promise<(slug: string) => boolean> {
  const sessions = new Set(await createTmux(socket).listSessions());
  const branches = new Set(projectRoot ? await git.listBranches(projectRoot, "worktree-*") : []);
  return (slug) =>
    plan.stages.some(
      (s) => sessions.has(sessionName(slug, s.id)) || branches.has(branchName(slug, s.id)) || (projectRoot !== undefined && existsSync(join(projectRoot, ".claude", "worktrees", worktreeName(slug, s.id)))),
    );
}

export async function runOrchestrate(ctx: Ctx, planArg: string, opts: OrchestrateOptions): Promise<number> {
  const prep = await preparePlan(ctx, planArg, opts);
  // The dry run fails where the run would.
  const { projectRoot } = prep;
  if (!projectRoot) throw new UserError(`${prep.planPath}: not inside a git repository; run autorun from the project's root or pass --project <dir>.`);
  if (!(await git.branchExists(projectRoot, prep.baseBranch))) {
    const fix = opts.base !== undefined ? "pass --base with a branch that exists (git branch --list shows them)" : "commit once on it or pass --base <branch>";
    throw new UserError(`base branch "${prep.baseBranch}" does not exist in ${projectRoot}; ${fix}.`);
  }
  for (const w of templateWarnings(prep.config)) ctx.err(`autorun: warning: ${w}`);
  if (opts.dryRun) {
    printDryRun(ctx, prep, opts.json === true, opts.verbose === true);
    // Every refusal the real run would make, on the same grounds (it checks when it starts a run).
    const status = existsSync(prep.paths.events) ? loadStatus(prep.paths) : undefined;
    const refusal = await existingRunRefusal(prep, status, { fresh: opts.fresh === true, flags: opts.config });
    const problems = refusal ? [refusal] : !status || opts.fresh ? await preflightProblems(prep.config, ctx.env, projectRoot, { home: ctx.home, slug: prep.slug }) : [];
    for (const p of problems) ctx.err(`autorun: the run would refuse: ${p}`);
    if (status && !opts.fresh && !refusal) {
      const note = `real run continues orchestration ${prep.planName} (${status.status}) with the stages it started with, not the plan above (--fresh starts over with it).`;
      // Beside --json on stdout, only the JSON.
      if (opts.json) ctx.err(`autorun: note: a ${note}`);
      else ctx.out(`A ${note}`);
      warnIfPlanChanged(ctx, prep, status);
    }
    return problems.length > 0 ? 2 : 0;
  }
  // One orchestrate per plan at a time: a second one waits, then continues what the first wrote.
  makeDir(locksDir(ctx.home));
  return withLock(orchestrateLockFile(ctx.home, prep.planName), () => orchestrateLocked(ctx, prep, opts), 120_000);
}

async function orchestrateLocked(ctx: Ctx, prepared: PreparedPlan, opts: OrchestrateOptions): Promise<number> {
  const projectRoot = prepared.projectRoot!;
  let status = existsSync(prepared.paths.events) ? loadStatus(prepared.paths) : undefined;
  const refusal = await existingRunRefusal(prepared, status, { fresh: opts.fresh === true, flags: opts.config });
  if (refusal) throw new UserError(refusal);
  // Under the lock, the slug is read again (a concurrent orchestrate may have just started this
  // plan); beside it, before anything is written, whether the agent can start (it would only die in
  // its session) and the base tip. Each is a process; none waits for another.
  const preflight = !status || opts.fresh || status.status === "completed";
  const [inUse, permissionMode, tip, exclude] = await Promise.all([
    slugsInUse(prepared.plan, projectRoot, prepared.config.tmuxSocket),
    // The permission mode as the installed claude names it goes into the run's settings.
    preflight ? preflightAgent(prepared.config, ctx.env, projectRoot, { home: ctx.home, slug: prepared.slug }) : prepared.config.permissionMode,
    git.headCommit(projectRoot, `refs/heads/${prepared.baseBranch}`),
    git.excludeFile(projectRoot),
  ]);
  const prep = { ...prepared, slug: uniqueSlug(ctx.home, prepared.planName, inUse, status !== undefined && opts.fresh === true) };
  prep.paths = orchPaths(ctx.home, prep.planName, prep.slug);
  if (permissionMode !== undefined) prep.config = { ...prep.config, permissionMode };
  const { paths } = prep;
  git.addExclude(exclude, "/.claude/worktrees/");

  if (status && opts.fresh) {
    // Under its own names: its monitor log is named after its slug, which the new run may not share.
    keepAside(ctx, orchPaths(ctx.home, prep.planName, status.project_slug), prep.planName, status.project_slug);
    status = undefined;
  }
  const tmux = createTmux(prep.config.tmuxSocket);
  if (status) {
    ctx.out(`Orchestration ${prep.planName} exists (${status.status}); continuing it with the settings it started with (--fresh starts over).`);
    warnIfPlanChanged(ctx, prep, status);
  } else {
    const started = startedEvent(prep);
    // The first stages' worktrees, the slowest step of their launch, are made at the base tip
    // while the orchestration's files are written.
    const planned = foldEvents([{ ...started, ts: nowIso() }])!;
    const worktrees = new Worktrees();
    // (Not those pinned to another host: their worktrees are made there.)
    const ahead = worktrees.makeAhead(planned, stagesToLaunch(planned).filter((id) => onThisMachine(planned.stages[id]!.settings.host)), tip);
    status = await writeOrWithdraw(prep, started, ahead);
    // Every stage done before the run (marked so in the plan): nothing to launch, no monitor to start.
    if (Object.values(status.stages).every((s) => s.status === "completed")) return await endDoneBefore(ctx, prep, status);
    const { monitorLogger } = await import("../state/monitor-log.js");
    await launchFirst({ tmux, paths, config: prep.config, log: monitorLogger(paths), worktrees, env: ctx.env }, status, tip);
  }
  // The monitor module (chokidar, the controller) loads only when a run really starts.
  const monitorPid = opts.noMonitor ? undefined : await (await import("./monitor.js")).startMonitorDetached(ctx, paths);
  status = (await rebuildStatus(paths)) ?? status;
  printSummary(ctx, prep, status, monitorPid);
  return 0;
}

/**
 * A run that exists goes on with the stages it started with: when the plan file now has others
 * (or other dependencies), the person is told which, the dry run as the run.
 */
function warnIfPlanChanged(ctx: Ctx, prep: PreparedPlan, status: Status): void {
  const before = new Map(Object.entries(status.stages).map(([id, s]) => [id, s.depends_on.join(",")]));
  const now = new Map(prep.plan.stages.map((s) => [s.id, s.depends_on.join(",")]));
  const added = [...now.keys()].filter((id) => !before.has(id));
  const gone = [...before.keys()].filter((id) => !now.has(id));
  const moved = [...now.keys()].filter((id) => before.has(id) && before.get(id) !== now.get(id));
  if (added.length + gone.length + moved.length === 0) return;
  const what = [
    added.length ? `${stagesList(added)} ${added.length === 1 ? "is" : "are"} not in the run` : "",
    gone.length ? `${stagesList(gone)} ${gone.length === 1 ? "is" : "are"} no longer in the plan` : "",
    moved.length ? `${stagesList(moved)} ${moved.length === 1 ? "depends" : "depend"} on other stages now` : "",
  ].filter(Boolean);
  ctx.err(`autorun: warning: ${prep.planPath} has changed since this orchestration started (${what.join("; ")}); it continues with the stages it started with (use --fresh to start over with the new plan).`);
}

/** The first ready stages, each on the host placement gives it when the run uses other hosts. */
async function launchFirst(deps: LaunchDeps, status: Status, tip: string): Promise<void> {
  const ids = stagesToLaunch(status);
  // A new run has placed nothing yet: it uses hosts when another one has slots (RunHosts.wanted).
  if (!otherHostsHaveSlots(resolveHosts(deps.config))) {
    // A few stages at a time, each group as soon as its worktrees are made (they are made in this
    // order, a few at once): the first sessions start while the last worktrees are checked out.
    const groups = Array.from({ length: Math.ceil(ids.length / LAUNCH_GROUP) }, (_, i) => ids.slice(i * LAUNCH_GROUP, (i + 1) * LAUNCH_GROUP));
    await Promise.all(groups.map((group) => launchStages(deps, group, tip)));
    return;
  }
  const { RunHosts } = await import("../monitor/run-hosts.js");
  const { realClock } = await import("../core/clock.js");
  const hosts = new RunHosts({ ...deps, clock: realClock }, () => status);
  const placement = new Map(hosts.place(ids).flatMap((p) => ("host" in p ? [[p.stage, p.host] as const] : [])));
  await launchStages({ ...deps, hosts, placement }, ids.filter((id) => placement.has(id)), tip);
}

/** How many ready stages one launch takes (the worktrees are made four at a time). */
const LAUNCH_GROUP = 4;

/**
 * Writes the orchestration, or, if the disk refuses, removes what it wrote (the worktrees made
 * ahead included, once they are made) and says why. Written, it does not wait for the worktrees:
 * each launch waits for its own.
 */
async function writeOrWithdraw(prep: PreparedPlan, started: StartedEvent, ahead: Promise<string[]>): Promise<Status> {
  const existed = existsSync(prep.paths.dir);
  try {
    return await writeOrchestration(prep, started);
  } catch (error) {
    if (!existed) rmSync(prep.paths.dir, { recursive: true, force: true });
    for (const id of await ahead) {
      const stage = started.stages.find((s) => s.id === id)!;
      if (await git.removeWorktree(prep.projectRoot!, stage.worktree)) await git.deleteMergedBranch(prep.projectRoot!, stage.branch, prep.baseBranch);
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof RuntimeError) throw error;
    throw new RuntimeError(`cannot write the orchestration in ${prep.paths.dir}: ${code ?? (error as Error).message}${describeErrno(code)}; nothing was launched or left behind.`, { cause: error });
  }
}

type StartedEvent = Extract<EventWithoutTs, { type: "orchestration_started" }>;

/** A new run's first event: every stage with its branch, worktree and session. */
function startedEvent(prep: PreparedPlan): StartedEvent {
  const { paths, plan, projectRoot, slug } = prep;
  const waveOf = new Map<string, number>();
  plan.waves.forEach((ids, i) => ids.forEach((id) => waveOf.set(id, i + 1)));
  const stages = plan.stages.map((s) => ({
    id: s.id,
    name: s.name,
    depends_on: s.depends_on,
    wave: waveOf.get(s.id) ?? 1,
    context_file: contextFilePath(paths.stagesDir, s.id),
    branch: branchName(slug, s.id),
    worktree: join(projectRoot!, ".claude", "worktrees", worktreeName(slug, s.id)),
    session: sessionName(slug, s.id),
    ...(s.settings ? { settings: s.settings } : {}),
  }));
  return {
    type: "orchestration_started",
    orch_dir: paths.dir,
    plan_name: prep.planName,
    project_slug: slug,
    plan_path: prep.planPath,
    project_root: projectRoot!,
    base_branch: prep.baseBranch,
    stages,
    waves: plan.waves,
    max_parallel: prep.config.maxParallel,
    schedule: prep.config.schedule,
  };
}

/** Writes context files, settings and `orchestration_started`; files first, the event last. */
async function writeOrchestration(prep: PreparedPlan, started: StartedEvent): Promise<Status> {
  const { paths, plan } = prep;
  makeDir(paths.stagesDir);
  makeDir(dirname(paths.monitorLog));
  await Promise.all(
    plan.stages.map((s) =>
      writeFileAtomic(
        contextFilePath(paths.stagesDir, s.id),
        renderContextFile({ id: s.id, name: s.name, scope: s.scope, depends_on: s.depends_on, orchDir: paths.dir, statusFile: paths.status, baseBranch: prep.baseBranch }),
        { mode: 0o600 },
      ),
    ),
  );
  writeSettings(paths.dir, { ...prep.config, agentEnv: Object.keys(passthroughEnv(prep.env)).sort() });
  // What the project allowed before the run: the report lists what was added to it meanwhile.
  writeProjectRules(paths.dir, localAllowRules(prep.projectRoot!));
  appendEvent(paths.events, started);
  const status = await rebuildStatus(paths);
  if (!status) throw new Error("orchestration_started was not readable back");
  return status;
}
