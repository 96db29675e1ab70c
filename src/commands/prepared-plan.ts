/**
 * A plan read and checked by `autorun orchestrate`, ready to write and launch, and what is printed
 * of it: the dry run (the plan, its waves, each stage's command) and the summary after a launch.
 */
import { join, relative } from "node:path";
import { hasInstructions } from "../core/plan-markdown.js";
import type { StageSettings } from "../core/stage-settings.js";
import { commandLine } from "../core/printable.js";
import { dollars } from "../core/usage.js";
import { branchName, sessionName, worktreeName } from "../core/naming.js";
import { contextFilePath } from "../state/paths.js";
import { stageArgv, stageSessionId, type ArgvView } from "../monitor/launcher.js";
import type { Status } from "../types/schemas.js";
import type { Ctx } from "./ctx.js";
import { checkBoxLine, checkSandbox } from "./preflight.js";
import { isClaude } from "../adapters/agent.js";
import { writeReport } from "./report.js";
import { appendFor } from "../state/orchestration.js";
import { rebuildStatus } from "../state/status.js";
import type { Plan } from "../core/plan.js";
import type { Config } from "../state/config.js";
import type { OrchPaths } from "../state/paths.js";

export interface PreparedPlan {
  planPath: string;
  planName: string;
  slug: string;
  plan: Plan;
  projectRoot: string | undefined;
  baseBranch: string;
  config: Config;
  paths: OrchPaths;
  /** The person's environment (the command's): what the sessions get, and whose names settings.json keeps. */
  env: NodeJS.ProcessEnv;
}

export function printDryRun(ctx: Ctx, prep: PreparedPlan, json: boolean, verbose: boolean): number {
  const { plan } = prep;
  const waveOf = new Map<string, number>();
  plan.waves.forEach((ids, i) => ids.forEach((id) => waveOf.set(id, i + 1)));
  if (json) {
    ctx.out(
      JSON.stringify(
        {
          plan_name: prep.planName,
          project_slug: prep.slug,
          base_branch: prep.baseBranch,
          stages: plan.stages.map((s) => ({ id: s.id, name: s.name, depends_on: s.depends_on, wave: waveOf.get(s.id) ?? 1, ...s.settings })),
          waves: plan.waves,
          ...(plan.commented?.length ? { commented_out: plan.commented } : {}),
          // What the run would take from the defaults, both files, the environment and the flags.
          settings: prep.config,
        },
        null,
        2,
      ),
    );
    return 0;
  }
  const root = prep.projectRoot!;
  ctx.out(`Plan ${prep.planName} (project ${prep.slug}), ${plan.stages.length} stage${plan.stages.length === 1 ? "" : "s"} in ${plan.waves.length} wave${plan.waves.length === 1 ? "" : "s"}`);
  ctx.out(`project root: ${root}   base branch: ${prep.baseBranch}   state: ${prep.paths.dir}`);
  const sandbox = sandboxLine(prep.config);
  if (sandbox) ctx.out(sandbox);
  if (prep.config.validate.length > 0) ctx.out(`checks before each merge (validate; a stage's own Validate: replaces them): ${prep.config.validate.map(commandLine).join("; ")}`);
  if (prep.config.validate.length > 0 || plan.stages.some((s) => s.settings?.validate?.length)) ctx.out(checkBoxLine(prep.config.sandbox)[1]);
  ctx.out("");
  plan.waves.forEach((ids, i) => ctx.out(`Wave ${i + 1}: ${ids.map((id) => `Stage ${id}`).join(", ")}`));
  ctx.out("");
  // What the launch would build each stage's command from, as the run's status would say it.
  const dry: ArgvView & Pick<Status, "created_at" | "plan_name"> = {
    created_at: "dry-run",
    plan_name: prep.planName,
    project_root: root,
    base_branch: prep.baseBranch,
    allowed_tools: [],
    stages: Object.fromEntries(
      plan.stages.map((s) => [
        s.id,
        { worktree: join(root, ".claude", "worktrees", worktreeName(prep.slug, s.id)), context_file: contextFilePath(prep.paths.stagesDir, s.id), model: s.settings?.model ?? null },
      ]),
    ),
  };
  for (const s of plan.stages) {
    ctx.out(`Stage ${s.id}: ${s.name}${s.settings?.status === "completed" ? "   (done already: not launched)" : ""}`);
    ctx.out(`  depends on: ${s.depends_on.length ? s.depends_on.join(", ") : "none"}   wave ${waveOf.get(s.id)}`);
    const settings = describeSettings(s.settings);
    if (settings) ctx.out(`  ${settings}`);
    if (!hasInstructions(s.scope) && s.settings?.status !== "completed") ctx.out("  no text beyond its name: the agent gets only the title (write what it should do under the heading)");
    // A stage the plan marks done is never launched: no session, branch or command to show.
    if (s.settings?.status === "completed") continue;
    ctx.out(`  session: ${sessionName(prep.slug, s.id)}   branch: ${branchName(prep.slug, s.id)}`);
    const argv = stageArgv({ config: prep.config }, dry, { id: s.id, sessionId: stageSessionId(dry, { orchDir: prep.paths.dir, id: s.id }, { attempt: 1 }) });
    ctx.out(verbose ? `  argv: ${JSON.stringify(argv)}` : `  runs: ${shortCommand(argv)}`);
  }
  ctx.out("");
  ctx.out("Dry run: nothing was written or launched.");
  return 0;
}

/** A stage's settings on one line: `model opus · on host gpu1 · exclusive: database · budget $5.00 · 2 attempts · validate: npm test`. */
function describeSettings(settings: StageSettings | undefined): string {
  if (!settings) return "";
  const parts: string[] = [];
  if (settings.model) parts.push(`model ${settings.model}`);
  if (settings.host) parts.push(`on host ${settings.host}`);
  if (settings.needs?.length) parts.push(`needs a host labelled ${settings.needs.join(" and ")}`);
  if (settings.exclusive_resources?.length) parts.push(`exclusive: ${settings.exclusive_resources.join(", ")} (never at the same time as another stage naming it)`);
  if (settings.budget_usd !== undefined) parts.push(`budget ${dollars(settings.budget_usd)}`);
  if (settings.max_attempts !== undefined) parts.push(`at most ${settings.max_attempts} attempt${settings.max_attempts === 1 ? "" : "s"}`);
  if (settings.validate?.length) parts.push(`validate: ${settings.validate.map(commandLine).join("; ")}`);
  return parts.join(" · ");
}

export function printSummary(ctx: Ctx, prep: PreparedPlan, status: Status, monitorPid: number | undefined): void {
  const sock = prep.config.tmuxSocket ? ` -L ${prep.config.tmuxSocket}` : "";
  const count = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  ctx.out(`Orchestrating ${prep.planName} (${count(Object.keys(status.stages).length, "stage")}, ${count(status.waves.length, "wave")})`);
  ctx.out(`  plan:          ${prep.planPath}`);
  ctx.out(`  project:       ${status.project_root} (base ${status.base_branch})`);
  ctx.out(`  orchestration: ${prep.paths.dir}`);
  ctx.out(`  status file:   ${prep.paths.status}`);
  ctx.out(`  monitor log:   ${prep.paths.monitorLog}${monitorPid ? ` (monitor pid ${monitorPid})` : ""}`);
  if (!monitorPid) ctx.out(`  monitor:       not started (--no-monitor): nothing is nudged, merged or launched until autorun resume ${prep.planName} starts it`);
  const sandbox = sandboxLine(prep.config);
  if (sandbox) ctx.out(`  ${sandbox}`);
  if (prep.config.validate.length > 0 || Object.values(status.stages).some((s) => s.settings.validate?.length)) ctx.out(`  ${checkBoxLine(prep.config.sandbox)[1]}`);
  status.waves.forEach((ids, i) => ctx.out(`  wave ${i + 1}: ${ids.join(", ")}`));
  const running = Object.entries(status.stages).filter(([, s]) => s.status === "in_progress");
  for (const [id, s] of running) ctx.out(`  stage ${id} running in tmux session ${s.session}`);
  if (running[0]) ctx.out(`Attach: autorun attach ${prep.planName} ${running[0][0]}   (or: tmux${sock} attach -t ${running[0][1].session})`);
  // One command per line, so each can be pasted as it is.
  ctx.out("Follow it with any of:");
  for (const cmd of [`autorun status ${prep.planName}`, `autorun logs ${prep.planName} -f`, `autorun dashboard ${prep.planName}`]) ctx.out(`  ${cmd}`);
}

/**
 * A new run whose every stage the plan marks done: recorded as completed at once, its report
 * written, and said so (no monitor starts, no stage is listed as waiting).
 */
export async function endDoneBefore(ctx: Ctx, prep: PreparedPlan, status: Status): Promise<number> {
  appendFor(prep.paths, status, { type: "orchestration_complete", status: "completed" });
  await rebuildStatus(prep.paths);
  const report = await writeReport(ctx, prep.paths);
  const ids = Object.keys(status.stages);
  ctx.out(`Every stage of ${prep.planName} is marked done in ${prep.planPath} (${ids.length === 1 ? "stage" : "stages"} ${ids.join(", ")}): nothing to run.`);
  if (report) ctx.out(`  report: ${report}`);
  ctx.out(`To run a stage again, change its Status line in the plan and run: autorun orchestrate ${relative(ctx.cwd, prep.planPath) || prep.planPath} --fresh`);
  return 0;
}

/**
 * Whether Claude Code's Bash sandbox holds the stages, said before they run: without it their Bash
 * commands wait for a person, which an unattended run must know at its start, not from doctor.
 * Nothing for another agent (the sandbox is Claude Code's).
 */
function sandboxLine(config: Config): string | undefined {
  if (!isClaude(config.agentCommand[0] ?? "")) return undefined;
  const [, text] = checkSandbox(config.sandbox);
  return config.sandbox && Object.keys(config.hosts).length > 0 ? `${text}; on another host, where that host has it (the log says where it has not)` : text;
}

/** An agent's command line for a person to read: long values (the settings JSON, the plugin path) elided. */
function shortCommand(argv: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === "--settings" || a === "--plugin-dir") && i + 1 < argv.length) {
      out.push(a, "…");
      i++;
    } else out.push(/[\s"'$]/.test(a) ? JSON.stringify(a) : a);
  }
  return `${out.join(" ")}   (--verbose: the exact argument list)`;
}
