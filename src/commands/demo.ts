/**
 * `autorun demo`: a whole orchestration of a bundled plan with the simulated agent, in a throw-away
 * git repo, on a private tmux server and a private AUTORUN_HOME, so it touches nothing of yours.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as git from "../adapters/git.js";
import { createTmux } from "../adapters/tmux.js";
import { packageRoot, simAgentPath } from "../adapters/agent.js";
import { loadStatus } from "../state/status.js";
import { readEventsFrom } from "../state/events.js";
import { findExecutable, onStopSignal } from "../adapters/process.js";
import { orchPaths } from "../state/paths.js";
import { human } from "../core/report.js";
import { runOrchestrate } from "./orchestrate.js";
import { runStop } from "./control.js";
import type { Ctx } from "./ctx.js";
import { RuntimeError } from "../errors.js";
import { eventText } from "../core/words.js";

export async function runDemo(ctx: Ctx, f: { keep?: boolean; dashboard?: boolean; review?: boolean }): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "autorun-demo-"));
  const repo = join(dir, "notes-service");
  const home = join(dir, "autorun-home");
  mkdirSync(repo);
  mkdirSync(home);
  const socket = `autorun-demo-${process.pid}`;
  const planFile = f.review ? "demo-review-plan.md" : "demo-plan.md";
  await git.initRepo(repo, { "README.md": "# notes service\n\nA demo project for autorun.\n", ".gitignore": "node_modules/\n" }, { name: "autorun demo", email: "demo@autorun.invalid" });
  copyFileSync(join(packageRoot(), "examples", planFile), join(dir, "master-plan.md"));
  writeFileSync(
    join(home, "config.json"),
    JSON.stringify({ agentCommand: [process.execPath, simAgentPath()], tmuxSocket: socket, stallSeconds: 5, pollSeconds: 1 }, null, 2) + "\n",
  );
  const env = { ...ctx.env, AUTORUN_HOME: home, AUTORUN_SIM_DELAY_MS: ctx.env.AUTORUN_SIM_DELAY_MS ?? "400" };
  // The commands the demo prints work when pasted: they name the demo's state dir, and run the
  // built CLI by its path when `autorun` is not on PATH.
  const cli = findExecutable("autorun", ctx.env.PATH) ? "autorun" : `node ${join(packageRoot(), "dist", "src", "cli.js")}`;
  const run = `AUTORUN_HOME=${home} ${cli}`;
  // The orchestrate summary would print commands without the demo's AUTORUN_HOME: the demo says its own.
  const demoCtx: Ctx = { ...ctx, cwd: repo, home, env, out: () => {} };
  ctx.out(`autorun demo: a 5-stage plan run by the simulated agent (no tokens spent)`);
  ctx.out(`  project:   ${repo}`);
  ctx.out(`  state:     ${home}`);
  ctx.out(`  tmux:      tmux -L ${socket} ls`);
  ctx.out("");
  // A demo that could not start leaves nothing behind (its directory holds only what it made).
  const notStarted = async () => {
    await createTmux(socket).killServer();
    rmSync(dir, { recursive: true, force: true });
  };
  const code = await runOrchestrate(demoCtx, join(dir, "master-plan.md"), { config: {} }).catch(async (error: unknown) => {
    await notStarted();
    throw error;
  });
  if (code !== 0) {
    await notStarted();
    return code;
  }
  // Ctrl-C: the demo is throw-away, so its monitor and sessions go with it (with --keep they stay,
  // and it says how to follow and end them); either way it says what is left where.
  const interrupted = () => void stopDemo(ctx, demoCtx, { socket, dir, run, keep: Boolean(f.keep) }).finally(() => process.exit(130));
  onStopSignal(["SIGINT"], interrupted);
  ctx.out("Started. To look while it runs (paste as they are):");
  ctx.out(`  ${run} status master-plan --watch`);
  // Only a stage running now has a session to attach to (a fast one may have merged already).
  const running = Object.entries(loadStatus(orchPaths(home, "master-plan", "master-plan"))?.stages ?? {}).find(([, s]) => s.status === "in_progress");
  if (running) ctx.out(`  ${run} attach master-plan ${running[0]}   # stage ${running[0]}'s session while it runs (Ctrl-b d to leave it)`);
  if (!f.dashboard) ctx.out(`  ${run} dashboard master-plan`);
  if (f.review) ctx.out(`Stage 2 will ask you a question; answer it with: ${run} review open`);
  ctx.out("");
  ctx.out("What happens, as the monitor sees it:");

  let status;
  if (f.dashboard) {
    const { runDashboard } = await import("../tui/dashboard.js");
    await runDashboard({ ...demoCtx, out: ctx.out }, "master-plan");
    status = loadStatus(orchPaths(home, "master-plan", "master-plan"));
  } else {
    status = await narrate(ctx, home, run, f.review ? 30 * 60_000 : 5 * 60_000);
  }
  ctx.out("");
  ctx.out(await git.logGraph(repo, 24));
  ctx.out("");
  ctx.out(`Result: ${status?.status ?? "unknown"}.`);
  ctx.out(`  ${run} report master-plan     # per stage: result, merge commit, how to roll back`);
  ctx.out(`  ${run} logs master-plan       # what the monitor did, in words`);
  ctx.out(`  git -C ${repo} log --graph --oneline   # one merge commit per stage`);
  if (f.keep) {
    // A stage's session ends when it merges: only what did not merge is left to look at.
    const tmux = createTmux(socket);
    const left = await tmux.listSessions();
    if (left.length === 0) ctx.out(`No stage session is left to look at: each ended when its stage merged. Everything else stays in ${dir} (rm -rf it when done).`);
    else {
      ctx.out("The sessions still open (paste as they are):");
      for (const s of left) ctx.out(`  tmux -L ${socket} attach -t ${s}`);
      ctx.out(`  tmux -L ${socket} kill-server   # when done; everything else stays in ${dir}`);
    }
  } else {
    await createTmux(socket).killServer();
    ctx.out(`The demo's tmux server is stopped (autorun demo --keep keeps it to look at the sessions). Everything else stays in ${dir} (rm -rf it when done).`);
  }
  process.removeListener("SIGINT", interrupted);
  return status?.status === "completed" ? 0 : 1;
}

async function stopDemo(ctx: Ctx, demoCtx: Ctx, d: { socket: string; dir: string; run: string; keep: boolean }): Promise<void> {
  if (d.keep) {
    ctx.err(`autorun demo: interrupted; the run goes on in the background. Follow it: ${d.run} status master-plan --watch; end it: ${d.run} stop master-plan --sessions`);
    return;
  }
  const quiet: Ctx = { ...demoCtx, out: () => {}, err: () => {} };
  await runStop(quiet, "master-plan", { sessions: true }).catch(() => 1);
  await createTmux(d.socket).killServer().catch(() => undefined);
  ctx.err(`autorun demo: interrupted; its monitor and sessions are stopped. Everything else stays in ${d.dir} (rm -rf it when done).`);
}

/** Tells what the run does as it does it, from its events: phases, merges and the launches they allow, stalls and nudges, questions. */
async function narrate(ctx: Ctx, home: string, run: string, timeoutMs: number) {
  const paths = orchPaths(home, "master-plan", "master-plan");
  const started = Date.now();
  let offset = 0;
  const say = (text: string) => ctx.out(`  ${human(Math.round((Date.now() - started) / 1000)).padStart(6)}  ${text}`);
  for (;;) {
    const chunk = readEventsFrom(paths.events, offset);
    offset = chunk.offset;
    const status = loadStatus(paths);
    if (!status) throw new RuntimeError(`the demo orchestration disappeared from ${paths.dir}`);
    for (const e of chunk.events) {
      const name = e.stage !== undefined ? `stage ${e.stage} (${status.stages[e.stage]?.name ?? "?"})` : "";
      switch (e.type) {
        case "stage_launched": {
          const deps = status.stages[e.stage]?.depends_on ?? [];
          say(`${name} starts${deps.length ? `: everything it depends on (${deps.join(", ")}) has merged` : ""}`);
          break;
        }
        case "phase_status":
          if (e.status === "start") say(`${name}: ${eventText(e)}`);
          else if (e.phase === "implement") say(`${name} hands its branch over; the monitor merges it`);
          break;
        case "stall_detected":
          say(`${name} stopped at its prompt mid-stage (a planned stall); idle ${e.idle_seconds} s, so the monitor nudges it`);
          break;
        case "stall_continue_sent":
          say(`${name} got ${JSON.stringify(e.message)}${e.verified ? " and carries on" : ""}`);
          break;
        case "merge_complete":
          say(`${name} merged into main (${e.commit.slice(0, 10)}); whatever waited on it can start`);
          break;
        case "merge_conflict":
          say(`${name} not merged (${e.reason.replace(/_/g, " ")}): it is told why and fixes it`);
          break;
        case "review_requested":
          say(`${name} asks a person: ${e.title} — answer it: ${run} review open`);
          break;
        case "review_answered":
          say(`${name}'s question is answered; it goes on`);
          break;
        default:
          break;
      }
    }
    if (status.status !== "running") return status;
    if (Date.now() - started > timeoutMs) {
      say("the demo is taking too long; leaving it running");
      return status;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}
