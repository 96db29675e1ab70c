/**
 * The command table: every command with its arguments, options and their help, an example, the
 * schema its options are checked with and how it runs (its module imported only then). Data only:
 * src/cli.ts turns it into the commander program.
 */
import type * as Z from "zod";
import type { Ctx } from "./ctx.js";
import type { ConfigFile } from "../types/schemas.js";
import { amount, command, configNumber, maybe, plain, str, list, type CommandSpec } from "./command-spec.js";
import { AGENT_COMMANDS, HOST_COMMANDS } from "./table-agents.js";
import type { OptionBuilders } from "./option-schemas.js";

/** `autorun orchestrate`'s options. */
const orchestrateOptions = (z: OptionBuilders) =>
    z.object({
      dryRun: z.boolean().optional(),
      json: z.boolean().optional(),
      verbose: z.boolean().optional(),
      maxParallel: configNumber(z).optional(),
      schedule: z.enum(["eager", "waves"]).optional(),
      agentCmd: z.string().optional(),
      model: z.string().optional(),
      permissionMode: z.string().optional(),
      tmuxSocket: z.string().optional(),
      stallSeconds: configNumber(z).optional(),
      budget: amount(z).optional(),
      stageBudget: amount(z).optional(),
      base: z.string().optional(),
      project: z.string().optional(),
      parseWith: z.literal("claude").optional(),
      fresh: z.boolean().optional(),
      monitor: z.boolean(),
    });

/** `autorun orchestrate`: its flags as the configuration's keys and the run's options. */
async function orchestrate(c: Ctx, plan: string, f: Z.infer<ReturnType<typeof orchestrateOptions>>): Promise<number> {
  const config: ConfigFile = {
    maxParallel: f.maxParallel,
    schedule: f.schedule,
    model: f.model,
    permissionMode: f.permissionMode,
    tmuxSocket: f.tmuxSocket,
    stallSeconds: f.stallSeconds,
    budgetUsd: f.budget,
    stageBudgetUsd: f.stageBudget,
  };
  // What only shapes a dry run's output must not let a real run start unasked.
  const shaping = f.json ? "--json" : f.verbose ? "--verbose" : undefined;
  if (shaping !== undefined && !f.dryRun) {
    const { UserError } = await import("../errors.js");
    throw new UserError(`${shaping} goes with --dry-run (it shapes what the dry run prints, and a run is started without it); add --dry-run, or leave ${shaping} out to start the run.`);
  }
  if (f.agentCmd !== undefined) {
    const { parseAgentCmd } = await import("../adapters/agent.js");
    const { UserError } = await import("../errors.js");
    try {
      config.agentCommand = parseAgentCmd(f.agentCmd);
    } catch (error) {
      throw new UserError(`--agent-cmd: ${(error as Error).message}.`);
    }
  }
  const { runOrchestrate } = await import("./orchestrate.js");
  return runOrchestrate(c, plan, { dryRun: f.dryRun, json: f.json, verbose: f.verbose, base: f.base, project: f.project, parseWith: f.parseWith, fresh: f.fresh, noMonitor: !f.monitor, config });
}

export const COMMANDS: CommandSpec[] = [
  command({
    name: "orchestrate",
    person: true,
    summary: "parse a master plan, write the orchestration, launch every ready stage and start the monitor",
    args: [["<plan>", "master plan file (.md, .yaml)"]],
    options: [
      { flags: "--dry-run", help: "parse and print stages, waves and the commands it would run; write nothing" },
      { flags: "--json", help: "with --dry-run: machine-readable plan" },
      { flags: "--verbose", help: "with --dry-run: the exact argument list of each stage's agent" },
      { flags: "--max-parallel <n>", help: "stages running at once (default 4)" },
      { flags: "--schedule <mode>", help: "eager: launch as soon as deps merge; waves: strict wave barriers", choices: ["eager", "waves"] },
      { flags: "--agent-cmd <cmd>", help: 'agent program or template (JSON array, e.g. \'["node","agent.js"]\'); "sim": the bundled simulated agent, no tokens spent' },
      { flags: "--model <model>", help: "model passed to claude" },
      { flags: "--permission-mode <mode>", help: "permission mode passed to claude" },
      { flags: "--tmux-socket <name>", help: "run sessions on this tmux server (tmux -L <name>)" },
      { flags: "--stall-seconds <s>", help: "idle time before a stage is nudged" },
      { flags: "--budget <usd>", help: "dollars the whole run may spend (then nothing new is launched)" },
      { flags: "--stage-budget <usd>", help: "dollars each stage may spend (then it is not nudged any more)" },
      { flags: "--base <branch>", help: "base branch stages branch from and merge into (default: the current branch)" },
      { flags: "--project <dir>", help: "project root (default: the git repository of the current directory)" },
      { flags: "--parse-with <parser>", help: "parse a free-form plan with claude -p", choices: ["claude"] },
      { flags: "--fresh", help: "start over when this plan already has an orchestration (the old one is kept, with any branch and worktree it left: the new run names its own)" },
      { flags: "--no-monitor", help: "do not start the background monitor" },
    ],
    example: "autorun orchestrate docs/master-plan.md --dry-run\nautorun orchestrate docs/master-plan.md --max-parallel 2",
    schema: orchestrateOptions,
    run: (c, [plan], f) => orchestrate(c, str(plan), f),
  }),
  command({
    name: "status",
    summary: "table of stages: status, attention, wave, deps, elapsed, branch, session (no plan: every orchestration)",
    args: [["[plan]", "plan file or plan name"]],
    options: [
      { flags: "--json", help: "print status.json" },
      { flags: "--watch", help: "refresh every 2 s" },
      { flags: "--wide", help: "every column, however wide (default: the terminal's width, 80 when not a terminal)" },
    ],
    example: "autorun status\nautorun status master-plan --json",
    schema: (z) => z.object({ json: z.boolean().optional(), watch: z.boolean().optional(), wide: z.boolean().optional() }),
    run: async (c, [plan], f) => (await import("./status.js")).runStatus(c, maybe(plan), f),
  }),
  plain({
    name: "dashboard",
    // Its keys stop the monitor, nudge and attach (typing into any stage's pane): a person's.
    person: true,
    summary: "live terminal dashboard: stages, dependencies, events, monitor log",
    args: [["[plan]", "plan file or plan name"]],
    example: "autorun dashboard master-plan",
    run: async (c, [plan]) => (await import("../tui/dashboard.js")).runDashboard(c, maybe(plan)),
  }),
  plain({
    name: "attach",
    person: true,
    summary: "show a stage's tmux session in this terminal (inside tmux: switches to it; inside another tmux server: opens it nested); detach (Ctrl-b d) to leave it running",
    args: [["<plan>"], ["<stage>"]],
    example: "autorun attach master-plan 2",
    run: async (c, [plan, stage]) => (await import("./control.js")).runAttach(c, str(plan), str(stage)),
  }),
  command({
    name: "logs",
    summary: "print the monitor log",
    args: [["[plan]"]],
    options: [{ flags: "-f, --follow", help: "keep printing new lines" }],
    example: "autorun logs master-plan -f",
    schema: (z) => z.object({ follow: z.boolean().optional() }),
    run: async (c, [plan], f) => (await import("./control.js")).runLogs(c, maybe(plan), f),
  }),
  command({
    name: "monitor",
    person: true,
    summary: "run the monitor in the foreground",
    args: [["<plan>"]],
    options: [{ flags: "--once", help: "do one pass and exit" }],
    example: "autorun monitor master-plan --once",
    schema: (z) => z.object({ once: z.boolean().optional() }),
    run: async (c, [plan], f) => (await import("./monitor.js")).runMonitor(c, str(plan), f),
  }),
  command({
    name: "retry",
    person: true,
    summary: "run failed or blocked stages again, with a fresh attempt budget (their dependants follow)",
    args: [["<plan>"], ["<stage...>", "stage ids"]],
    options: [{ flags: "--fresh-worktree", help: "start from the tip of the base branch (the old branch is kept under another name)" }],
    example: "autorun retry master-plan 3 --fresh-worktree",
    schema: (z) => z.object({ freshWorktree: z.boolean().optional() }),
    run: async (c, [plan, stages], f) => (await import("./retry.js")).runRetry(c, str(plan), list(stages), f),
  }),
  command({
    name: "resume",
    person: true,
    summary: "restart the monitor; relaunch stages whose session died; close an open circuit breaker",
    args: [["<plan>"]],
    options: [
      { flags: "--budget <usd>", help: "raise the run's budget to this many dollars" },
      { flags: "--stage-budget <usd>", help: "raise every stage's budget to this many dollars" },
    ],
    example: "autorun resume master-plan\nautorun resume master-plan --budget 40",
    schema: (z) => z.object({ budget: amount(z).optional(), stageBudget: amount(z).optional() }),
    run: async (c, [plan], f) => (await import("./control.js")).runResume(c, str(plan), f),
  }),
  command({
    name: "stop",
    person: true,
    summary: "stop the monitor (and with --sessions the stage sessions); nothing on disk is lost",
    args: [["<plan>"]],
    options: [{ flags: "--sessions", help: "also end the stage sessions" }],
    example: "autorun stop master-plan --sessions",
    schema: (z) => z.object({ sessions: z.boolean().optional() }),
    run: async (c, [plan], f) => (await import("./control.js")).runStop(c, str(plan), f),
  }),
  plain({
    name: "nudge",
    person: true,
    summary: "send a message (default: continue) to a stage's agent, verified",
    args: [["<plan>"], ["<stage>"], ["[message]"]],
    example: 'autorun nudge master-plan 3 "please run the tests and continue"',
    run: async (c, [plan, stage, message]) => (await import("./control.js")).runNudge(c, str(plan), str(stage), maybe(message)),
  }),
  command({
    name: "merge",
    person: true,
    summary: "merge a stage's branch into the base branch through the merge queue (the monitor does this itself)",
    args: [["<plan>"], ["<stage>"]],
    options: [{ flags: "--dry-run", help: "say what the merge would do (conflicts, checks, your checkout) and change nothing" }],
    example: "autorun merge master-plan 3 --dry-run",
    schema: (z) => z.object({ dryRun: z.boolean().optional() }),
    run: async (c, [plan, stage], f) => (await import("./control.js")).runMerge(c, str(plan), str(stage), f),
  }),
  command({
    name: "done",
    person: true,
    summary: "say a stage is finished (its branch merged into the base by your own hand): what waits for it goes on",
    args: [["<plan>"], ["<stage>"]],
    options: [{ flags: "--yes", help: "mark done without asking a stage that has not started, or a running one whose branch has no commits of its own" }],
    example: "git merge --no-ff worktree-master-plan-stage-3\nautorun done master-plan 3",
    schema: (z) => z.object({ yes: z.boolean().optional() }),
    run: async (c, [plan, stage], f) => (await import("./finish.js")).runDone(c, str(plan), str(stage), f),
  }),
  command({
    name: "skip",
    person: true,
    summary: "let what waits for a stage go on without it (its worktree and branch are kept; the report says so)",
    args: [["<plan>"], ["<stage>"]],
    options: [
      { flags: "--reason <text>", help: "why, for the report" },
      { flags: "--yes", help: "skip a stage that has not started without asking" },
    ],
    example: 'autorun skip master-plan 3 --reason "done upstream"',
    schema: (z) => z.object({ reason: z.string().optional(), yes: z.boolean().optional() }),
    run: async (c, [plan, stage], f) => (await import("./finish.js")).runSkip(c, str(plan), str(stage), f),
  }),
  command({
    name: "init",
    person: true,
    summary: "write a commented master plan and configuration in this project, to edit and run",
    options: [{ flags: "--plan <file>", help: "the plan's file name (default master-plan.md); an existing file is never overwritten" }],
    example: "autorun init\nautorun init --plan wave-1.md",
    schema: (z) => z.object({ plan: z.string().min(1).optional() }),
    run: async (c, _args, f) => (await import("./init.js")).runInit(c, f),
  }),
  plain({
    name: "completion",
    summary: "print a shell completion script for bash or zsh",
    args: [["<shell>", "bash | zsh"]],
    example: 'eval "$(autorun completion bash)"   # in ~/.bashrc\neval "$(autorun completion zsh)"    # in ~/.zshrc, after compinit',
    run: async (c, [shell]) => (await import("./completion.js")).runCompletion(c, str(shell)),
  }),
  command({
    name: "discard",
    person: true,
    summary: "end an abandoned run for good: its monitor, sessions, worktrees, merged branches, reviews and state (unmerged work is kept and named)",
    args: [["<plan>"]],
    options: [{ flags: "--yes", help: "do not ask (needed without a terminal)" }],
    example: "autorun discard master-plan\nautorun discard master-plan --yes",
    schema: (z) => z.object({ yes: z.boolean().optional() }),
    run: async (c, [plan], f) => (await import("./discard.js")).runDiscard(c, str(plan), f),
  }),
  ...AGENT_COMMANDS,
  command({
    name: "review new",
    summary: "write a review file and mark the stage as waiting on it; prints its path",
    options: [
      { flags: "--title <title>", help: "what the review is about", required: true },
      { flags: "--context <text>", help: "background for the reviewer", default: "" },
      { flags: "--question <q...>", help: "a question (repeat for more; 'Topic: question' sets the topic)" },
      { flags: "--stage <id>", help: "the stage that waits on it (default: $AUTORUN_STAGE)" },
      { flags: "--orch-dir <dir>", help: "orchestration dir (default: $AUTORUN_ORCH_DIR)" },
    ],
    example: 'autorun review new --title "Schema" --question "Keep the old table? Yes or no"',
    schema: (z) => z.object({ title: z.string(), context: z.string(), question: z.array(z.string()).optional(), stage: z.string().optional(), orchDir: z.string().optional() }),
    run: async (c, _args, f) => (await import("./review.js")).runReviewNew(c, f),
  }),
  command({
    name: "review list",
    summary: "open and answered reviews, with the stage each blocks (and the resolved ones of runs still going)",
    options: [
      { flags: "--all", help: "the resolved reviews of runs that are over too" },
      { flags: "--json", help: "print every review file as JSON" },
    ],
    example: "autorun review list --all",
    schema: (z) => z.object({ json: z.boolean().optional(), all: z.boolean().optional() }),
    run: async (c, _args, f) => (await import("./review.js")).runReviewList(c, f),
  }),
  plain({
    name: "review open",
    // Opening is answering: what is written in the editor is a person's answer.
    person: true,
    summary: "open a review in $VISUAL/$EDITOR (default: the oldest unanswered)",
    args: [["[file]"]],
    example: "autorun review open",
    run: async (c, [file]) => (await import("./review.js")).runReviewOpen(c, maybe(file)),
  }),
  command({
    name: "review wait",
    summary: "block until every question has an answer; print the answers as JSON",
    args: [["<file>"]],
    options: [{ flags: "--timeout <seconds>", help: "give up after this long (exit 1)" }],
    example: "autorun review wait ~/.autorun/review/2026-01-01-120000-schema.md --timeout 3600",
    schema: (z) => z.object({ timeout: amount(z).optional() }),
    run: async (c, [file], f) => (await import("./review.js")).runReviewWait(c, str(file), f),
  }),
  plain({
    name: "review answers",
    summary: "print a review's answers as JSON",
    args: [["<file>"]],
    example: "autorun review answers <file>",
    run: async (c, [file]) => (await import("./review.js")).runReviewAnswers(c, str(file)),
  }),
  command({
    name: "report",
    summary: "the final report of an orchestration",
    args: [["[plan]"]],
    options: [{ flags: "--json", help: "print the report as JSON" }],
    example: "autorun report master-plan",
    schema: (z) => z.object({ json: z.boolean().optional() }),
    run: async (c, [plan], f) => (await import("./report.js")).runReport(c, maybe(plan), f),
  }),
  command({
    name: "doctor",
    person: true,
    summary: "check tools, trust, templates and state; reconcile sessions, worktrees and branches",
    options: [
      { flags: "--fix", help: "fix what is safe to fix" },
      { flags: "--project <dir>", help: "the project to check (default: the git repository of the current directory)" },
      { flags: "--tmux-socket <name>", help: "also look at sessions on this tmux server (tmux -L <name>)" },
      { flags: "--claude", help: "drive your installed claude for about 30 s against a local API stand-in (temp HOME, no tokens) and say which screens and hooks autorun understood" },
    ],
    example: "autorun doctor --fix",
    schema: (z) => z.object({ fix: z.boolean().optional(), project: z.string().optional(), tmuxSocket: z.string().optional(), claude: z.boolean().optional() }),
    run: async (c, _args, f) => (await import("./doctor.js")).runDoctor(c, f),
  }),
  command({
    name: "hosts",
    summary: "the configured hosts: reachable or not, autorun/tmux/git/agent versions there, slots in use",
    options: [
      { flags: "--json", help: "print the hosts as JSON" },
      { flags: "--project <dir>", help: "the project whose autorun.config.json to read (default: the git repository of the current directory)" },
    ],
    example: "autorun hosts\nautorun hosts --json",
    schema: (z) => z.object({ json: z.boolean().optional(), project: z.string().optional() }),
    run: async (c, _args, f) => (await import("./hosts.js")).runHosts(c, f),
  }),
  ...HOST_COMMANDS,
  command({
    name: "demo",
    person: true,
    summary: "run a bundled 5-stage plan with the simulated agent in a throw-away repo on a private tmux server",
    options: [
      { flags: "--keep", help: "keep the demo's tmux server afterwards, with any stage session still open" },
      { flags: "--dashboard", help: "watch it in the dashboard" },
      { flags: "--review", help: "a stage asks you a question through a review file" },
    ],
    example: "autorun demo\nautorun demo --review --dashboard",
    schema: (z) => z.object({ keep: z.boolean().optional(), dashboard: z.boolean().optional(), review: z.boolean().optional() }),
    run: async (c, _args, f) => (await import("./demo.js")).runDemo(c, f),
  }),
];

/** Groups of subcommands: their own help line and example. */
export const GROUPS: Record<string, { summary: string; example: string; hidden?: boolean }> = {
  host: { summary: "(controller) what autorun runs on another host over ssh; not for people", example: "autorun host versions < /dev/null", hidden: true },
  review: { summary: "review files: questions for a person, answered in an editor", example: 'autorun review new --title "API shape" --question "REST or RPC?"\nautorun review list' },
};
