// overhead: the monitor's CPU (% of one core) and peak RSS while N stages (20, or
// BENCH_OVERHEAD_STAGES) sit at their prompts for 60 s (BENCH_OVERHEAD_SECONDS).
import { readFileSync } from "node:fs";
import { figure, sandbox, until, simCmd, monitorPid } from "./lib.mjs";

const seconds = Number(process.env.BENCH_OVERHEAD_SECONDS ?? 60);
const n = Number(process.env.BENCH_OVERHEAD_STAGES ?? 20);
const sb = await sandbox("overhead");
try {
  const plan = sb.plan("overhead.md", Array.from({ length: n }, (_, i) => `## Stage ${i + 1}: S\nsim: stall-silent\n`).join(""));
  const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simCmd, "--max-parallel", String(n), "--stall-seconds", "3600"]);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  // The pid file holds "<pid> <start time>".
  const pid = monitorPid(sb.home, "overhead");
  await until(`${n} stages in progress`, () => sb.events("overhead").filter((e) => e.type === "stage_launched").length === n);
  // Steady state, not the monitor's start (loading its modules, replaying the log): measured from
  // 5 s after it says it started.
  await until("the monitor to start", () => sb.events("overhead").some((e) => e.type === "monitor_started"));
  await new Promise((res) => setTimeout(res, 5000));
  const ticks = () => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100 Hz)
  };
  const t0 = ticks();
  const w0 = performance.now();
  await new Promise((res) => setTimeout(res, seconds * 1000));
  const cpu = ((ticks() - t0) / 100) / ((performance.now() - w0) / 1000) * 100;
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
  figure("overhead_stages_running", n, "stages");
  figure("overhead_window", seconds, "s");
  figure("overhead_monitor_cpu", cpu, `% of one core${n === 20 ? " (goal ≤ 1)" : ""}`);
  figure("overhead_monitor_peak_rss", hwm / 1024, `MiB${n === 20 ? " (goal ≤ 80)" : ""}`);
} finally {
  await sb.cleanup();
}
