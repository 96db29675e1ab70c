// A line written to a host's events file (what a hook or `autorun phase` there does) → the same
// line in the controller's events.jsonl, tagged with the host: the follower's long poll over the
// shared connection, as the monitor runs it (back to back). Timed from just before the ssh call
// that appends the line on the host, so each figure includes that call too. A real sshd in a
// network namespace (root only; otherwise says why not).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { figure, percentile, ROOT, CLI, hostFixture } from "./lib.mjs";

const fixture = await hostFixture("host events");
if (!fixture) process.exit(0);
const dist = (p) => import(join(ROOT, "dist", "src", p));
const { runScript, closeMaster } = await dist("adapters/ssh.js");
const { RemoteHost } = await dist("host/remote-host.js");
const { HostEventFollower } = await dist("host/event-follower.js");
const { hostEventsFile, hostOrchDir } = await dist("host/protocol.js");
const { orchPaths } = await dist("state/paths.js");

const n = Number(process.env.AUTORUN_BENCH_HOST_EVENTS ?? 30);
const host = await fixture.makeTestHost({ name: "bench" });
const dir = mkdtempSync(join(tmpdir(), "autorun-bench-he-"));
const s = { home: join(dir, "h") };
const remote = new RemoteHost(s, { name: "bench", local: false, slots: 1, labels: [], ssh: "bench", sshOptions: host.sshOptions, root: "srv/{project}", env: [], autorun: CLI, agentCommand: ["git"] }, "proj");
let stop = false;
try {
  const { home } = await remote.ready();
  const paths = orchPaths(s.home, "plan", "proj");
  mkdirSync(paths.dir, { recursive: true });
  const ident = { orch_dir: paths.dir, plan_name: "plan", project_slug: "proj" };
  const started = { ...ident, ts: "2026-01-01T00:00:00.000Z", type: "orchestration_started", plan_path: "/p.md", project_root: "/r", base_branch: "main", stages: [], waves: [], max_parallel: 1, schedule: "eager" };
  writeFileSync(paths.events, JSON.stringify(started) + "\n");
  const theirs = hostEventsFile(home, "plan");
  const append = (line) => runScript(s, remote.target, 'mkdir -p -- "${1%/*}" && printf "%s\\n" "$2" >> "$1"', [theirs, JSON.stringify(line)]);
  await append({ ...started, orch_dir: hostOrchDir(home, "plan") });
  const follower = new HostEventFollower({ s, target: remote.target, hostEvents: theirs, hostOrchDir: hostOrchDir(home, "plan"), paths, identity: { plan_name: "plan", project_slug: "proj", started_ts: started.ts }, placements: () => new Map([["1", 0]]), stateFile: join(paths.dir, "bench.offset") });
  const seen = new Map();
  const loop = (async () => {
    while (!stop) for (const e of (await follower.poll({ waitMs: 1000 })).accepted) seen.set(e.current_phase, performance.now());
  })();
  const ms = [];
  const after = [];
  const calls = [];
  for (let i = 1; i <= n; i++) {
    const t = performance.now();
    await append({ ...ident, orch_dir: hostOrchDir(home, "plan"), ts: new Date().toISOString(), type: "phase_status", stage: "1", phase: "implement", status: "start", current_phase: i });
    const written = performance.now();
    calls.push(written - t);
    while (!seen.has(i)) await new Promise((r) => setTimeout(r, 2));
    ms.push(seen.get(i) - t);
    after.push(Math.max(0, seen.get(i) - written));
    // An idle moment between lines, as between an agent's reports.
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
  }
  figure("host_event_to_controller_p50", percentile(ms, 50), "ms");
  figure("host_event_to_controller_p95", percentile(ms, 95), "ms");
  // The same from the moment the appending call returned (the line surely written), and that call.
  figure("host_event_after_write_p50", percentile(after, 50), "ms");
  figure("host_event_after_write_p95", percentile(after, 95), "ms");
  figure("host_event_append_call_p50", percentile(calls, 50), "ms");
  stop = true;
  await loop;
} finally {
  stop = true;
  await closeMaster(s, remote.target).catch(() => undefined);
  await host.teardown();
  rmSync(dir, { recursive: true, force: true });
}
