/**
 * `autorun demo`: a whole orchestration of a bundled plan with the simulated agent, in a throw-away
 * git repo, on a private tmux server and a private AUTORUN_HOME, so it touches nothing of yours.
 */
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as git from "../adapters/git.js";
import { createTmux } from "../adapters/tmux.js";
import { packageRoot, simAgentPath } from "../adapters/agent.js";
import { loadStatus } from "../state/status.js";
import { orchPaths } from "../state/paths.js";
import { human } from "../core/report.js";
import { runOrchestrate } from "./orchestrate.js";
import type { Ctx } from "./context.js";
import { RuntimeError } from "../errors.js";

export async function runDemo(ctx: Ctx, f: { keep?: boolean; dashboard?: boolean; review?: boolean }): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "autorun-demo-"));
  const repo = join(dir, "notes-service");
  const home = join(dir, "autorun-home");
  mkdirSync(repo);
  mkdirSync(home);
  const socket = `autorun-demo-${process.pid}`;
  const planFile = f.review ? "demo-review-plan.md" : "demo-plan.md";
  await git.initRepo(repo, { "README.md": "# notes service\n\nA demo project for autorun.\n", ".gitignore": "node_modules/\n" });
  copyFileSync(join(packageRoot(), "examples", planFile), join(dir, "master-plan.md"));
  writeFileSync(
    join(home, "config.json"),
    JSON.stringify({ agentCommand: [process.execPath, simAgentPath()], tmuxSocket: socket, stallSeconds: 5, pollSeconds: 1 }, null, 2) + "\n",
  );
  const env = { ...ctx.env, AUTORUN_HOME: home, AUTORUN_SIM_DELAY_MS: ctx.env.AUTORUN_SIM_DELAY_MS ?? "400" };
  const demoCtx: Ctx = { ...ctx, cwd: repo, home, env };
  ctx.out(`autorun demo: a 5-stage plan run by the simulated agent (no tokens spent)`);
  ctx.out(`  project:   ${repo}`);
  ctx.out(`  state:     ${home}`);
  ctx.out(`  tmux:      tmux -L ${socket} ls`);
  ctx.out("");
  const code = await runOrchestrate(demoCtx, join(dir, "master-plan.md"), { config: {} });
  if (code !== 0) return code;
  ctx.out("");
  const hint = `AUTORUN_HOME=${home} autorun`;
  ctx.out(`Watch it:  ${hint} dashboard master-plan    (or: ${hint} status master-plan --watch)`);
  if (f.review) ctx.out(`Stage 2 will ask you a question: ${hint} review open`);
  ctx.out("");

  let status;
  if (f.dashboard) {
    const { runDashboard } = await import("../tui/dashboard.js");
    await runDashboard(demoCtx, "master-plan");
    status = loadStatus(orchPaths(home, "master-plan", "master-plan"));
  } else {
    status = await followProgress(ctx, home, f.review ? 30 * 60_000 : 5 * 60_000);
  }
  ctx.out("");
  ctx.out(await git.logGraph(repo, 24));
  ctx.out("");
  ctx.out(`Result: ${status?.status ?? "unknown"}.`);
  ctx.out(`  report:      ${join(home, "reports", "master-plan.md")}`);
  ctx.out(`  monitor log: ${join(home, "logs", "master-plan-monitor.log")}`);
  ctx.out(`  events:      ${join(home, "orchestration", "master-plan", "events.jsonl")}`);
  ctx.out(`  project:     ${repo}   (git log --graph shows one merge commit per stage)`);
  if (!f.keep) {
    await createTmux(socket).killServer();
    ctx.out(`The demo's tmux server is stopped. Everything else stays in ${dir} (rm -rf it when done).`);
  }
  return status?.status === "completed" ? 0 : 1;
}

async function followProgress(ctx: Ctx, home: string, timeoutMs: number) {
  const paths = orchPaths(home, "master-plan", "master-plan");
  const seen = new Map<string, string>();
  const started = Date.now();
  for (;;) {
    const status = loadStatus(paths);
    if (!status) throw new RuntimeError(`the demo orchestration disappeared from ${paths.dir}`);
    for (const [id, s] of Object.entries(status.stages)) {
      const impl = s.phases.implement;
      const phase = s.status === "in_progress" ? (impl?.started_at ? `implementing ${impl.current_phase ?? "?"}/${impl.total_phases ?? "?"}` : s.phases.create_plan?.started_at ? "planning" : "researching") : s.status;
      const line = `${phase}${s.attention ? ` [${s.attention}]` : ""}${s.nudges ? `, nudged ${s.nudges}x` : ""}`;
      if (seen.get(id) !== line) {
        seen.set(id, line);
        ctx.out(`  ${human(Math.round((Date.now() - started) / 1000)).padStart(6)}  stage ${id} (${s.name}): ${line}`);
      }
    }
    if (status.status !== "running") return status;
    if (Date.now() - started > timeoutMs) {
      ctx.out("  the demo is taking too long; leaving it running");
      return status;
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}
