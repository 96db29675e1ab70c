// A stage launched on a host (push of the base, then `autorun host launch` over the shared
// connection) against the same stage launched on this machine, and against what a person would
// type by hand (git push, then one ssh running git worktree add and tmux new-session); and the
// parts of a remote launch. A real sshd in a network namespace (root only; otherwise says why not).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { CLI, figure, percentile, ROOT, hostFixture, loadAverage } from "./lib.mjs";

const fixture = await hostFixture("host launch");
if (!fixture) process.exit(0);
const { makeTestHost } = fixture;
const dist = (p) => import(join(ROOT, "dist", "src", p));
const { runScript, closeMaster } = await dist("adapters/ssh.js");
const { RemoteHost } = await dist("host/remote-host.js");
const { LocalStageHost, RemoteStageHost } = await dist("host/stage-host.js");

const n = Number(process.env.AUTORUN_BENCH_HOST_STAGES ?? 5);
const host = await makeTestHost({ name: "bench" });
const dir = mkdtempSync(join(tmpdir(), "autorun-bench-hl-"));
const s = { home: join(dir, "h") };
const repo = join(dir, "repo");
const socket = `autorun-bench-hl-${process.pid}`;
const remote = new RemoteHost(s, { name: "bench", local: false, slots: n, labels: [], ssh: "bench", sshOptions: host.sshOptions, root: "srv/{project}", env: [], autorun: CLI, agentCommand: ["git"] }, "proj");
const hosts = [new LocalStageHost(repo, s.home), new RemoteStageHost(remote, repo)];
try {
  mkdirSync(repo);
  await execa("git", ["init", "-q", "-b", "main", repo]);
  writeFileSync(join(repo, "README.md"), "bench\n");
  await execa("git", ["-C", repo, "add", "README.md"]);
  await execa("git", ["-C", repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"]);
  const tip = (await execa("git", ["-C", repo, "rev-parse", "HEAD"])).stdout;
  let t = performance.now();
  await remote.ready();
  figure("host_ready_new_connection", performance.now() - t, "ms");
  const started = { ts: "2026-01-01T00:00:00.000Z", orch_dir: "/x", plan_name: "plan", project_slug: "proj", type: "orchestration_started", plan_path: join(repo, "plan.md"), project_root: repo, base_branch: "main", stages: [], waves: [], max_parallel: 1, schedule: "eager" };
  const launch = (i) => ({ orchestration: "plan", started, stage: String(i), branch: `worktree-proj-stage-${i}`, worktreeName: `proj-stage-${i}`, session: `proj_stage-${i}`, socket, context: "# stage\n", start: tip, baseBranch: "main", argv: () => ["sleep", "120"], env: {} });
  for (const h of hosts) {
    const times = [];
    for (let i = 1; i <= n; i++) {
      t = performance.now();
      await h.launch(launch(i));
      times.push(performance.now() - t);
    }
    figure(`stage_launch_${h.local ? "local" : "host"}_p50`, percentile(times, 50), "ms");
  }
  // A batch of ready stages at once: the figure is 20 on a host within 1.5× of 20 here.
  // Rounds in alternating order (here first, then the host first, …) on a loaded machine; the
  // median of the rounds' ratios.
  const batch = Number(process.env.AUTORUN_BENCH_HOST_BATCH ?? 20);
  const rounds = Number(process.env.AUTORUN_BENCH_HOST_BATCH_ROUNDS ?? 3);
  const ratios = [];
  for (let round = 0; round < rounds; round++) {
    const ms = {};
    for (const h of round % 2 === 0 ? hosts : [...hosts].reverse()) {
      const ls = Array.from({ length: batch }, (_, i) => ({ ...launch(100 + i), branch: `worktree-proj-stage-${round}-${100 + i}`, worktreeName: `proj-stage-${round}-${100 + i}`, socket: `${socket}-b` }));
      t = performance.now();
      await h.launchMany(ls);
      ms[h.local ? "local" : "host"] = performance.now() - t;
      await h.tmux(`${socket}-b`).killServer();
    }
    ratios.push(ms.host / ms.local);
    console.log(`round ${round + 1} at load ${loadAverage().toFixed(1)}: ${batch} stages here ${ms.local.toFixed(0)} ms, on the host ${ms.host.toFixed(0)} ms (${(ms.host / ms.local).toFixed(2)}×)`);
  }
  figure(`launch_${batch}_stages_host_over_local`, percentile(ratios, 50), `× median of ${rounds}${batch === 20 ? " (goal ≤ 1.5)" : ""} at load average ${loadAverage().toFixed(1)}`);
  // The parts of a remote launch: an ssh call on the shared connection, the push of the base, and a
  // request through the host's kept `autorun host serve` (a launch's own request; here `versions`,
  // which runs git, tmux and the agent's --version there).
  const parts = { ssh_call: [], push: [], served_versions_call: [] };
  for (let i = 0; i < n; i++) {
    t = performance.now();
    await runScript(s, remote.target, "true");
    parts.ssh_call.push(performance.now() - t);
    t = performance.now();
    await remote.pushBase(repo, tip, "main");
    parts.push.push(performance.now() - t);
    t = performance.now();
    await remote.server.call("versions", {}, 20_000);
    parts.served_versions_call.push(performance.now() - t);
  }
  for (const [k, v] of Object.entries(parts)) figure(`host_launch_part_${k}_p50`, percentile(v, 50), "ms");
  // By hand: a push and one ssh command, each on a new connection, as a person would type them.
  const plain = [...host.sshOptions, "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none"];
  const root = remote.info.root;
  const hand = [];
  for (let i = 1; i <= n; i++) {
    t = performance.now();
    await execa("git", ["-C", repo, "push", "-q", `ssh://bench${root}`, `+${tip}:refs/heads/hand-${i}`], { env: { ...process.env, GIT_SSH_COMMAND: ["ssh", ...plain].join(" ") } });
    await execa("ssh", [...plain, "bench", `git -C ${root} worktree add -q .claude/worktrees/hand-${i} hand-${i} && tmux -L ${socket}-hand new-session -d -s hand-${i} -c ${root}/.claude/worktrees/hand-${i} sleep 120`]);
    hand.push(performance.now() - t);
  }
  figure("stage_launch_by_hand_p50", percentile(hand, 50), "ms");
} finally {
  for (const h of hosts) await h.tmux(socket).killServer().catch(() => undefined);
  remote.close();
  await closeMaster(s, remote.target).catch(() => undefined);
  await host.teardown();
  rmSync(dir, { recursive: true, force: true });
}
