// host loss: a stage runs on a test host (a real sshd in a network namespace, its own user; root
// only) whose link is then taken down (`ip link set … down` inside the namespace): how long until
// the run records its `session_dead` with reason `host_lost`, and until it is relaunched on this
// machine, after the grace period (`hostGraceSeconds`). A fresh run per round, the same host.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { figure, percentile, sandbox, until, simCmd, hostFixture, hostEntry, killHostTmux, withHosts, loadAverage } from "./lib.mjs";

const fixture = await hostFixture("host loss");
if (!fixture) process.exit(0);
const rounds = Number(process.env.BENCH_HOST_LOSS_ROUNDS ?? 3);
const grace = Number(process.env.BENCH_HOST_LOSS_GRACE ?? 2);

async function round(host, k) {
  const sb = await sandbox(`hloss${k}`);
  try {
    sb.env.AUTORUN_SIM_PHASES = "handover";
    // Stage 1 goes to the host (two free slots there, one here) and sits at its prompt there.
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ hostGraceSeconds: grace, hosts: { local: { slots: 1 }, [host.name]: hostEntry(host, { slots: 2 }) } }));
    const plan = sb.plan("hloss.md", "# Host loss\n## Stage 1: Moves\nsim: stall-silent\n");
    await execa("git", ["-C", sb.repo, "add", "hloss.md"], { env: sb.env });
    await execa("git", ["-C", sb.repo, "commit", "-qm", "plan"], { env: sb.env });
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simCmd, "--stall-seconds", "3600"]);
    if (r.exitCode !== 0) throw new Error(r.stderr);
    const of = (type) => sb.events("hloss").filter((e) => e.type === type && e.stage === "1");
    const launched = await until("stage 1 launched", () => of("stage_launched")[0], 60_000, 100);
    if (launched.host !== host.name) throw new Error(`stage 1 went to ${launched.host ?? "this machine"}`);
    // The monitor follows the host (a poll answered since the launch) before the link goes.
    await until("the monitor to follow the host", () => sb.events("hloss").some((e) => e.type === "monitor_started"), 60_000, 100);
    await new Promise((res) => setTimeout(res, 3000));
    const load = loadAverage();
    const down = Date.now();
    const cut = await host.inNs(["ip", "link", "set", host.nsLink, "down"]);
    if (cut.exitCode !== 0) throw new Error(`ip link set down: ${cut.stderr}`);
    try {
      const dead = await until("session_dead host_lost", () => of("session_dead").find((e) => e.reason === "host_lost"), 60_000, 50);
      const moved = await until("stage 1 relaunched", () => of("stage_relaunched")[0], 60_000 + grace * 1000, 50);
      if (moved.host !== undefined) throw new Error(`stage 1 was relaunched on ${moved.host}, not here`);
      const lost = Date.parse(dead.ts) - down;
      const relaunched = Date.parse(moved.ts) - down - grace * 1000;
      console.log(`round ${k} at load ${load.toFixed(1)}: link down → host_lost ${lost} ms, → relaunched here ${relaunched} ms after the grace period (${grace} s)`);
      return { lost, relaunched, afterDead: Date.parse(moved.ts) - Date.parse(dead.ts) - grace * 1000 };
    } finally {
      await host.inNs(["ip", "link", "set", host.nsLink, "up"]);
    }
  } finally {
    await killHostTmux(host, sb.socket);
    await sb.cleanup();
  }
}

await withHosts(fixture, ["box1"], async ([host]) => {
  const out = [];
  for (let k = 1; k <= rounds; k++) out.push(await round(host, k));
  const lost = out.map((o) => o.lost);
  const moved = out.map((o) => o.relaunched);
  figure("host_loss_rounds", out.length, "runs");
  figure("host_loss_to_session_dead_p50", percentile(lost, 50), "ms");
  figure("host_loss_to_session_dead_max", Math.max(...lost), "ms (goal ≤ 10 000)");
  figure("host_loss_grace", grace, "s (hostGraceSeconds)");
  figure("host_loss_to_relaunch_after_grace_p50", percentile(moved, 50), "ms");
  figure("host_loss_to_relaunch_after_grace_max", Math.max(...moved), "ms (goal ≤ 15 000)");
  figure("host_loss_session_dead_to_relaunch_after_grace_p50", percentile(out.map((o) => o.afterDead), 50), "ms");
  figure("host_loss_load_average", loadAverage(), "(1 min, at the end)");
});
