// launch: time for `orchestrate` to have N ready stages running, next to a bare loop of
// `tmux new-session -d` starting the same agent for the same N in the same run: the simulated
// agent with the very command line and environment autorun gave it (read from /proc), in the
// worktrees autorun made. Also: the same launch with a trivial agent (`sleep`), what autorun itself
// costs without N agents booting on the same cores.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { execa } from "execa";
import { figure, sandbox, simCmd } from "./lib.mjs";

const sizes = (process.env.BENCH_LAUNCH_SIZES ?? "5,20,50").split(",").map(Number);

async function sessions(sb, socket = sb.socket) {
  const r = await execa("tmux", ["-L", socket, "list-sessions", "-F", "#{session_name}"], { reject: false, env: sb.env });
  return r.stdout.split("\n").filter(Boolean).length;
}

for (const n of sizes) {
  const sb = await sandbox(`launch${n}`);
  try {
    const plan = sb.plan("launch.md", Array.from({ length: n }, (_, i) => `## Stage ${i + 1}: S${i + 1}\nsim: stall-silent\n`).join(""));
    const agentEnv = { AUTORUN_SIM_DELAY_MS: "60000" };

    // Timed until the N sessions exist: the last `stage_launched`, which is written as soon as tmux
    // has made its session (orchestrate then goes on to start the monitor). Read from the events,
    // not by polling tmux, which would take CPU from the launch it times.
    const t0 = Date.now();
    const run = await sb.cli(["orchestrate", plan, "--agent-cmd", simCmd, "--max-parallel", String(n), "--stall-seconds", "3600"], agentEnv);
    if (run.exitCode !== 0) throw new Error(run.stderr);
    const lastLaunch = () => Math.max(...sb.events("launch").filter((e) => e.type === "stage_launched").map((e) => Date.parse(e.ts)));
    if (sb.events("launch").filter((e) => e.type === "stage_launched").length !== n || (await sessions(sb)) < n) throw new Error("not every stage was launched");
    const ours = lastLaunch() - t0;
    // Each agent's exact command line and environment, as autorun started it, read from /proc.
    const agents = [];
    for (const line of (await sb.tmux("list-panes", "-a", "-F", "#{session_name}\t#{pane_pid}\t#{pane_current_path}")).stdout.split("\n").filter(Boolean)) {
      const [, pid, cwd] = line.split("\t");
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      const env = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
      agents.push({ argv, env, cwd });
    }
    await sb.cli(["stop", "launch", "--sessions"]);
    await execa("tmux", ["-L", sb.socket, "kill-server"], { reject: false });

    // The bare loop: one `tmux new-session` after another, each starting the same agent with the
    // same command line and environment (`env -i`), in the worktrees autorun made.
    const bareSocket = `${sb.socket}-bare`;
    const t1 = performance.now();
    for (const [i, a] of agents.entries()) {
      const r = spawnSync("tmux", ["-L", bareSocket, "new-session", "-d", "-s", `bare${i}`, "-c", a.cwd, "--", "env", "-i", ...a.env, ...a.argv], { env: sb.env });
      if (r.status !== 0) throw new Error(String(r.stderr));
    }
    const bare = performance.now() - t1;
    await execa("tmux", ["-L", bareSocket, "kill-server"], { reject: false });

    // The same launch with a trivial agent (sleep).
    const t2 = Date.now();
    const run2 = await sb.cli(["orchestrate", plan, "--fresh", "--agent-cmd", JSON.stringify(["sleep", "600", "{stage}"]), "--max-parallel", String(n), "--stall-seconds", "3600"]);
    if (run2.exitCode !== 0) throw new Error(run2.stderr);
    const trivial = lastLaunch() - t2;
    await sb.cli(["stop", "launch", "--sessions"]);

    figure(`launch_${n}_stages_autorun`, ours, "ms");
    figure(`launch_${n}_stages_bare_tmux_loop_same_agent`, bare, "ms");
    figure(`launch_${n}_stages_ratio`, ours / bare, `x${n === 20 ? " (goal ≤ 1.5)" : ""}`);
    figure(`launch_${n}_stages_autorun_trivial_agent`, trivial, "ms");
  } finally {
    await sb.cleanup();
  }
}
