// launch: time for `orchestrate` to have N ready stages running, against the same work done by hand
// in a loop: per stage, `git worktree add -b <branch> <dir> <base tip>` then `tmux new-session -d`
// of the same agent in that worktree. Two agents: a trivial one (`sleep`: what autorun itself costs)
// and the simulated agent, by hand with the very command line and environment autorun gave it (read
// from /proc). Several runs each (BENCH_LAUNCH_RUNS, 3), alternating autorun and the loop so both
// see the same load; the medians are printed, with the load average.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { figure, sandbox, simCmd } from "./lib.mjs";

const sizes = (process.env.BENCH_LAUNCH_SIZES ?? "5,20").split(",").map(Number);
const runs = Number(process.env.BENCH_LAUNCH_RUNS ?? 3);
const trivialCmd = JSON.stringify(["sleep", "600", "{stage}"]);

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** `orchestrate` of the plan; ms from its start to the last `stage_launched`, and each agent's argv and environment. */
async function autorun(sb, plan, n, agentCmd) {
  const t0 = Date.now();
  const run = await sb.cli(["orchestrate", plan, "--fresh", "--agent-cmd", agentCmd, "--max-parallel", String(n), "--stall-seconds", "3600", "--no-monitor"], { AUTORUN_SIM_DELAY_MS: "60000" });
  if (run.exitCode !== 0) throw new Error(run.stderr);
  const launched = sb.events("launch").filter((e) => e.type === "stage_launched");
  if (launched.length !== n) throw new Error(`${launched.length} of ${n} stages launched`);
  const ms = Math.max(...launched.map((e) => Date.parse(e.ts))) - t0;
  const agents = [];
  for (const line of (await sb.tmux("list-panes", "-a", "-F", "#{session_name} #{pane_pid}")).stdout.split("\n").filter(Boolean)) {
    const [session, pid] = line.split(" ");
    agents[Number(/(\d+)$/.exec(session)[1]) - 1] = {
      argv: readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean),
      env: readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean),
    };
  }
  await sb.cli(["stop", "launch", "--sessions"]);
  await execa("tmux", ["-L", sb.socket, "kill-server"], { reject: false });
  await clean(sb, n);
  return { ms, agents };
}

/** The next run starts from the same repository: no stage branch or worktree left. */
async function clean(sb, n) {
  for (let i = 1; i <= n; i++) await execa("git", ["-C", sb.repo, "worktree", "remove", "--force", worktree(sb, i)], { reject: false });
  const branches = (await execa("git", ["-C", sb.repo, "for-each-ref", "--format=%(refname)", "refs/heads/worktree-*"])).stdout.split("\n").filter(Boolean);
  for (const ref of branches) await execa("git", ["-C", sb.repo, "update-ref", "-d", ref]);
}

/** Where autorun makes stage i's worktree (the simulated agent, like claude --worktree, finds it there). */
function worktree(sb, i) {
  return join(sb.repo, ".claude", "worktrees", `launch-stage-${i}`);
}

/**
 * The loop by hand: stage after stage, its worktree from the base tip (the same branch and
 * directory autorun uses) and a session of the agent, started where autorun starts it (the
 * simulated agent in the project, which finds its worktree as claude --worktree does; `sleep` in
 * the worktree).
 */
async function byHand(sb, n, agentOf) {
  const tip = (await execa("git", ["-C", sb.repo, "rev-parse", "refs/heads/main"])).stdout.trim();
  const socket = `${sb.socket}-bare`;
  const t0 = performance.now();
  for (let i = 1; i <= n; i++) {
    const add = spawnSync("git", ["-C", sb.repo, "worktree", "add", "-q", "-b", `worktree-launch-stage-${i}`, worktree(sb, i), tip], { env: sb.env });
    if (add.status !== 0) throw new Error(String(add.stderr));
    const a = agentOf(i);
    const r = spawnSync("tmux", ["-L", socket, "new-session", "-d", "-s", `hand${i}`, "-c", a.env ? sb.repo : worktree(sb, i), "--", ...(a.env ? ["env", "-i", ...a.env] : []), ...a.argv], { env: sb.env });
    if (r.status !== 0) throw new Error(String(r.stderr));
  }
  const ms = performance.now() - t0;
  await execa("tmux", ["-L", socket, "kill-server"], { reject: false });
  await clean(sb, n);
  return ms;
}

for (const n of sizes) {
  const sb = await sandbox(`launch${n}`);
  try {
    const plan = sb.plan("launch.md", Array.from({ length: n }, (_, i) => `## Stage ${i + 1}: S${i + 1}\nsim: stall-silent\n`).join(""));
    const t = { ours: [], hand: [], oursSim: [], handSim: [] };
    const load = [];
    for (let r = 0; r < runs; r++) {
      load.push(loadavg()[0]);
      t.ours.push((await autorun(sb, plan, n, trivialCmd)).ms);
      t.hand.push(await byHand(sb, n, (i) => ({ argv: ["sleep", "600", String(i)] })));
      const sim = await autorun(sb, plan, n, simCmd);
      t.oursSim.push(sim.ms);
      t.handSim.push(await byHand(sb, n, (i) => sim.agents[i - 1]));
    }
    figure(`launch_${n}_load_average`, `${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)}`, `(1 min, ${runs} runs)`);
    figure(`launch_${n}_stages_autorun_trivial_agent`, median(t.ours), `ms (median; ${t.ours.map((v) => Math.round(v)).join(", ")})`);
    figure(`launch_${n}_stages_by_hand_trivial_agent`, median(t.hand), `ms (${t.hand.map((v) => Math.round(v)).join(", ")})`);
    figure(`launch_${n}_stages_ratio_trivial_agent`, median(t.ours) / median(t.hand), `x${n === 20 ? " (goal ≤ 1.5)" : ""}`);
    figure(`launch_${n}_stages_autorun_sim_agent`, median(t.oursSim), `ms (${t.oursSim.map((v) => Math.round(v)).join(", ")})`);
    figure(`launch_${n}_stages_by_hand_sim_agent`, median(t.handSim), `ms (${t.handSim.map((v) => Math.round(v)).join(", ")})`);
    figure(`launch_${n}_stages_ratio_sim_agent`, median(t.oursSim) / median(t.handSim), `x${n === 20 ? " (goal ≤ 1.5)" : ""}`);
  } finally {
    await sb.cleanup();
  }
}
