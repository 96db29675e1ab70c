/**
 * `autorun doctor [--fix]`: tools, trust, templates, state; then reconciliation of tmux sessions,
 * `.claude/worktrees/*`, stage branches and monitors against the orchestrations. `--fix` does only
 * what cannot lose work, and only to what this AUTORUN_HOME recorded: never deletes a branch or
 * worktree with unmerged commits or changes, and never starts anything (it says what to resume).
 */
import { existsSync, readdirSync, readFileSync, rmSync, accessSync, constants, mkdirSync } from "node:fs";
import { join } from "node:path";
import * as git from "../adapters/git.js";
import { createTmux } from "../adapters/tmux.js";
import { commandVersion, findExecutable, isAlive } from "../adapters/process.js";
import { CLAUDE_MIN_VERSION, CLAUDE_TESTED_RANGE, claudeInRange, claudeTooOld, claudeTrust, isClaude, pluginDir } from "../adapters/agent.js";
import { checkBoxLine, checkSandbox } from "./preflight.js";
import { readPid } from "../state/pidfile.js";
import { isMonitorOf } from "../monitor/monitor-pid.js";
import type { OrchPaths } from "../state/paths.js";
import { keepWorktreeFiles, keptFilesDir } from "../monitor/keep-files.js";
import { removeStageWorktree } from "../monitor/worktree-removal.js";
import { readSettings } from "../state/settings.js";
import { loadConfig } from "../state/config.js";
import type { Status } from "../types/schemas.js";
import type { Ctx } from "./ctx.js";
import { loadOrchestrations } from "../state/orchestration.js";
import { printable, stagesList } from "../core/printable.js";
import { onThisMachine, resolveHosts } from "../core/hosts.js";
import { hostFindings } from "./host-check.js";
import { projectDir } from "./project-dir.js";

interface Finding {
  level: "ok" | "warn" | "problem";
  text: string;
  fix?: () => Promise<string>;
}

type Add = (level: Finding["level"], text: string, fix?: Finding["fix"]) => void;
type Orchestrations = ReturnType<typeof loadOrchestrations>;

export async function runDoctor(ctx: Ctx, f: { fix?: boolean; project?: string; tmuxSocket?: string; claude?: boolean }): Promise<number> {
  if (f.claude) return checkClaude(ctx, f.project);
  const findings: Finding[] = [];
  const add: Add = (level, text, fix) => findings.push({ level, text, ...(fix ? { fix } : {}) });
  const here = await projectDir(ctx, f.project);
  // --tmux-socket is checked as a flag of the configuration, as orchestrate's is.
  const configured = loadConfig(ctx.home, here, { tmuxSocket: f.tmuxSocket }, ctx.env);
  const orchestrations = loadOrchestrations(ctx.home);
  // Runs started with their own agent (`--agent-cmd`) do not need claude.
  const agents = orchestrations.map((o) => readSettings(o.paths.dir)?.agentCommand[0]);
  const runsNeedNoClaude = agents.length > 0 && agents.every((a) => a !== undefined && !isClaude(a));
  const usesClaude = await checkTools(ctx, { here, config: configured, runsNeedNoClaude }, add);
  checkStateDir(ctx.home, add);
  add(...checkTemplates(pluginDir()));
  // Other machines of the configuration (hosts): reachable, same autorun, tmux, git, the agent, its trust of the roots there.
  const running = orchestrations.filter((o) => o.status.status !== "completed" && o.status.status !== "failed").map((o) => o.status.project_slug);
  for (const h of await hostFindings({ home: ctx.home }, resolveHosts(configured), configured, running)) add(h.level, h.text);

  // Orchestrations and the projects they use.
  const roots = new Set(orchestrations.map((o) => o.status.project_root));
  if (here) roots.add(here);
  if (here && usesClaude) add(...checkTrust(here, ctx.env));

  // Monitors and sessions.
  await checkMonitors(orchestrations, add);
  const sockets = new Set<string | undefined>([f.tmuxSocket ?? configured.tmuxSocket]);
  for (const o of orchestrations) sockets.add(readSettings(o.paths.dir)?.tmuxSocket);
  for (const socket of sockets) await checkSessions({ home: ctx.home, socket, orchestrations }, add);

  // Worktrees and branches, project by project.
  for (const root of roots) await checkProject(root, orchestrations.filter((o) => o.status.project_root === root), add);
  return report(ctx, findings, f.fix === true);
}

/** tmux, git, the agent, the git identity, node; true when the agent is Claude Code. */
async function checkTools(ctx: Ctx, project: { here: string | undefined; config: ReturnType<typeof loadConfig>; runsNeedNoClaude: boolean }, add: Add): Promise<boolean> {
  const { here, config } = project;
  const tmuxV = await createTmux().version();
  add(tmuxV ? "ok" : "problem", tmuxV ? `tmux: ${tmuxV}` : "tmux not found: install it (apt-get install tmux / brew install tmux)");
  const gitV = await git.gitVersion();
  add(gitV ? "ok" : "problem", gitV ? `git: ${gitV}` : "git not found: install it");
  // The agent the project is configured with: claude, unless agentCommand names another program.
  const agent = config.agentCommand[0]!;
  const usesClaude = isClaude(agent);
  if (usesClaude) {
    const claudeV = await commandVersion(agent);
    const forNow = project.runsNeedNoClaude ? " (the runs under this home use their own agent command, so they do not need it; a run without --agent-cmd does)" : "";
    if (!claudeV) add("warn", `${agent} not found: npm install -g @anthropic-ai/claude-code, or set agentCommand${forNow}`);
    else if (claudeTooOld(claudeV)) add("problem", `claude: ${claudeV} is too old for --worktree (needs ${CLAUDE_MIN_VERSION.join(".")} or later): npm install -g @anthropic-ai/claude-code`);
    else add(...claudeVersionFinding(claudeV));
    add(...checkSandbox(config.sandbox));
  } else {
    add(findExecutable(agent) ? "ok" : "problem", findExecutable(agent) ? `agent command: ${agent}` : `agent command ${agent} (agentCommand) is not installed or not on PATH`);
  }
  if (config.validate.length > 0) add(...checkBoxLine(config.sandbox));
  // As the merge commits will find it: the configuration, or GIT_COMMITTER_* and EMAIL.
  const who = await git.committerIdentity(here ?? ctx.cwd);
  add(who ? "ok" : "warn", who ? `git identity: ${printable(who)}` : 'git has no identity; merge commits need one: git config --global user.name "Your Name" && git config --global user.email you@example.com');
  add(process.versions.node.split(".").map(Number)[0]! >= 20 ? "ok" : "problem", `node: ${process.version}`);
  return usesClaude;
}

function checkStateDir(home: string, add: Add): void {
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    accessSync(home, constants.W_OK);
    add("ok", `state dir: ${home}`);
  } catch {
    add("problem", `state dir ${home} is not writable: fix its permissions or set AUTORUN_HOME`);
  }
}

/** Each run's monitor, and in-progress stages whose sessions are gone. */
async function checkMonitors(orchestrations: Orchestrations, add: Add): Promise<void> {
  for (const o of orchestrations) {
    const pid = readPid(o.paths.pid);
    const alive = pid !== undefined && isMonitorOf(o.paths, pid);
    // Its monitor died (killed, the machine restarted), or the pid went to another program since.
    const why = pid !== undefined && !isAlive(pid) ? `its monitor, pid ${pid}, is not running` : `pid ${pid} is not this orchestration's monitor`;
    if (pid !== undefined && !alive) add("problem", `${o.name}: stale monitor.pid (${why})`, async () => (rmSync(o.paths.pid, { force: true }), `removed ${o.paths.pid}`));
    const tmux = createTmux(readSettings(o.paths.dir)?.tmuxSocket);
    if (o.status.status !== "running" && o.status.status !== "stopped") continue;
    const dead: string[] = [];
    for (const [id, s] of Object.entries(o.status.stages)) if (s.status === "in_progress" && !(await tmux.hasSession(s.session))) dead.push(id);
    worktreesGone(o, add);
    // doctor never starts anything: a run a person stopped stays stopped (and spends nothing).
    if (dead.length > 0 && !alive) {
      add("warn", `${o.name}: ${stagesList(dead)} ${dead.length === 1 ? "is" : "are"} in progress but ${dead.length === 1 ? "its session is" : "their sessions are"} gone and no monitor runs; to go on: autorun resume ${o.name} (it relaunches them); to end the run: autorun discard ${o.name}`);
    } else if (!alive && o.status.status === "running") {
      add("warn", `${o.name}: no monitor is running; \`autorun resume ${o.name}\` starts one`);
    } else add("ok", `${o.name}: ${o.status.status}${alive ? ` (monitor pid ${pid})` : ""}`);
  }
}

/**
 * Running stages here whose worktree was removed by hand: the agent works on in a folder that is
 * no checkout of its branch (or in none), and nothing it does there reaches the stage. A relaunch
 * makes a fresh worktree from the branch; a plain folder left in its place must go first.
 */
function worktreesGone(o: Orchestrations[number], add: Add): void {
  for (const [id, s] of Object.entries(o.status.stages)) {
    if (s.status !== "in_progress" || !onThisMachine(s.host) || existsSync(join(s.worktree, ".git"))) continue;
    const clear = existsSync(s.worktree) ? `move the folder ${s.worktree} aside (it is no git worktree now), then ` : "";
    add("warn", `${o.name}: stage ${id}'s worktree ${s.worktree} is gone (removed by hand?), so its work cannot be committed there; to relaunch it in a fresh worktree from its branch: autorun stop ${o.name} --sessions, ${clear}autorun resume ${o.name}`);
  }
}

/** Stage-looking tmux sessions on one server: those of stages no longer running are ended by --fix. */
async function checkSessions(w: { home: string; socket: string | undefined; orchestrations: Orchestrations }, add: Add): Promise<void> {
  const knownSessions = new Map<string, { plan: string; id: string; status: string }>();
  for (const o of w.orchestrations) for (const [id, s] of Object.entries(o.status.stages)) knownSessions.set(s.session, { plan: o.name, id, status: s.status });
  const tmux = createTmux(w.socket);
  const on = w.socket ? ` (socket ${w.socket})` : "";
  for (const name of await tmux.listSessions()) {
    if (!/_stage-/.test(name)) continue;
    const known = knownSessions.get(name);
    if (known && (known.status === "in_progress" || known.status === "merging")) continue;
    // Only sessions this AUTORUN_HOME recorded are its own: another home's run, or a person's
    // session that happens to look like a stage's, is not doctor's to end.
    if (!known) {
      add("warn", `tmux session ${name}${on} is no stage of an orchestration under ${w.home}; left alone`);
      continue;
    }
    const why = `its stage ${known.plan}/${known.id} is ${known.status}`;
    add("problem", `tmux session ${name}${on}: ${why}`, async () => ((await tmux.killSession(name)), `ended session ${name}`));
  }
}

/** Prints each finding (fixing problems with `fix`) and the summary; 0 when no problem is left. */
async function report(ctx: Ctx, findings: Finding[], fix: boolean): Promise<number> {
  let remaining = 0;
  let fixed = 0;
  for (const finding of findings) {
    const mark = finding.level === "ok" ? "✓" : finding.level === "warn" ? "!" : "✗";
    ctx.out(`${mark} ${finding.text}`);
    if (finding.level !== "problem") continue;
    if (fix && finding.fix) {
      try {
        ctx.out(`  fixed: ${await finding.fix()}`);
        fixed++;
      } catch (error) {
        remaining++;
        ctx.out(`  could not fix: ${(error as Error).message}`);
      }
    } else {
      remaining++;
      if (finding.fix) ctx.out("  (autorun doctor --fix can fix this)");
    }
  }
  // A warning (claude not found, a run nobody drives) is not "no problems": say how many remain.
  const warnings = findings.filter((x) => x.level === "warn").length;
  const warned = warnings ? `${warnings} warning${warnings === 1 ? "" : "s"} (!) above` : "";
  const done = fixed ? `Fixed ${fixed} problem${fixed === 1 ? "" : "s"}; ` : "";
  const rest = remaining === 0 ? (warned ? `${done ? "nothing left to fix" : "Nothing to fix"}; ${warned}.` : `${done ? "no" : "No"} problems left.`) : `${remaining} problem${remaining === 1 ? "" : "s"} left${warned ? `; ${warned}` : ""}.`;
  ctx.out(`${done}${rest}`);
  return remaining === 0 ? 0 : 1;
}

/**
 * `doctor --claude`: the configured claude (agentCommand when it is Claude Code, else `claude` on
 * PATH), its version against the tested range, then driven through every screen and hook.
 */
async function checkClaude(ctx: Ctx, project: string | undefined): Promise<number> {
  const here = await projectDir(ctx, project);
  const configured = loadConfig(ctx.home, here, {}, ctx.env).agentCommand[0]!;
  const program = isClaude(configured) ? configured : "claude";
  const bin = findExecutable(program, ctx.env.PATH ?? "");
  const version = bin ? await commandVersion(bin) : undefined;
  if (!bin || !version) {
    ctx.out(`✗ ${program} not found${bin ? ` (or its --version failed)` : " on PATH"}: npm install -g @anthropic-ai/claude-code, or set agentCommand`);
    return 1;
  }
  const [level, text] = claudeVersionFinding(version);
  ctx.out(`${level === "ok" ? "✓" : level === "warn" ? "!" : "✗"} ${text}`);
  const { runClaudeCheck } = await import("./doctor-claude.js");
  const code = await runClaudeCheck(ctx, bin, version);
  return level === "problem" ? 1 : code;
}

/** The installed claude against the tested range: older is a problem, newer a warning that says how to check it. */
export function claudeVersionFinding(versionText: string): [Finding["level"], string] {
  const { oldest, newest } = CLAUDE_TESTED_RANGE;
  const v = /\d+\.\d+\.\d+/.exec(versionText)?.[0] ?? versionText;
  switch (claudeInRange(versionText)) {
    case "in":
      return ["ok", `claude: ${v}, in the tested range (${oldest} to ${newest})`];
    case "newer":
      return ["warn", `claude: ${v} is newer than tested (newest tested ${newest}); before an unattended run, check that autorun understands it: autorun doctor --claude`];
    case "older":
      return ["problem", `claude: ${v} is older than the oldest supported (${oldest}); its screens and hooks are not what autorun reads: npm install -g @anthropic-ai/claude-code`];
    default:
      return ["warn", `claude: "${versionText}" is not a version autorun can read (tested: ${oldest} to ${newest}); check it with autorun doctor --claude`];
  }
}

function checkTemplates(dir: string): [Finding["level"], string] {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, ".claude-plugin", "plugin.json"), "utf8")) as { name?: string };
    if (!manifest.name || !/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(manifest.name)) return ["problem", `${dir}: plugin.json needs a kebab-case name`];
    const missing = ["start", "research_codebase", "create_plan", "implement_plan", "merge"].filter((c) => !existsSync(join(dir, "commands", `${c}.md`)));
    if (missing.length) return ["problem", `${dir}: missing commands ${missing.join(", ")}`];
    return ["ok", `plugin templates: ${dir}`];
  } catch (error) {
    return ["problem", `plugin templates at ${dir} are not valid: ${(error as Error).message}`];
  }
}

/** `claude --worktree` exits at once in a project not trusted yet. */
function checkTrust(root: string, env: NodeJS.ProcessEnv): [Finding["level"], string] {
  const { trusted, file } = claudeTrust(root, env);
  if (trusted) return ["ok", `workspace trust: ${root} is trusted`];
  const why = trusted === undefined ? `${file} is missing or not readable` : `${root} is not trusted yet`;
  return ["warn", `workspace trust: ${why}; run claude in ${root} once and accept "Yes, I trust this folder", or claude --worktree exits and no stage starts`];
}

/** How a person removes a worktree as it is: one with files of its own needs --force, and they go with it. */
async function removalOf(root: string, wt: { path: string; branch?: string }, known?: string[]): Promise<string> {
  const files = known ?? (await filesOf(wt.path));
  const branch = wt.branch ? ` && git -C ${root} branch -D ${wt.branch}` : "";
  if (files.length === 0) return `git -C ${root} worktree remove ${wt.path}${branch}`;
  return `it has uncommitted or untracked files (${files.slice(0, 3).join(", ")}${files.length > 3 ? ", …" : ""}); once you have what you need from them: git -C ${root} worktree remove --force ${wt.path}${branch}`;
}

/** The uncommitted or untracked files of a worktree ("?" when git cannot say). */
async function filesOf(path: string): Promise<string[]> {
  return existsSync(path) ? git.dirtyFiles(path).catch(() => ["?"]) : [];
}

/** Why a recorded worktree stays whatever it holds: its stage did not merge (failed, blocked, skipped). */
async function unmergedOwner(root: string, base: string, wt: { path: string; branch?: string }, owner: { id: string; state: string; skipped: boolean }): Promise<string | undefined> {
  if (owner.state !== "completed") return `worktree ${wt.path} belongs to stage ${owner.id}, which is ${owner.state} (not merged); left alone (autorun retry runs it again there)`;
  if (!owner.skipped) return undefined;
  // `autorun skip` keeps the stage's worktree and branch: its work never merged. One with nothing of
  // its own is removed with the commands that refuse to lose anything (as discard would).
  const ahead = wt.branch ? await git.commitsAhead(root, base, wt.branch).catch(() => -1) : 0;
  const files = await filesOf(wt.path);
  if (ahead === 0 && files.length === 0) {
    const branch = wt.branch ? ` && git -C ${root} branch -d ${wt.branch}` : "";
    return `worktree ${wt.path} belongs to stage ${owner.id}, which was skipped; it holds nothing ${base} lacks (no commits or changed files of its own); left alone (to remove it: git -C ${root} worktree remove ${wt.path}${branch})`;
  }
  return `worktree ${wt.path} belongs to stage ${owner.id}, which was skipped (not merged; skip keeps its worktree and branch); left alone (when you no longer need it: ${await removalOf(root, wt, files)})`;
}

async function checkProject(root: string, orchestrations: { paths: OrchPaths; status: Status }[], add: Add): Promise<void> {
  if (!existsSync(root)) return;
  const statuses = orchestrations.map((o) => o.status);
  // Whose each recorded worktree is: a stage that is not merged keeps its worktree whatever it holds.
  const owners = new Map(orchestrations.flatMap((o) => Object.entries(o.status.stages).map(([id, st]) => [st.worktree, { id, state: st.status, skipped: st.finished_by === "skipped", paths: o.paths }] as const)));
  const active = new Set<string>();
  const bases = new Set<string>();
  // Only worktrees and branches an orchestration recorded are autorun's to remove; the rest are the person's.
  const recorded = new Set<string>();
  const recordedBranches = new Set<string>();
  const activeBranches = new Set<string>();
  for (const s of statuses) {
    bases.add(s.base_branch);
    for (const st of Object.values(s.stages)) {
      recorded.add(st.worktree);
      recordedBranches.add(st.branch);
      if (st.status === "in_progress" || st.status === "merging" || st.status === "pending") {
        active.add(st.worktree);
        activeBranches.add(st.branch);
      }
    }
  }
  const base = [...bases][0] ?? (await git.currentBranch(root)) ?? "main";
  const worktrees = await git.listWorktrees(root);
  const wtDir = join(root, ".claude", "worktrees");
  const onDisk = existsSync(wtDir) ? readdirSync(wtDir).map((n) => join(wtDir, n)) : [];
  const seen = new Set<string>();
  for (const wt of worktrees.filter((w) => w.path.startsWith(wtDir + "/"))) {
    seen.add(wt.path);
    if (active.has(wt.path)) continue;
    if (!recorded.has(wt.path)) {
      add("warn", `worktree ${wt.path} belongs to no orchestration under this AUTORUN_HOME (one discarded, another home's, or a person's); left alone (if it is no one's: ${await removalOf(root, wt)})`);
      continue;
    }
    const owner = owners.get(wt.path);
    const unmerged = owner ? await unmergedOwner(root, base, wt, owner) : undefined;
    if (unmerged) {
      add("warn", unmerged);
      continue;
    }
    const ahead = wt.branch ? await git.commitsAhead(root, base, wt.branch).catch(() => -1) : 0;
    const changes = await filesOf(wt.path);
    if (ahead > 0 || ahead < 0 || changes.length > 0) {
      const has = [ahead !== 0 ? (ahead > 0 ? `${ahead} unmerged commit(s)` : "commits the base may not have") : "", changes.length ? "uncommitted or untracked files" : ""].filter(Boolean).join(" and ");
      add("warn", `worktree ${wt.path}${wt.branch ? ` (${wt.branch})` : ""} belongs to no running stage but has ${has}; left alone`);
      continue;
    }
    add("problem", `leaked worktree ${wt.path}${wt.branch ? ` (${wt.branch}, merged)` : ""}`, async () => {
      // Ignored files (a person's notes.log) are copied aside first, as after a merge.
      let kept = "";
      if (owner && existsSync(wt.path)) {
        const files = await keepWorktreeFiles(keptFilesDir(owner.paths, owner.id), wt.path, null);
        if (!files.ok) return `kept worktree ${wt.path}: it holds too many files to copy aside`;
        if (files.count > 0) kept += `; kept its ${files.count} ignored file(s) in ${files.dir}`;
        if (files.dropped.length > 0) kept += `; not kept: ${files.dropped.join(", ")}`;
      }
      const removal = await removeStageWorktree(root, wt.path, { orchDir: owner?.paths.dir ?? "", stage: owner?.id ?? "", sessionEnded: false });
      if (!removal.removed) return `kept worktree ${wt.path}${wt.branch ? ` and branch ${wt.branch}` : ""}: ${removal.why}${kept}`;
      const branchGone = wt.branch ? await git.deleteMergedBranch(root, wt.branch, base) : false;
      return `removed worktree ${wt.path}${branchGone ? ` and branch ${wt.branch}` : ""}${kept}`;
    });
  }
  for (const path of onDisk) {
    if (seen.has(path) || active.has(path)) continue;
    if (existsSync(join(path, ".git"))) continue;
    add("warn", `${path} is in .claude/worktrees but is not a git worktree; left alone`);
  }
  const withWorktree = new Set(worktrees.map((w) => w.branch).filter(Boolean));
  for (const branch of await git.listBranches(root, "worktree-*")) {
    // A stage's earlier attempt, kept by `retry --fresh-worktree` under `<branch>-attempt-<n>`.
    const attempt = /^(.*)-attempt-\d+$/.exec(branch)?.[1];
    if (attempt !== undefined && recordedBranches.has(attempt) && !withWorktree.has(branch)) {
      const ahead = await git.commitsAhead(root, base, branch).catch(() => -1);
      const whose = `an earlier attempt of ${attempt}, kept by autorun retry --fresh-worktree`;
      if (ahead === 0) add("problem", `branch ${branch} of ${root} (${whose}) is merged and left over`, async () => ((await git.deleteMergedBranch(root, branch, base)) ? `deleted ${branch} in ${root}` : `kept ${branch} (git refused: not merged)`));
      else add("warn", `branch ${branch} of ${root} is ${whose}, with ${ahead > 0 ? ahead : "some"} commit(s) the base lacks; left alone (when you no longer need it: git -C ${root} branch -D ${branch})`);
      continue;
    }
    if (withWorktree.has(branch) || !recordedBranches.has(branch) || activeBranches.has(branch)) continue;
    const ahead = await git.commitsAhead(root, base, branch).catch(() => -1);
    if (ahead === 0) add("problem", `merged branch ${branch} of ${root} is left over`, async () => ((await git.deleteMergedBranch(root, branch, base)) ? `deleted ${branch} in ${root}` : `kept ${branch} (git refused: not merged)`));
    else add("warn", `branch ${branch} of ${root} has ${ahead > 0 ? ahead : "some"} unmerged commit(s) and no worktree; left alone (merge or delete it yourself)`);
  }
}
