// launch: time for `orchestrate` to have N ready stages running, next to a bare shell loop of
// `tmux new-session -d` for the same N, in the same run.
import { execa } from "execa";
import { figure, sandbox, until, simCmd } from "./lib.mjs";

for (const n of [5, 20, 50]) {
  const sb = await sandbox(`launch${n}`);
  try {
    const plan = sb.plan("launch.md", Array.from({ length: n }, (_, i) => `## Stage ${i + 1}: S${i + 1}\nsim: stall-silent\n`).join(""));
    // Timed until the N sessions exist (orchestrate then goes on to start the monitor).
    const t0 = performance.now();
    const run = sb.cli(["orchestrate", plan, "--agent-cmd", simCmd, "--max-parallel", String(n), "--stall-seconds", "3600"], { AUTORUN_SIM_DELAY_MS: "60000" });
    await until("all sessions", async () => (await sb.tmux("list-sessions", "-F", "#{session_name}")).stdout.split("\n").filter(Boolean).length >= n, 120_000, 5);
    const ours = performance.now() - t0;
    if ((await run).exitCode !== 0) throw new Error((await run).stderr);
    await sb.cli(["stop", "launch", "--sessions"]);

    const bareSocket = `${sb.socket}-bare`;
    const t1 = performance.now();
    await execa("bash", ["-c", `for i in $(seq ${n}); do tmux -L ${bareSocket} new-session -d -s bare$i sleep 600; done`]);
    const bare = performance.now() - t1;
    await execa("tmux", ["-L", bareSocket, "kill-server"], { reject: false });

    // The same launch with a trivial agent (sleep): what autorun itself costs, without N
    // simulated agents (Node processes) booting on the same cores.
    await execa("tmux", ["-L", sb.socket, "kill-server"], { reject: false });
    const t2 = performance.now();
    const run2 = sb.cli(["orchestrate", plan, "--fresh", "--agent-cmd", JSON.stringify(["sleep", "600", "{stage}"]), "--max-parallel", String(n), "--stall-seconds", "3600"]);
    await until("all sessions", async () => (await sb.tmux("list-sessions", "-F", "#{session_name}")).stdout.split("\n").filter(Boolean).length >= n, 120_000, 5);
    const trivial = performance.now() - t2;
    if ((await run2).exitCode !== 0) throw new Error((await run2).stderr);
    await sb.cli(["stop", "launch", "--sessions"]);

    figure(`launch_${n}_stages_autorun`, ours, "ms");
    figure(`launch_${n}_stages_autorun_trivial_agent`, trivial, "ms");
    figure(`launch_${n}_stages_bare_tmux_loop`, bare, "ms");
    figure(`launch_${n}_stages_ratio`, ours / bare, "x");
    figure(`launch_${n}_stages_ratio_trivial_agent`, trivial / bare, "x");
    figure(`launch_${n}_per_stage_overhead_trivial_agent`, (trivial - bare) / n, "ms");
  } finally {
    await sb.cleanup();
  }
}
