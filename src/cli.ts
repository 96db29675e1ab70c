#!/usr/bin/env node
/**
 * The command line. The only module that knows commander: it turns flags into typed options and
 * lazily imports the command, so `autorun --help` loads nothing heavy. Only `main` exits.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { Ctx } from "./commands/ctx.js";
import type { ConfigFile } from "./state/schemas.js";

/** autorun's own package.json, found upward from this file (src/ when run from source, dist/src/ when built). */
function ownPackage(): { version: string; bugs?: { url?: string } | string } {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version: string; bugs?: { url?: string } | string };
      if (pkg.name === "autorun") return pkg;
    } catch {
      // not here; look further up
    }
    if (dirname(dir) === dir) return { version: "unknown" };
  }
}

function positiveInt(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${name} must be a whole number ≥ 1.`);
    return Number(v);
  };
}

function positiveNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number > 0.`);
    return n;
  };
}

async function ctx(): Promise<Ctx> {
  return (await import("./commands/ctx.js")).defaultCtx();
}

/** A hook payload is a few kilobytes; more than this is not one, and is not held in memory. */
const STDIN_LIMIT = 8 * 1024 * 1024;

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return "";
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > STDIN_LIMIT) {
      process.stdin.destroy();
      return "\u0000too large";
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function example(cmd: Command, text: string): Command {
  return cmd.addHelpText("after", `\nExample:\n  ${text.split("\n").join("\n  ")}\n`);
}

interface OrchestrateFlags {
  dryRun?: boolean;
  json?: boolean;
  verbose?: boolean;
  maxParallel?: number;
  schedule?: "eager" | "waves";
  agentCmd?: string;
  model?: string;
  permissionMode?: string;
  tmuxSocket?: string;
  stallSeconds?: number;
  budget?: number;
  stageBudget?: number;
  base?: string;
  project?: string;
  parseWith?: string;
  fresh?: boolean;
  monitor?: boolean;
}

export function buildProgram(setCode: (code: number) => void): Command {
  const program = new Command("autorun")
    .description("Run a staged master plan with AI coding agents, each in its own tmux session, with a monitor that nudges, merges and launches.")
    .version(ownPackage().version)
    .showSuggestionAfterError()
    // One line: commander's message, with its "(Did you mean …?)" kept on that line.
    .configureOutput({ outputError: (str, write) => write(str.trim().split("\n").map((l) => l.trim()).filter(Boolean).slice(0, 2).join(" ") + "\n") })
    .exitOverride();
  const done = (p: Promise<number> | number) => Promise.resolve(p).then(setCode);
  /** An action that loads its command module only when it runs (so `--help` loads none of them). */
  const lazy =
    <M, A extends unknown[]>(load: () => Promise<M>, pick: (m: M) => (ctx: Ctx, ...args: A) => Promise<number> | number) =>
    async (...args: A) =>
      done(pick(await load())(await ctx(), ...args));

  example(
    program
      .command("orchestrate")
      .description("parse a master plan, write the orchestration, launch every ready stage and start the monitor")
      .argument("<plan>", "master plan file (.md, .yaml)")
      .option("--dry-run", "parse and print stages, waves and the commands it would run; write nothing")
      .option("--json", "with --dry-run: machine-readable plan")
      .option("--verbose", "with --dry-run: the exact argument list of each stage's agent")
      .option("--max-parallel <n>", "stages running at once (default 4)", positiveInt("--max-parallel"))
      .addOption(new Option("--schedule <mode>", "eager: launch as soon as deps merge; waves: strict wave barriers").choices(["eager", "waves"]))
      .option("--agent-cmd <cmd>", 'agent program or template (JSON array, e.g. \'["node","agent.js"]\'); "sim": the bundled simulated agent, no tokens spent')
      .option("--model <model>", "model passed to claude")
      .option("--permission-mode <mode>", "permission mode passed to claude")
      .option("--tmux-socket <name>", "run sessions on this tmux server (tmux -L <name>)")
      .option("--stall-seconds <s>", "idle time before a stage is nudged", positiveNumber("--stall-seconds"))
      .option("--budget <usd>", "dollars the whole run may spend (then nothing new is launched)", positiveNumber("--budget"))
      .option("--stage-budget <usd>", "dollars each stage may spend (then it is not nudged any more)", positiveNumber("--stage-budget"))
      .option("--base <branch>", "base branch stages branch from and merge into (default: the current branch)")
      .option("--project <dir>", "project root (default: the git repository of the current directory)")
      .addOption(new Option("--parse-with <parser>", "parse a free-form plan with claude -p").choices(["claude"]))
      .option("--fresh", "start over when this plan already has an orchestration (the old one is kept)")
      .option("--no-monitor", "do not start the background monitor"),
    "autorun orchestrate docs/master-plan.md --dry-run\nautorun orchestrate docs/master-plan.md --max-parallel 2",
  ).action(async (plan: string, f: OrchestrateFlags) => {
    const { runOrchestrate } = await import("./commands/orchestrate.js");
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
    if (f.agentCmd !== undefined) {
      const { parseAgentCmd } = await import("./adapters/agent.js");
      const { UserError } = await import("./errors.js");
      try {
        config.agentCommand = parseAgentCmd(f.agentCmd);
      } catch (error) {
        throw new UserError(`--agent-cmd: ${(error as Error).message}.`);
      }
    }
    await done(
      runOrchestrate(await ctx(), plan, {
        dryRun: f.dryRun,
        json: f.json,
        verbose: f.verbose,
        base: f.base,
        project: f.project,
        parseWith: f.parseWith,
        fresh: f.fresh,
        noMonitor: f.monitor === false,
        config,
      }),
    );
  });

  example(
    program
      .command("status")
      .description("table of stages: status, attention, wave, deps, elapsed, branch, session (no plan: every orchestration)")
      .argument("[plan]", "plan file or plan name")
      .option("--json", "print status.json")
      .option("--watch", "refresh every 2 s"),
    "autorun status\nautorun status master-plan --json",
  ).action(lazy(() => import("./commands/status.js"), (m) => m.runStatus));

  example(
    program.command("dashboard").description("live terminal dashboard: stages, dependencies, events, monitor log").argument("[plan]", "plan file or plan name"),
    "autorun dashboard master-plan",
  ).action(lazy(() => import("./tui/dashboard.js"), (m) => m.runDashboard));

  example(
    program.command("attach").description("attach to a stage's tmux session (switch-client when inside tmux)").argument("<plan>").argument("<stage>"),
    "autorun attach master-plan 2",
  ).action(lazy(() => import("./commands/control.js"), (m) => m.runAttach));

  example(
    program.command("logs").description("print the monitor log").argument("[plan]").option("-f, --follow", "keep printing new lines"),
    "autorun logs master-plan -f",
  ).action(lazy(() => import("./commands/control.js"), (m) => m.runLogs));

  example(
    program.command("monitor").description("run the monitor in the foreground").argument("<plan>").option("--once", "do one pass and exit"),
    "autorun monitor master-plan --once",
  ).action(lazy(() => import("./commands/monitor.js"), (m) => m.runMonitor));

  example(
    program
      .command("retry")
      .description("run failed or blocked stages again, with a fresh attempt budget (their dependants follow)")
      .argument("<plan>")
      .argument("<stage...>", "stage ids")
      .option("--fresh-worktree", "start from the tip of the base branch (the old branch is kept under another name)"),
    "autorun retry master-plan 3 --fresh-worktree",
  ).action(lazy(() => import("./commands/control.js"), (m) => m.runRetry));

  example(
    program
      .command("resume")
      .description("restart the monitor; relaunch stages whose session died; close an open circuit breaker")
      .argument("<plan>")
      .option("--budget <usd>", "raise the run's budget to this many dollars", positiveNumber("--budget"))
      .option("--stage-budget <usd>", "raise every stage's budget to this many dollars", positiveNumber("--stage-budget")),
    "autorun resume master-plan\nautorun resume master-plan --budget 40",
  ).action(lazy(() => import("./commands/control.js"), (m) => m.runResume));

  example(
    program.command("stop").description("stop the monitor (and with --sessions the stage sessions); nothing on disk is lost").argument("<plan>").option("--sessions", "also end the stage sessions"),
    "autorun stop master-plan --sessions",
  ).action(lazy(() => import("./commands/control.js"), (m) => m.runStop));

  example(
    program.command("nudge").description("send a message (default: continue) to a stage's agent, verified").argument("<plan>").argument("<stage>").argument("[message]"),
    'autorun nudge master-plan 3 "please run the tests and continue"',
  ).action(lazy(() => import("./commands/control.js"), (m) => m.runNudge));

  example(
    program
      .command("merge")
      .description("merge a stage's branch into the base branch through the merge queue (the monitor does this itself)")
      .argument("<plan>")
      .argument("<stage>")
      .option("--dry-run", "say what the merge would do (conflicts, checks, your checkout) and change nothing"),
    "autorun merge master-plan 3 --dry-run",
  ).action(lazy(() => import("./commands/control.js"), (m) => m.runMerge));

  example(
    program
      .command("phase")
      .description("(agents) report a phase of the current stage")
      .argument("<phase>", "triage | research | create_plan | implement | merge")
      .argument("<state>", "start | done")
      .option("--current <n>", "implementation phase number")
      .option("--total <n>", "number of implementation phases")
      .option("--plan-file <file>", "the stage's implementation plan")
      .option("--complexity <c>", "QUICK | MEDIUM | LARGE (triage)")
      .option("--orch-dir <dir>", "orchestration dir (default: $AUTORUN_ORCH_DIR)")
      .option("--stage <id>", "stage id (default: $AUTORUN_STAGE)"),
    "autorun phase implement start --current 1 --total 3",
  ).action(async (phase: string, state: string, f: Record<string, string | undefined>) => {
    const { runPhase } = await import("./commands/agent-report.js");
    await done(runPhase(await ctx(), phase, state, f));
  });

  example(
    program
      .command("event")
      .description("(agents) append a validated event")
      .argument("<type>")
      .argument("[fields...]", "key=value pairs")
      .option("--data <json>", "fields as a JSON object")
      .option("--orch-dir <dir>")
      .option("--stage <id>"),
    "autorun event stage_idle source=hook reason=waiting",
  ).action(lazy(() => import("./commands/agent-report.js"), (m) => m.runEvent));

  example(
    program.command("hook").description("(hooks) turn a Claude Code hook payload on stdin into an event").argument("<name>", "Notification | Stop | SessionStart | SessionEnd | UserPromptSubmit"),
    `echo '{"notification_type":"idle_prompt"}' | autorun hook Notification`,
  ).action(async (name: string) => {
    const { runHook } = await import("./commands/agent-report.js");
    await done(runHook(await ctx(), name, await readStdin()));
  });

  const review = example(program.command("review").description("review files: questions for a person, answered in an editor"), 'autorun review new --title "API shape" --question "REST or RPC?"\nautorun review list');
  example(
    review
      .command("new")
      .description("write a review file and mark the stage as waiting on it; prints its path")
      .requiredOption("--title <title>")
      .option("--context <text>", "background for the reviewer", "")
      .option("--question <q...>", "a question (repeat for more; 'Topic: question' sets the topic)")
      .option("--stage <id>")
      .option("--orch-dir <dir>"),
    'autorun review new --title "Schema" --question "Keep the old table? Yes or no"',
  ).action(lazy(() => import("./commands/review.js"), (m) => m.runReviewNew));
  example(review.command("list").description("open and answered reviews, with the stage each blocks").option("--json", "print the list as JSON"), "autorun review list --json").action(lazy(() => import("./commands/review.js"), (m) => m.runReviewList));
  example(review.command("open").description("open a review in $VISUAL/$EDITOR (default: the oldest unanswered)").argument("[file]"), "autorun review open").action(lazy(() => import("./commands/review.js"), (m) => m.runReviewOpen));
  example(
    review.command("wait").description("block until every question has an answer; print the answers as JSON").argument("<file>").option("--timeout <seconds>", "give up after this long (exit 1)", positiveNumber("--timeout")),
    "autorun review wait ~/.autorun/review/2026-01-01-120000-schema.md --timeout 3600",
  ).action(lazy(() => import("./commands/review.js"), (m) => m.runReviewWait));
  example(review.command("answers").description("print a review's answers as JSON").argument("<file>"), "autorun review answers <file>").action(lazy(() => import("./commands/review.js"), (m) => m.runReviewAnswers));

  example(
    program.command("report").description("the final report of an orchestration").argument("[plan]").option("--json", "print the report as JSON"),
    "autorun report master-plan",
  ).action(lazy(() => import("./commands/report.js"), (m) => m.runReport));

  example(
    program.command("doctor").description("check tools, trust, templates and state; reconcile sessions, worktrees and branches").option("--fix", "fix what is safe to fix").option("--project <dir>", "the project to check (default: the git repository of the current directory)").option("--tmux-socket <name>", "also look at sessions on this tmux server (tmux -L <name>)"),
    "autorun doctor --fix",
  ).action(lazy(() => import("./commands/doctor.js"), (m) => m.runDoctor));

  example(
    program.command("demo").description("run a bundled 5-stage plan with the simulated agent in a throw-away repo on a private tmux server").option("--keep", "keep the demo's tmux server afterwards").option("--dashboard", "watch it in the dashboard").option("--review", "a stage asks you a question through a review file"),
    "autorun demo\nautorun demo --review --dashboard",
  ).action(lazy(() => import("./commands/demo.js"), (m) => m.runDemo));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  // `autorun status | head -1`: a reader that goes away is not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(0);
    });
  }
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return 0;
      return error.exitCode === 0 ? 0 : 2;
    }
    const { isExpectedError } = await import("./errors.js");
    const debug = Boolean(process.env.AUTORUN_DEBUG);
    if (isExpectedError(error)) {
      process.stderr.write(`autorun: ${error.message}\n`);
      if (debug && error.stack) process.stderr.write(error.stack + "\n");
      return error.exitCode;
    }
    const errno = error as NodeJS.ErrnoException;
    if (errno?.code && ["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "ENAMETOOLONG"].includes(errno.code)) {
      const { describeErrno } = await import("./errors.js");
      const where = errno.path ? ` ${errno.path}` : ` in ${process.env.AUTORUN_HOME || "~/.autorun"}`;
      process.stderr.write(`autorun: cannot ${errno.syscall ?? "write"}${where}: ${errno.code}${describeErrno(errno.code)}\n`);
      return 1;
    }
    process.stderr.write(`autorun: internal error: ${(error as Error)?.message ?? String(error)}\n`);
    // What a report needs: the versions, the command, and where to send it.
    const pkg = ownPackage();
    const where = typeof pkg.bugs === "string" ? pkg.bugs : (pkg.bugs?.url ?? "the autorun issue tracker");
    process.stderr.write(`autorun ${pkg.version}, node ${process.version}, ${process.platform}; command: autorun ${argv.slice(2).join(" ")}\n`);
    process.stderr.write(debug ? `${(error as Error)?.stack ?? ""}\n` : `Run again with AUTORUN_DEBUG=1 for the stack, and please report it with these lines to ${where}.\n`);
    return 1;
  }
}

/** True when this file is the program being run (directly or through the dist/bin/autorun link). */
async function isEntry(): Promise<boolean> {
  try {
    const { realpathSync } = await import("node:fs");
    const { pathToFileURL } = await import("node:url");
    return process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (await isEntry()) {
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    () => {
      process.exitCode = 1;
    },
  );
}
