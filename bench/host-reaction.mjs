// host reaction: from a stage's merge_complete to its dependant's session existing on a host
// (stage_launched is appended once `autorun host launch` there has started the session). A real
// orchestration with the built CLI and the simulated agent: chains of stages all pinned with
// `Host:` to a test host (a real sshd in a network namespace, its own user; root only), against
// the same plan on this machine alone, measured one after the other under the same load. One
// chain of 8 by default, three rounds: each launch then follows its merge with nothing else
// running, as the figure for this machine alone is taken (BENCH_REACTION_CHAINS=1 node
// bench/reaction.mjs); BENCH_HOST_REACTION_CHAINS=3 runs chains side by side, where the two cores
// shared by the host, this machine and the agents are the limit.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { figure, keepLog, percentile, sandbox, until, simCmd, hostFixture, hostEntry, killHostTmux, withHosts, loadAverage, monitorPid, traceExecs } from "./lib.mjs";

const fixture = await hostFixture("host reaction");
if (!fixture) process.exit(0);
const chains = Number(process.env.BENCH_HOST_REACTION_CHAINS ?? 1);
const length = Number(process.env.BENCH_HOST_REACTION_LENGTH ?? 8);
const rounds = Number(process.env.BENCH_HOST_REACTION_ROUNDS ?? 3);
const baseline = process.env.BENCH_HOST_REACTION_BASELINE !== "0";

async function measure(label, host) {
  const sb = await sandbox(`hreact-${label}`);
  try {
    sb.env.AUTORUN_SIM_PHASES = "handover";
    sb.env.AUTORUN_SIM_DELAY_MS = "20";
    if (host) writeFileSync(join(sb.home, "config.json"), JSON.stringify({ hosts: { [host.name]: hostEntry(host, { slots: chains }) } }));
    let text = "# Host reaction\n";
    for (let c = 0; c < chains; c++) {
      for (let s = 1; s <= length; s++) {
        const id = c * length + s;
        text += `## Stage ${id}: Chain ${c + 1} step ${s}\n${s > 1 ? `Depends on: ${id - 1}\n` : ""}${host ? `Host: ${host.name}\n` : ""}`;
      }
    }
    const plan = sb.plan("hreact.md", text);
    await execGit(sb, "add", "hreact.md");
    await execGit(sb, "commit", "-qm", "plan");
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simCmd, "--max-parallel", String(chains)]);
    if (r.exitCode !== 0) throw new Error(r.stderr);
    const stopTrace = traceExecs(monitorPid(sb.home, "hreact"));
    const end = await until("the run to end", () => sb.events("hreact").find((e) => e.type === "orchestration_complete"), 600_000, 250);
    if (end.status !== "completed") throw new Error(`the ${label} run ended ${end.status}`);
    await stopTrace();
    const events = sb.events("hreact");
    const merged = new Map(events.filter((e) => e.type === "merge_complete").map((e) => [e.stage, Date.parse(e.ts)]));
    const reactions = [];
    for (const e of events.filter((x) => x.type === "stage_launched")) {
      const id = Number(e.stage);
      if ((id - 1) % length === 0) continue;
      if (host && e.host !== host.name) throw new Error(`stage ${id} ran on ${e.host ?? "this machine"}`);
      reactions.push(Date.parse(e.ts) - merged.get(String(id - 1)));
    }
    return reactions;
  } finally {
    keepLog(sb, "hreact", label);
    if (host) await killHostTmux(host, sb.socket);
    await sb.cleanup();
  }
}

async function execGit(sb, ...args) {
  await execa("git", ["-C", sb.repo, ...args], { env: sb.env });
}

await withHosts(fixture, ["box1"], async ([host]) => {
  const all = { host: [], local: [] };
  for (let round = 1; round <= rounds; round++) {
    const load = loadAverage();
    const h = await measure(`host${round}`, host);
    all.host.push(...h);
    let line = `round ${round} at load ${load.toFixed(1)}: host p50 ${percentile(h, 50)} / p95 ${percentile(h, 95)} ms`;
    if (baseline) {
      const l = await measure(`local${round}`, undefined);
      all.local.push(...l);
      line += `; here p50 ${percentile(l, 50)} / p95 ${percentile(l, 95)} ms`;
    }
    console.log(line);
  }
  figure("host_reaction_launches_measured", all.host.length, `launches (${chains} chain${chains === 1 ? "" : "s"} of ${length}, ${rounds} round${rounds === 1 ? "" : "s"})`);
  figure("host_reaction_p50", percentile(all.host, 50), "ms");
  figure("host_reaction_p95", percentile(all.host, 95), "ms (goal ≤ 150)");
  figure("host_reaction_max", Math.max(...all.host), "ms");
  if (baseline) {
    figure("host_reaction_local_p50", percentile(all.local, 50), "ms (the same plan on this machine)");
    figure("host_reaction_local_p95", percentile(all.local, 95), "ms");
  }
  figure("host_reaction_load_average", loadAverage(), "(1 min, at the end)");
});
