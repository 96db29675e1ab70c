// A line written to a host's events file (what a hook or `autorun phase` there does) → the same
// line in the controller's events.jsonl, tagged with the host: the follower's stream (one
// long-lived `autorun host follow` over the shared connection), as the monitor runs it. Then the CPU the stream costs while nothing is written, here (this process, its ssh client
// and the shared connection) and on the host (every process in its namespace). A real sshd in a
// network namespace (root only; otherwise says why not).
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { figure, percentile, ROOT, CLI, hostFixture } from "./lib.mjs";

const fixture = await hostFixture("host events");
if (!fixture) process.exit(0);
const dist = (p) => import(join(ROOT, "dist", "src", p));
const { runScript, closeMaster, controlPath, masterPids } = await dist("adapters/ssh.js");
const { RemoteHost } = await dist("host/remote-host.js");
const { HostEventFollower } = await dist("host/event-follower.js");
const { HostEventStream } = await dist("host/event-stream.js");
const { hostEventsFile, hostOrchDir } = await dist("host/protocol.js");
const { orchPaths } = await dist("state/paths.js");

/** CPU time of a process and of its children it has reaped, in clock ticks (0 when it is gone). */
function ticks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  } catch {
    return 0;
  }
}
const TICKS_PER_S = 100;

/** Pids of the live children of `pid`. */
function childrenOf(pid) {
  const out = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1].split(" ")[1] === String(pid)) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

const n = Number(process.env.AUTORUN_BENCH_HOST_EVENTS ?? 30);
const idleS = Number(process.env.AUTORUN_BENCH_HOST_IDLE_S ?? 10);
const host = await fixture.makeTestHost({ name: "bench" });
const dir = mkdtempSync(join(tmpdir(), "autorun-bench-he-"));
const s = { home: join(dir, "h") };
const remote = new RemoteHost(s, { name: "bench", local: false, slots: 1, labels: [], ssh: "bench", sshOptions: host.sshOptions, root: "srv/{project}", env: [], autorun: CLI, agentCommand: ["git"] }, "proj");
let stream;
try {
  const { home } = await remote.ready();
  const paths = orchPaths(s.home, "plan", "proj");
  mkdirSync(paths.dir, { recursive: true });
  const ident = { orch_dir: paths.dir, plan_name: "plan", project_slug: "proj" };
  const started = { ...ident, ts: "2026-01-01T00:00:00.000Z", type: "orchestration_started", plan_path: "/p.md", project_root: "/r", base_branch: "main", stages: [], waves: [], max_parallel: 1, schedule: "eager" };
  writeFileSync(paths.events, JSON.stringify(started) + "\n");
  const theirs = hostEventsFile(home, "plan");
  const append = (line) => runScript(s, remote.target, 'mkdir -p -- "${1%/*}" && printf "%s\\n" "$2" >> "$1"', { args: [theirs, JSON.stringify(line)] });
  await append({ ...started, orch_dir: hostOrchDir(home, "plan") });
  const follower = new HostEventFollower({ s, target: remote.target, hostEvents: theirs, hostOrchDir: hostOrchDir(home, "plan"), paths, identity: { plan_name: "plan", project_slug: "proj", started_ts: started.ts }, placements: () => new Map([["1", 0]]), stateFile: join(paths.dir, "bench.offset") });
  const seen = new Map();
  let caughtUp = false;
  stream = new HostEventStream({
    s,
    target: remote.target,
    autorun: CLI,
    hostEvents: theirs,
    follower,
    onAccepted: (events) => {
      const at = performance.now();
      for (const e of events) seen.set(e.current_phase, at);
    },
    onCaughtUp: () => (caughtUp = true),
    onError: (error) => console.error(`host events: ${error.message}`),
  });
  const t0 = performance.now();
  stream.start();
  while (!caughtUp) await new Promise((r) => setTimeout(r, 5));
  figure("host_events_stream_start", performance.now() - t0, "ms");
  // The host is a namespace of this machine: its files are here, so a line is appended to the
  // host's file as a hook there appends it (one write), and timed from just before that write.
  const ms = [];
  for (let i = 1; i <= n; i++) {
    const line = { ...ident, orch_dir: hostOrchDir(home, "plan"), ts: new Date().toISOString(), type: "phase_status", stage: "1", phase: "implement", status: "start", current_phase: i };
    const t = performance.now();
    appendFileSync(theirs, JSON.stringify(line) + "\n");
    while (!seen.has(i)) await new Promise((r) => setTimeout(r, 1));
    ms.push(seen.get(i) - t);
    // An idle moment between lines, as between an agent's reports.
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
  }
  figure("host_event_to_controller_p50", percentile(ms, 50), "ms");
  figure("host_event_to_controller_p95", percentile(ms, 95), "ms");
  // Nothing written for idleS seconds: the heartbeats alone.
  const others = [...masterPids(controlPath(s.home, remote.target)), ...childrenOf(process.pid).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("ssh\0"))];
  const here = () => ticks(process.pid) + others.reduce((sum, pid) => sum + ticks(pid), 0);
  // The host's pids are listed by a program: started before the first look here and after the last.
  const there = async () => (await host.pids()).reduce((sum, pid) => sum + ticks(pid), 0);
  const c0 = await there();
  const [h0, i0] = [here(), performance.now()];
  await new Promise((r) => setTimeout(r, idleS * 1000));
  const [h1, seconds] = [here(), (performance.now() - i0) / 1000];
  const c1 = await there();
  figure("host_events_idle_cpu_controller", ((h1 - h0) / TICKS_PER_S / seconds) * 100, "% of a core");
  figure("host_events_idle_cpu_host", ((c1 - c0) / TICKS_PER_S / seconds) * 100, "% of a core");
} finally {
  await stream?.stop();
  await closeMaster(s, remote.target).catch(() => undefined);
  await host.teardown();
  rmSync(dir, { recursive: true, force: true });
}
