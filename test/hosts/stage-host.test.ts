/**
 * One launch, two places: the same `StageHost` calls start a stage on this machine and on a host
 * (a real sshd), each session gets its paths there and its variables, and an `autorun phase` the
 * host's session runs reaches the controller's events.jsonl through the follower, tagged with the host.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "../helpers/env.js";
import { closeMaster, type SshSettings } from "../../src/adapters/ssh.js";
import { appendLine } from "../../src/state/append.js";
import { orchPaths } from "../../src/state/paths.js";
import { RemoteHost } from "../../src/host/remote-host.js";
import { HostEventFollower } from "../../src/host/event-follower.js";
import { hostEventsFile } from "../../src/host/protocol.js";
import { LocalStageHost, RemoteStageHost, type StageHost, type StageLaunch } from "../../src/host/stage-host.js";
import { hostLaneSkip, makeTestHost, type TestHost } from "./fixture.js";

const skip = hostLaneSkip();
if (skip) console.log(`host lane skipped: ${skip}`);

describe.skipIf(skip)("StageHost: this machine and a host behind one interface", () => {
  let host: TestHost;
  let dir: string;
  let s: SshSettings;
  let repo: string;
  let remote: RemoteHost;
  const socket = `autorun-sh-${process.pid}`;
  const hosts: StageHost[] = [];

  beforeAll(async () => {
    host = await makeTestHost({ name: "box1" });
    dir = mkdtempSync(join(tmpdir(), "autorun-sh-"));
    s = { home: join(dir, "h"), connectTimeoutS: 5 };
    repo = join(dir, "repo");
    mkdirSync(repo);
    await execa("git", ["init", "-q", "-b", "main", repo]);
    writeFileSync(join(repo, "README.md"), "# project\n");
    await execa("git", ["-C", repo, "add", "README.md"]);
    await execa("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"]);
    remote = new RemoteHost(s, { name: "box1", local: false, slots: 2, labels: [], ssh: "box1", sshOptions: host.sshOptions, root: "srv/{project}", env: ["EXTRA"], autorun: CLI, agentCommand: ["git"] }, "proj");
    hosts.push(new LocalStageHost(repo, s.home), new RemoteStageHost(remote, repo));
  });
  afterAll(async () => {
    for (const h of hosts) await h.tmux(socket).killServer().catch(() => undefined);
    if (remote) await closeMaster(s, remote.target).catch(() => undefined);
    await host?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("launches the same stage here and there; the host's phase report is followed into events.jsonl", async () => {
    const tip = (await execa("git", ["-C", repo, "rev-parse", "HEAD"])).stdout;
    const paths = orchPaths(s.home, "plan", "proj");
    mkdirSync(paths.dir, { recursive: true });
    const started = { ts: "2026-01-01T00:00:00.000Z", orch_dir: paths.dir, plan_name: "plan", project_slug: "proj", type: "orchestration_started", stages: [{ id: "1" }] };
    appendLine(paths.events, started);
    const launch: StageLaunch = {
      orchestration: "plan",
      started,
      stage: "1",
      branch: "worktree-proj-stage-1",
      worktreeName: "proj-stage-1",
      session: "proj_stage-1",
      socket,
      context: "# Stage 1\n",
      start: tip,
      baseBranch: "main",
      argv: (p) => ["sh", "-c", 'printf "in=%s extra=%s\\n" "$1" "$EXTRA"; autorun phase implement start && echo reported; exec sleep 60', "agent", p.worktree],
      env: { EXTRA: "x; $y 'z'" },
    };
    const offsets: number[] = [];
    for (const h of hosts) {
      await h.ready();
      const t0 = performance.now();
      const out = await h.launch(launch);
      console.log(`${h.name}: launch ${(performance.now() - t0).toFixed(0)} ms`);
      offsets.push(out.eventsOffset);
      expect(out.adopted).toBe(false);
      expect(out.paths.worktree).toBe(join(out.paths.root, ".claude", "worktrees", "proj-stage-1"));
      expect(out.paths.root).toBe(h.local ? repo : join(host.home, "srv", "proj"));
      const tmux = h.tmux(socket);
      await expect.poll(async () => (await tmux.capturePane("proj_stage-1")) ?? "", { timeout: 15_000 }).toContain("reported");
      expect(await tmux.capturePane("proj_stage-1")).toContain(`in=${out.paths.worktree} extra=x; $y 'z'`);
      expect((await execa("git", ["-c", "safe.directory=*", "-C", out.paths.worktree, "rev-parse", "HEAD"])).stdout).toBe(tip);
      expect((await h.launch(launch)).adopted).toBe(true);
    }
    // Here, the phase went straight into events.jsonl; there, into the host's copy, then followed.
    const info = remote.info;
    const follower = new HostEventFollower({ s, target: remote.target, hostEvents: hostEventsFile(info.home, "plan"), hostOrchDir: join(info.home, "orchestration", "plan"), paths, identity: { plan_name: "plan", project_slug: "proj", started_ts: started.ts }, placements: () => new Map([["1", offsets[1]!]]), stateFile: join(paths.dir, "box1.offset") });
    const t0 = performance.now();
    expect((await follower.poll()).accepted).toHaveLength(1);
    console.log(`follower poll ${(performance.now() - t0).toFixed(0)} ms`);
    const events = readFileSync(paths.events, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const phases = events.filter((e) => e.type === "phase_status");
    expect(phases.map((e) => [e.stage, e.host, e.orch_dir])).toEqual([
      ["1", undefined, paths.dir],
      ["1", "box1", paths.dir],
    ]);
  });

  it("launches a batch of stages at once, here and on the host (one push, one call); again: all adopted", async () => {
    const tip = (await execa("git", ["-C", repo, "rev-parse", "HEAD"])).stdout;
    const started = { ts: "2026-01-02T00:00:00.000Z", orch_dir: "/x", plan_name: "batch", project_slug: "proj", type: "orchestration_started", stages: [] };
    const batch: StageLaunch[] = ["a", "b", "c", "d"].map((id) => ({ orchestration: "batch", started, stage: id, branch: `worktree-proj-stage-${id}`, worktreeName: `proj-stage-${id}`, session: `proj_stage-${id}`, socket, context: `# ${id}\n`, start: tip, baseBranch: "main", argv: (p) => ["sh", "-c", 'echo "up in $1"; exec sleep 60', "agent", p.worktree], env: {} }));
    for (const h of hosts) {
      const t0 = performance.now();
      const out = await h.launchMany(batch);
      console.log(`${h.name}: ${batch.length} stages at once ${(performance.now() - t0).toFixed(0)} ms`);
      expect(out.map((o) => o.adopted)).toEqual([false, false, false, false]);
      const tmux = h.tmux(socket);
      for (const [i, o] of out.entries()) {
        await expect.poll(async () => (await tmux.capturePane(batch[i]!.session)) ?? "", { timeout: 15_000 }).toContain(`up in ${o.paths.worktree}`);
      }
      expect((await h.launchMany(batch)).map((o) => o.adopted)).toEqual([true, true, true, true]);
      for (const l of batch) expect(await tmux.killSession(l.session)).toBe(true);
    }
  });
});
