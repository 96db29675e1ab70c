// host overhead: the monitor's CPU (% of one core) and peak RSS while 3 test hosts (real sshd in
// network namespaces, each its own user; root only) run 8 stages each, all at their prompts
// (`sim: stall-silent`), over a window of BENCH_HOST_OVERHEAD_SECONDS (60); against the same 24
// stages on this machine alone, measured right after under the same load. Besides the monitor's
// own CPU: its children's (the ssh and tmux clients it waited for) and the ssh master connections'.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { figure, keepLog, sandbox, until, simCmd, hostFixture, hostEntry, killHostTmux, withHosts, loadAverage, monitorPid, cpuSeconds, traceExecs } from "./lib.mjs";

const fixture = await hostFixture("host overhead");
if (!fixture) process.exit(0);
const seconds = Number(process.env.BENCH_HOST_OVERHEAD_SECONDS ?? 60);
const perHost = Number(process.env.BENCH_HOST_OVERHEAD_STAGES ?? 8);
const hostCount = Number(process.env.BENCH_HOST_OVERHEAD_HOSTS ?? 3);
const baseline = process.env.BENCH_HOST_OVERHEAD_BASELINE !== "0";
const n = perHost * hostCount;

/** The ssh master connections of a sandbox (their process title names their socket under its home). */
function masters(home) {
  const out = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").startsWith(`ssh: ${join(home, "ssh")}/`)) out.push(Number(entry));
    } catch { /* gone */ }
  }
  return out;
}

async function measure(label, hosts) {
  const sb = await sandbox(`hover-${label}`);
  try {
    sb.env.AUTORUN_SIM_PHASES = "handover";
    if (hosts) writeFileSync(join(sb.home, "config.json"), JSON.stringify({ hosts: Object.fromEntries(hosts.map((h) => [h.name, hostEntry(h, { slots: perHost })])) }));
    const plan = sb.plan("hover.md", "# Overhead\n" + Array.from({ length: n }, (_, i) => `## Stage ${i + 1}: S\nsim: stall-silent\n${hosts ? `Host: ${hosts[i % hosts.length].name}\n` : ""}`).join(""));
    await execa("git", ["-C", sb.repo, "add", "hover.md"], { env: sb.env });
    await execa("git", ["-C", sb.repo, "commit", "-qm", "plan"], { env: sb.env });
    // BENCH_PRELOAD=<file.cjs>: required by the monitor (and the commands it runs), e.g. a profiler.
    const preload = process.env.BENCH_PRELOAD ? { NODE_OPTIONS: `--require ${process.env.BENCH_PRELOAD}` } : {};
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simCmd, "--max-parallel", String(n), "--stall-seconds", "3600"], preload);
    if (r.exitCode !== 0) throw new Error(r.stderr);
    const pid = monitorPid(sb.home, "hover");
    await until(`${n} stages in progress`, () => sb.events("hover").filter((e) => e.type === "stage_launched").length === n, 300_000, 200);
    await until("the monitor to start", () => sb.events("hover").some((e) => e.type === "monitor_started"), 60_000, 200);
    // Steady state: every stage at its prompt (the host's sessions' first screens read), not the start.
    await new Promise((res) => setTimeout(res, 10_000));
    const ms = masters(sb.home);
    const masterCpu = () => ms.reduce((sum, p) => { try { return sum + cpuSeconds(p).own; } catch { return sum; } }, 0);
    const load0 = loadAverage();
    const stopTrace = traceExecs(pid);
    const c0 = cpuSeconds(pid);
    const m0 = masterCpu();
    const w0 = performance.now();
    await new Promise((res) => setTimeout(res, seconds * 1000));
    const c1 = cpuSeconds(pid);
    const m1 = masterCpu();
    const wall = (performance.now() - w0) / 1000;
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024;
    await stopTrace();
    // With a preload that listens for it: the end of the window.
    if (process.env.BENCH_PRELOAD) process.kill(pid, "SIGUSR2");
    const pct = (s) => (s / wall) * 100;
    const dead = sb.events("hover").filter((e) => e.type === "session_dead").length;
    if (dead > 0) throw new Error(`${dead} sessions died during the window`);
    return { own: pct(c1.own - c0.own), children: pct(c1.children - c0.children), masters: pct(m1 - m0), masterCount: ms.length, hwm, load: (load0 + loadAverage()) / 2 };
  } finally {
    keepLog(sb, "hover", label);
    for (const h of hosts ?? []) await killHostTmux(h, sb.socket);
    await sb.cleanup();
  }
}

await withHosts(fixture, Array.from({ length: hostCount }, (_, i) => `box${i + 1}`), async (hosts) => {
  const on = await measure("hosts", hosts);
  const label = `${hostCount}_hosts_x_${perHost}`;
  figure(`host_overhead_${label}_window`, seconds, `s at load average ${on.load.toFixed(1)}`);
  figure(`host_overhead_${label}_monitor_cpu`, on.own, `% of one core (goal ≤ 1)`);
  figure(`host_overhead_${label}_monitor_children_cpu`, on.children, "% of one core (the ssh and tmux clients it started)");
  figure(`host_overhead_${label}_ssh_masters_cpu`, on.masters, `% of one core (${on.masterCount} shared connections)`);
  figure(`host_overhead_${label}_monitor_peak_rss`, on.hwm, "MiB (goal ≤ 100)");
  if (baseline) {
    const here = await measure("local", undefined);
    figure(`host_overhead_local_${n}_monitor_cpu`, here.own, `% of one core (the same ${n} stages on this machine, at load average ${here.load.toFixed(1)})`);
    figure(`host_overhead_local_${n}_monitor_children_cpu`, here.children, "% of one core");
    figure(`host_overhead_local_${n}_monitor_peak_rss`, here.hwm, "MiB");
  }
});
