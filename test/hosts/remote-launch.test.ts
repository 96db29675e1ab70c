/**
 * A stage launched on a host against a real sshd: the version check, the project root made, the
 * base pushed over the shared connection, the worktree, context, events and 0600 env files, the
 * session in the host's tmux; the host's tmux driven through the `Tmux` interface, with names,
 * paths and text full of shell and tmux syntax; and one batch launched through `StageHost` here and
 * on the host alike, the host's phase report followed into the controller's events.jsonl.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, ROOT } from "../helpers/env.js";
import { startedEvent } from "../helpers/events.js";
import { closeMaster, runScript, type SshSettings } from "../../src/adapters/ssh.js";
import { fetchFromHost } from "../../src/adapters/git-ssh.js";
import { thinPack } from "../../src/adapters/git-pack.js";
import type { HostSpec } from "../../src/core/hosts.js";
import { RemoteHost } from "../../src/host/remote-host.js";
import { hostBaseRef, hostEventsFile } from "../../src/host/protocol.js";
import { HostEventFollower } from "../../src/host/event-follower.js";
import { LocalStageHost, RemoteStageHost, type StageHost, type StageLaunch } from "../../src/host/stage-host.js";
import { appendLine } from "../../src/state/append.js";
import { sandboxAvailable } from "../../src/adapters/agent.js";
import { findExecutable } from "../../src/adapters/process.js";
import { orchPaths } from "../../src/state/paths.js";
import { hostLaneSkip, makeTestHost, type TestHost } from "./fixture.js";

const skip = hostLaneSkip();
if (skip) console.log(`host lane skipped: ${skip}`);

const WEIRD = `we ird; $HOME "q" 'sq' #h $(touch pwned) \`touch pwned2\``;

describe.skipIf(skip)("a stage on a host", () => {
  let host: TestHost;
  let dir: string;
  let s: SshSettings;
  let repo: string;
  let box1: RemoteHost;
  const spec = (over: Partial<HostSpec> = {}): HostSpec => ({ name: "box1", local: false, slots: 2, labels: [], ssh: "box1", sshOptions: host.sshOptions, root: `${WEIRD}/{project}`, env: [], autorun: CLI, agentCommand: ["git"], ...over });
  const git = async (...args: string[]) => (await execa("git", ["-C", repo, ...args])).stdout;
  const hostGit = async (cwd: string, ...args: string[]) => (await execa("git", ["-c", `safe.directory=*`, "-C", cwd, ...args])).stdout;

  beforeAll(async () => {
    host = await makeTestHost({ name: "box1" });
    dir = mkdtempSync(join(tmpdir(), "autorun-rl-"));
    s = { home: join(dir, "h"), connectTimeoutS: 5 };
    repo = join(dir, "repo");
    mkdirSync(repo);
    await execa("git", ["init", "-q", "-b", "main", repo]);
    writeFileSync(join(repo, "README.md"), "# project\n");
    await git("add", "README.md");
    await git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init");
    box1 = new RemoteHost(s, spec(), "proj");
  });
  afterAll(async () => {
    box1?.close();
    if (box1) await closeMaster(s, box1.target).catch(() => undefined);
    await host?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a host whose autorun is another version, in one line saying what to install", async () => {
    const old = join(host.home, "old-autorun");
    writeFileSync(old, "#!/bin/sh\necho 0.0.9\n");
    chmodSync(old, 0o755);
    chownSync(old, statSync(host.home).uid, statSync(host.home).gid);
    const error = await new RemoteHost(s, spec({ name: "old", autorun: old }), "proj").ready().catch((e: Error) => e);
    expect((error as Error).message).toBe("host old (box1): autorun 0.0.9 there, 0.1.0 here; install autorun 0.1.0 on old.");
    const none = await new RemoteHost(s, spec({ name: "none", autorun: "/nonexistent/autorun" }), "proj").ready().catch((e: Error) => e);
    expect((none as Error).message).toMatch(/^host none \(box1\): autorun is not found there, 0\.1\.0 here; install autorun 0\.1\.0 on none or give its full path in hosts\.none\.autorun\.$/);
    // Nothing was made on the host.
    expect(existsSync(join(host.home, WEIRD))).toBe(false);
  });

  it("refuses to start Claude Code in a host root it was never trusted in, saying what to do there", async () => {
    const claudeJson = join(host.home, ".claude.json");
    writeFileSync(claudeJson, JSON.stringify({ projects: {} }));
    chownSync(claudeJson, statSync(host.home).uid, statSync(host.home).gid);
    try {
      const claudeHost = new RemoteHost(s, spec({ name: "cc", root: "cc/{project}", agentCommand: ["claude"] }), "proj");
      const info = await claudeHost.ready();
      expect(info.trusted).toBe(false);
      const refused = await claudeHost.launchMany([{ orchestration: "plan", started: startedEvent([{ id: "1" }]), stage: "1", branch: "worktree-proj-stage-1", start: "0".repeat(40), worktree: "proj-stage-1", context: "", session: "proj_stage-1", socket: "autorun", argv: ["claude"], env: {} }]).catch((e: Error) => e);
      expect((refused as Error).message).toBe(`host cc (box1): Claude Code has not been trusted in ${info.root} there, and claude --worktree exits without it; on cc, run claude in ${info.root} once and accept "Yes, I trust this folder". Until then no stage starts there.`);
      expect(existsSync(join(info.root, ".claude", "worktrees"))).toBe(false);
      // Trusted there (a parent directory counts, as in Claude Code): the next controller sees it.
      writeFileSync(claudeJson, JSON.stringify({ projects: { [join(host.home, "cc")]: { hasTrustDialogAccepted: true } } }));
      expect((await new RemoteHost(s, spec({ name: "cc", root: "cc/{project}", agentCommand: ["claude"] }), "proj").ready()).trusted).toBe(true);
    } finally {
      rmSync(claudeJson, { force: true });
    }
  });

  it("makes the root, pushes the base, launches the stage: worktree, context, events, env, session", async () => {
    const t0 = performance.now();
    const info = await box1.ready();
    const readyMs = performance.now() - t0;
    expect(info.root).toBe(join(host.home, WEIRD, "proj"));
    expect(info.home).toBe(join(host.home, ".autorun"));
    expect(info.created).toBe(true);
    expect(info.versions).toMatchObject({ autorun: "0.1.0", git: (await execa("git", ["--version"])).stdout, tmux: (await execa("tmux", ["-V"])).stdout });
    expect(existsSync(join(host.home, "pwned")) || existsSync(join(host.home, "pwned2"))).toBe(false);
    // The host's own autorun plugin (its sessions' --plugin-dir); no trust to tell for `git`.
    expect(info.plugin_dir).toBe(join(ROOT, "orchestration-templates"));
    expect(info.trusted).toBeNull();

    const tip = await git("rev-parse", "HEAD");
    const t1 = performance.now();
    await box1.pushBase(repo, tip, "main");
    const pushMs = performance.now() - t1;
    expect(await hostGit(info.root, "rev-parse", hostBaseRef("main"))).toBe(tip);
    // And as the root's `main` (what an agent there is told to rebase onto); the root's own HEAD is on no pushed branch.
    expect(await hostGit(info.root, "rev-parse", "refs/heads/main")).toBe(tip);
    expect(await hostGit(info.root, "symbolic-ref", "HEAD")).toBe("refs/heads/autorun/host-root");

    const secret = `s3cret-${process.pid}-value`;
    const started = startedEvent([{ id: "1" }], { ident: { orch_dir: "/controller/orch/plan", plan_name: "plan", project_slug: "proj" } });
    const t2 = performance.now();
    const out = await box1.launch({
      orchestration: "plan",
      started,
      stage: "1",
      branch: "worktree-proj-stage-1",
      start: tip,
      worktree: "proj-stage-1",
      context: "# Stage 1\nDo the thing; $HOME `id` #x\n",
      session: "proj_stage-1",
      socket: "autorun",
      argv: ["sh", "-c", 'printf "stage=%s secret=%s orch=%s\\n" "$AUTORUN_STAGE" "$SECRET_X" "$AUTORUN_ORCH_DIR"; ls .claude/worktrees; exec sleep 60'],
      env: { SECRET_X: secret },
    });
    const launchMs = performance.now() - t2;
    console.log(`on a host: ready ${readyMs.toFixed(0)} ms (new connection), push ${pushMs.toFixed(0)} ms, launch ${launchMs.toFixed(0)} ms`);
    const worktree = join(info.root, ".claude", "worktrees", "proj-stage-1");
    expect(out).toEqual({ worktree, events_offset: expect.any(Number) as number, worktree_state: "made", session_state: "started" });
    expect(await hostGit(worktree, "rev-parse", "HEAD")).toBe(tip);
    expect(await hostGit(worktree, "branch", "--show-current")).toBe("worktree-proj-stage-1");
    const orchDir = join(info.home, "orchestration", "plan");
    const events = readFileSync(join(orchDir, "events.jsonl"), "utf8");
    expect(JSON.parse(events.split("\n")[0]!)).toEqual({ ...started, orch_dir: orchDir });
    expect(out.events_offset).toBe(Buffer.byteLength(events));
    const context = join(orchDir, "stages", "stage-1-context.md");
    expect(readFileSync(context, "utf8")).toBe("# Stage 1\nDo the thing; $HOME `id` #x\n");
    expect(statSync(context).mode & 0o777).toBe(0o600);

    const tmux = box1.tmux("autorun");
    await expect.poll(async () => (await tmux.capturePane("proj_stage-1")) ?? "", { timeout: 10_000 }).toContain(`stage=1 secret=${secret} orch=${orchDir}`);
    expect(await tmux.capturePane("proj_stage-1")).toContain("proj-stage-1");
    // The env file was loaded and removed; its directory is the user's alone; the value is on no command line.
    const envDir = join(info.home, "session-env");
    expect(statSync(envDir).mode & 0o777).toBe(0o700);
    expect(readdirSync(envDir)).toEqual([]);
    for (const pid of await host.pids()) {
      const cmdline = (() => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8");
        } catch {
          return "";
        }
      })();
      expect(cmdline).not.toContain(secret);
    }
    expect(statSync(join(info.home, "tmux", "autorun")).isSocket()).toBe(true);

    // Launched again (an interrupted launch repeated): the worktree and session are adopted.
    const again = await box1.launch({ orchestration: "plan", started, stage: "1", branch: "worktree-proj-stage-1", start: tip, worktree: "proj-stage-1", context: "# Stage 1\n", session: "proj_stage-1", socket: "autorun", argv: ["true"], env: {} });
    expect(again).toMatchObject({ worktree_state: "existing", session_state: "adopted" });
    // Another run's events file of the same name is refused.
    const other = await box1.launch({ orchestration: "plan", started: { ...started, ts: "2026-02-02T00:00:00.000Z" }, stage: "1", branch: "b", start: tip, worktree: "proj-stage-1", context: "", session: "x", socket: "autorun", argv: ["true"], env: {} }).catch((e: Error) => e);
    expect((other as Error).message).toMatch(/events\.jsonl on the host belongs to another run of plan \(started 2026-01-01T00:00:00\.000Z\); remove .+ there, or rename the plan\.$/);
    expect(await tmux.killSession("proj_stage-1")).toBe(true);
    expect(await tmux.hasSession("proj_stage-1")).toBe(false);

    // The stage's work comes back with a fetch through the same connection.
    const work = await runScript(s, box1.target, 'cd -- "$1" && git -c user.name=a -c user.email=a@a commit --allow-empty -qm work && git rev-parse HEAD', { args: [worktree] });
    expect(work.stderr).toBe("");
    await fetchFromHost(s, box1.target, { cwd: repo, remoteDir: info.root }, ["refs/heads/worktree-proj-stage-1:refs/autorun-test/fetched"]);
    expect(await git("rev-parse", "refs/autorun-test/fetched")).toBe(work.stdout.trim());
  });

  it("puts Claude Code's Bash sandbox of the host's own paths into the settings, where the host has what it needs", async () => {
    const info = await box1.ready();
    const tip = await git("rev-parse", "HEAD");
    await box1.pushBase(repo, tip, "main");
    const started = startedEvent([{ id: "1" }], { ident: { orch_dir: "/controller/orch/plan", plan_name: "plan", project_slug: "proj" } });
    const settings = JSON.stringify({ hooks: {}, worktree: { baseRef: "head" } });
    const launch = (n: number, sandbox?: { domains: string[]; base_branch: string }) =>
      box1.launch({ orchestration: "plan", started, stage: `b${n}`, branch: `worktree-proj-box-${n}`, start: tip, worktree: `proj-box-${n}`, context: "", session: `box_${n}`, socket: "autorun", argv: ["sh", "-c", "sleep 60; :", `box-${n}`, "--settings", settings], env: {}, ...(sandbox ? { sandbox } : {}) });
    const here = sandboxAvailable((p) => findExecutable(p));
    const boxed = await launch(1, { domains: ["registry.npmjs.org"], base_branch: "main" });
    expect(boxed.sandbox).toEqual({ on: here.ok, missing: here.missing });
    const plain = await launch(2);
    expect(plain.sandbox).toBeUndefined();
    /** The settings each session's program was started with there, by its stage. */
    const programs = async () => {
      const found = new Map<string, Record<string, unknown>>();
      for (const pid of await host.pids()) {
        try {
          const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
          if (argv[0] === "sh" && argv[4] === "--settings") found.set(argv[3]!, JSON.parse(argv[5]!) as Record<string, unknown>);
        } catch {
          // gone meanwhile
        }
      }
      return found;
    };
    const found = await programs();
    expect([...found.keys()].sort()).toEqual(["box-1", "box-2"]);
    expect(found.get("box-2")).toEqual({ hooks: {}, worktree: { baseRef: "head" } });
    const worktree = join(info.root, ".claude", "worktrees", "proj-box-1");
    if (here.ok) {
      // The sandbox of its worktree and of the host root's git directory, its base branch closed.
      expect(found.get("box-1")).toMatchObject({ hooks: {}, worktree: { baseRef: "head" }, sandbox: { enabled: true, allowUnsandboxedCommands: false, network: { allowedDomains: ["registry.npmjs.org"] } } });
      const fs = (found.get("box-1")!.sandbox as { filesystem: { allowWrite: string[]; denyWrite: string[] } }).filesystem;
      expect(fs.allowWrite).toContain(worktree);
      expect(fs.allowWrite).toContain(join(info.root, ".git", "worktrees", "proj-box-1"));
      expect(fs.denyWrite).toEqual(expect.arrayContaining([join(worktree, ".git"), join(info.root, ".git", "refs", "heads", "main"), join(info.root, ".git", "HEAD"), join(info.root, ".git", "worktrees", "proj-box-1", "config.worktree")]));
      expect(existsSync(join(info.root, ".git", "worktrees", "proj-box-1", "config.worktree"))).toBe(true);
    } else expect(found.get("box-1")).toEqual({ hooks: {}, worktree: { baseRef: "head" } });
    const tmux = box1.tmux("autorun");
    for (const n of [1, 2]) expect(await tmux.killSession(`box_${n}`)).toBe(true);
  });

  it("launches through one `autorun host serve` there, started again when it was killed; a bad request is answered, not fatal", async () => {
    const info = await box1.ready();
    const tip = await git("rev-parse", "HEAD");
    await box1.pushBase(repo, tip, "main");
    const started = startedEvent([{ id: "1" }], { ident: { orch_dir: "/controller/orch/plan", plan_name: "plan", project_slug: "proj" } });
    const launch = (n: number) => box1.launch({ orchestration: "plan", started, stage: `s${n}`, branch: `worktree-proj-serve-${n}`, start: tip, worktree: `proj-serve-${n}`, context: "", session: `serve_${n}`, socket: "autorun", argv: ["sleep", "60"], env: {} });
    const serving = async () => (await host.pids()).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").includes(" host serve");
      } catch {
        return false;
      }
    });
    await launch(1);
    const first = box1.server.starts;
    expect(first).toBeGreaterThanOrEqual(1);
    for (const n of [2, 3]) expect(await launch(n)).toMatchObject({ worktree_state: "made", session_state: "started" });
    expect(box1.server.starts).toBe(first);
    const [server, ...more] = await serving();
    expect(more).toEqual([]);
    // Its answers are one line each; an error there is this call's, and the server goes on.
    const refused = await box1.server.call("launch", { root: info.root }, 10_000).catch((e: Error) => e);
    expect((refused as Error).message).toMatch(/^host box1: autorun host launch failed: autorun host launch: orchestration: .+; nothing was done\.$/);
    expect(await serving()).toEqual([server]);
    // Killed there: the next launch starts another and goes on (a launch is safe to repeat).
    process.kill(server!, "SIGKILL");
    expect(await launch(4)).toMatchObject({ worktree_state: "made", session_state: "started" });
    expect(box1.server.starts).toBe(first + 1);
    expect(await serving()).not.toContain(server);
    // Ended here: nothing of it is left there.
    box1.close();
    await expect.poll(serving, { timeout: 10_000 }).toEqual([]);
    const tmux = box1.tmux("autorun");
    for (const n of [1, 2, 3, 4]) expect(await tmux.killSession(`serve_${n}`)).toBe(true);
  });

  it("ahead of a launch: the commit pushed and the worktree made while the merge is checked; the launch moves the base there and brings a worktree made at another commit to its start", async () => {
    const info = await box1.ready();
    const tip = await git("rev-parse", "HEAD");
    await box1.pushBase(repo, tip, "main");
    // Two merge commits on the tip, as two merges being checked would make them.
    const merge = async (n: number) => (await execa("git", ["-C", repo, "commit-tree", `${tip}^{tree}`, "-p", tip, "-m", `autorun: merge stage ${n}`], { env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } })).stdout;
    const [x, y] = [await merge(8), await merge(9)];
    const w = (n: number) => ({ worktree: `proj-ahead-${n}`, branch: `worktree-proj-ahead-${n}` });
    expect(await box1.ahead(repo, { commit: x, baseBranch: "main", worktrees: [w(1), w(2)] })).toBeUndefined();
    expect(await box1.ahead(repo, { commit: y, baseBranch: "main", worktrees: [] })).toBeUndefined();
    expect(await box1.has(x)).toBe(true);
    // Both sent as packs through the host's server (the base pushed before is what they are made against), not pushed.
    expect(box1.packed).toBe(2);
    expect(await hostGit(info.root, "rev-parse", "refs/autorun/ahead/main")).toBe(y);
    // A pack made against a commit the host lacks is refused there, and its ref is not made.
    const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" };
    const tree = (await execa("git", ["-C", repo, "mktree"], { input: `100644 blob ${(await execa("git", ["-C", repo, "hash-object", "-w", "--stdin"], { input: "only here\n" })).stdout}\tonly-here.txt\n` })).stdout;
    const lacking = (await execa("git", ["-C", repo, "commit-tree", tree, "-p", tip, "-m", "only here"], { env })).stdout;
    const beyond = (await execa("git", ["-C", repo, "commit-tree", `${tip}^{tree}`, "-p", lacking, "-m", "beyond it"], { env })).stdout;
    const pack = await thinPack(repo, beyond, lacking);
    const refused = await box1.server.call("objects", { root: info.root, commit: beyond, ref: "refs/autorun/ahead/other", pack: pack.toString("base64") }, 10_000).catch((e: Error) => e);
    expect((refused as Error).message).toMatch(/could not take .+ \(unpack\)/);
    expect((await host.asUser('cd -- "$1" && git rev-parse --verify -q refs/autorun/ahead/other', info.root)).exitCode).not.toBe(0);
    const at = (n: number) => join(info.root, ".claude", "worktrees", `proj-ahead-${n}`);
    expect(await hostGit(at(1), "rev-parse", "HEAD")).toBe(x);
    // The base there has not moved: the merge is not made yet.
    expect(await hostGit(info.root, "rev-parse", "refs/heads/main")).toBe(tip);
    const started = startedEvent([{ id: "1" }], { ident: { orch_dir: "/controller/orch/plan", plan_name: "plan", project_slug: "proj" } });
    const launch = (n: number, start: string) => box1.launch({ orchestration: "plan", started, stage: `a${n}`, ...w(n), branch: w(n).branch, start, context: "", session: `ahead_${n}`, socket: "autorun", argv: ["sleep", "60"], env: {}, base: { branch: "main", commit: start, own_branch: true } });
    // x became the tip: the launch finds its worktree as made, and moves the base there to x.
    expect(await launch(1, x)).toMatchObject({ worktree_state: "existing", session_state: "started" });
    expect(await hostGit(info.root, "rev-parse", "refs/heads/main", hostBaseRef("main"))).toBe(`${x}\n${x}`);
    // y became the tip instead: the worktree made at x holds nothing of its own, and starts at y.
    expect(await launch(2, y)).toMatchObject({ worktree_state: "existing", session_state: "started" });
    expect(await hostGit(at(2), "rev-parse", "HEAD")).toBe(y);
    expect(await hostGit(info.root, "rev-parse", "refs/heads/main")).toBe(y);
    // One with work of its own (a retried stage's) is left as it is.
    expect(await box1.ahead(repo, { commit: x, baseBranch: "main", worktrees: [w(3)] })).toBeUndefined();
    expect((await host.asUser('cd -- "$1" && git -c user.name=a -c user.email=a@a commit --allow-empty -qm "its own work"', at(3))).exitCode).toBe(0);
    const own = await hostGit(at(3), "rev-parse", "HEAD");
    expect(await launch(3, y)).toMatchObject({ worktree_state: "existing" });
    expect(await hostGit(at(3), "rev-parse", "HEAD")).toBe(own);
    const tmux = box1.tmux("autorun");
    for (const n of [1, 2, 3]) expect(await tmux.killSession(`ahead_${n}`)).toBe(true);
  });

  it("runs the server's calls side by side: a quick one is answered while a slow one runs; a launch waits for its worktree being made ahead", async () => {
    const info = await box1.ready();
    const tip = await git("rev-parse", "HEAD");
    await box1.pushBase(repo, tip, "main");
    const w = (n: number) => ({ worktree: `proj-side-${n}`, branch: `worktree-proj-side-${n}` });
    const done: string[] = [];
    const slow = box1.server.call("worktrees", { root: info.root, commit: tip, worktrees: Array.from({ length: 12 }, (_, i) => w(i + 1)) }, 30_000).then(() => done.push("worktrees"));
    const quick = box1.server.call("versions", {}, 30_000).then(() => done.push("versions"));
    await Promise.all([slow, quick]);
    expect(done).toEqual(["versions", "worktrees"]);
    // The launch sent while its worktree is being made ahead finds it made, and starts there.
    const started = startedEvent([{ id: "1" }], { ident: { orch_dir: "/controller/orch/plan", plan_name: "plan", project_slug: "proj" } });
    const ahead = box1.server.call("worktrees", { root: info.root, commit: tip, worktrees: [w(20)] }, 30_000);
    const launched = box1.launch({ orchestration: "plan", started, stage: "s20", ...w(20), start: tip, context: "", session: "side_20", socket: "autorun", argv: ["sleep", "60"], env: {} });
    expect(await ahead).toEqual({ made: [w(20).worktree] });
    expect(await launched).toMatchObject({ worktree_state: "existing", session_state: "started" });
    expect(await hostGit(join(info.root, ".claude", "worktrees", w(20).worktree), "rev-parse", "HEAD")).toBe(tip);
    expect(await box1.tmux("autorun").killSession("side_20")).toBe(true);
  });

  it("drives the host's tmux through the Tmux interface: ; $ quotes spaces # in names, paths and text", async () => {
    const info = await box1.ready();
    const tmux = box1.tmux("autorun");
    // tmux itself rewrites "$" in a session name (to "\\$"), so "$" is tried in paths and text only.
    const name = `n; "q" 'sq' #x \`touch pwned3\` end;`;
    const cwd = join(info.root, `d; $HOME "q" 'sq' #c`);
    expect((await host.asUser('mkdir -p -- "$1"', cwd)).exitCode).toBe(0);
    await tmux.newSession({ name, cwd, argv: ["sh", "-c", 'pwd; printf "ready\\n"; while IFS= read -r l; do printf "got[%s]\\n" "$l"; done'], env: { V: "x; $y 'z'" }, envDir: join(info.home, "session-env"), remainOnExit: true });
    expect(await tmux.hasSession(name)).toBe(true);
    expect(await tmux.listSessions()).toContain(name);
    await expect.poll(async () => (await tmux.capturePane(name)) ?? "", { timeout: 10_000 }).toContain("ready");
    expect(await tmux.capturePane(name)).toContain(cwd);
    const text = `a; b $HOME 'c' "d" #e $(touch pwned4) \`id\` f;`;
    expect(await tmux.sendLiteral(name, text)).toBe(true);
    expect(await tmux.sendEnter(name)).toBe(true);
    await expect.poll(async () => (await tmux.capturePane(name)) ?? "", { timeout: 10_000 }).toContain(`got[${text}]`);
    const screens = await tmux.capturePanes([name, "no-such"]);
    expect(screens.get(name)).toContain(`got[${text}]`);
    expect(screens.get("no-such")).toBeUndefined();
    expect((await tmux.paneStatus(name)).state).toBe("running");
    expect(await tmux.cursorRow(name)).toBeGreaterThan(0);
    expect(await tmux.killSession(name)).toBe(true);
    expect(await tmux.hasSession(name)).toBe(false);
    expect((await tmux.paneStatus(name)).state).toBe("gone");
    for (const f of ["pwned", "pwned2", "pwned3", "pwned4"]) expect(existsSync(join(host.home, f)) || existsSync(join(cwd, f))).toBe(false);
    // An exited pane is kept (remain-on-exit) with its status and last words. (A program that exits
    // within microseconds of printing can lose its output to tmux on a loaded machine: this one
    // waits a moment, as any agent does.)
    await tmux.newSession({ name: "dies", cwd: info.root, argv: ["sh", "-c", "echo last words; sleep 0.3; exit 3"], env: {}, envDir: join(info.home, "session-env"), remainOnExit: true });
    // tmux can mark a pane dead (its pty closed) without its exit status, on a loaded machine
    // (test/e2e/crashes.test.ts allows the same for local panes): the status, when known, is 3.
    await expect.poll(async () => (await tmux.paneStatus("dies")).state, { timeout: 10_000 }).toBe("exited");
    const dead = await tmux.paneStatus("dies");
    expect(dead.state === "exited" && [3, undefined].includes(dead.status)).toBe(true);
    expect(await tmux.lastLines("dies", 5)).toContain("last words");
    await tmux.killServer();
    expect(await tmux.serverRunning()).toBe(false);
  });

  it("StageHost: a batch launched here and on the host alike; the host's phase report is followed into events.jsonl", async () => {
    const socket = `autorun-sh-${process.pid}`;
    const hosts: StageHost[] = [new LocalStageHost(repo, s.home), new RemoteStageHost(box1, repo)];
    try {
      const tip = await git("rev-parse", "HEAD");
      const paths = orchPaths(s.home, "batch", "proj");
      mkdirSync(paths.dir, { recursive: true });
      const started = startedEvent(["a", "b", "c", "d"].map((id) => ({ id })), { ident: { orch_dir: paths.dir, plan_name: "batch", project_slug: "proj" }, ts: "2026-01-02T00:00:00.000Z" });
      appendLine(paths.events, started);
      const batch: StageLaunch[] = ["a", "b", "c", "d"].map((id) => ({
        orchestration: "batch",
        started,
        stage: id,
        branch: `worktree-proj-stage-${id}`,
        worktreeName: `proj-stage-${id}`,
        session: `proj_stage-${id}`,
        socket,
        context: `# ${id}\n`,
        start: tip,
        baseBranch: "main",
        // Stage a reports a phase, as an agent does, where it runs.
        argv: (p) => ["sh", "-c", `echo "up in $1 extra=$EXTRA"; ${id === "a" ? "autorun phase implement start && echo reported; " : ""}exec sleep 60`, "agent", p.worktree],
        env: { EXTRA: "x; $y 'z'" },
      }));
      const offsets: number[] = [];
      for (const h of hosts) {
        await h.ready();
        const t0 = performance.now();
        const out = await h.launchMany(batch);
        console.log(`${h.name}: ${batch.length} stages at once ${(performance.now() - t0).toFixed(0)} ms`);
        expect(out.map((o) => o.adopted)).toEqual([false, false, false, false]);
        expect(out[0]!.paths.root).toBe(h.local ? repo : box1.info.root);
        offsets.push(out[0]!.eventsOffset);
        const tmux = h.tmux(socket);
        for (const [i, o] of out.entries()) {
          expect(o.paths.worktree).toBe(join(o.paths.root, ".claude", "worktrees", `proj-stage-${batch[i]!.stage}`));
          await expect.poll(async () => (await tmux.capturePane(batch[i]!.session)) ?? "", { timeout: 15_000 }).toContain(`up in ${o.paths.worktree} extra=x; $y 'z'`);
        }
        await expect.poll(async () => (await tmux.capturePane("proj_stage-a")) ?? "", { timeout: 15_000 }).toContain("reported");
        expect((await h.launchMany(batch)).map((o) => o.adopted)).toEqual([true, true, true, true]);
      }
      // Here, the phase went straight into events.jsonl; there, into the host's copy, then followed.
      const info = box1.info;
      const follower = new HostEventFollower({ s, target: box1.target, hostEvents: hostEventsFile(info.home, "batch"), hostOrchDir: join(info.home, "orchestration", "batch"), paths, identity: { plan_name: "batch", project_slug: "proj", started_ts: started.ts }, placements: () => new Map(batch.map((l) => [l.stage, offsets[1]!])), stateFile: join(paths.dir, "box1.offset") });
      expect((await follower.poll()).accepted).toHaveLength(1);
      const phases = readFileSync(paths.events, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.type === "phase_status");
      expect(phases.map((e) => [e.stage, e.host, e.orch_dir])).toEqual([
        ["a", undefined, paths.dir],
        ["a", "box1", paths.dir],
      ]);
    } finally {
      for (const h of hosts) await h.tmux(socket).killServer().catch(() => undefined);
    }
  });

  it("a stage moved to the host: its kept uncommitted files put back uncommitted, its conversation where claude looks, resumed in its worktree", async () => {
    const socket = `autorun-mv-${process.pid}`;
    const stageHost = new RemoteStageHost(box1, repo);
    try {
      const tip = await git("rev-parse", "HEAD");
      // A snapshot as a keep makes it: the tip as its parent, an uncommitted file in its tree.
      const env = { GIT_INDEX_FILE: join(dir, "snap-index") };
      await execa("git", ["-C", repo, "read-tree", "HEAD"], { env });
      const blob = (await execa("git", ["-C", repo, "hash-object", "-w", "--stdin"], { input: "kept note\n" })).stdout;
      await execa("git", ["-C", repo, "update-index", "--add", "--cacheinfo", `100644,${blob},notes $x.txt`], { env });
      const tree = (await execa("git", ["-C", repo, "write-tree"], { env })).stdout;
      const snapshot = (await git("-c", "user.name=t", "-c", "user.email=t@t", "commit-tree", tree, "-p", tip, "-m", "snapshot")).trim();
      const sid = "0123abcd-0000-4000-8000-000000000001";
      const conversation = Buffer.concat([Buffer.from('{"type":"user"}\n'), Buffer.from([0xff, 0x0a])]);
      const started = startedEvent([{ id: "m" }], { ident: { orch_dir: "/controller/orch/moved", plan_name: "moved", project_slug: "proj" } });
      const [out] = await stageHost.launchMany([
        { orchestration: "moved", started, stage: "m", branch: "worktree-proj-stage-m", worktreeName: "proj-stage-m", session: "proj_stage-m", socket, context: "# m\n", start: tip, baseBranch: "main", argv: () => ["sh", "-c", 'echo "in $(pwd)"; exec sleep 60'], env: {}, resume: true, restore: { commit: snapshot, transcript: { sessionId: sid, bytes: conversation } } },
      ]);
      const worktree = out!.paths.worktree;
      expect(await hostGit(worktree, "rev-parse", "HEAD")).toBe(tip);
      expect(await hostGit(worktree, "status", "--porcelain", "--untracked-files=all")).toBe('?? "notes $x.txt"');
      expect(readFileSync(join(worktree, "notes $x.txt"), "utf8")).toBe("kept note\n");
      expect(readFileSync(join(host.home, ".claude", "projects", worktree.replace(/[^A-Za-z0-9]/g, "-"), `${sid}.jsonl`)).equals(conversation)).toBe(true);
      await expect.poll(async () => (await stageHost.tmux(socket).capturePane("proj_stage-m")) ?? "", { timeout: 15_000 }).toContain(`in ${worktree}`);
    } finally {
      await stageHost.tmux(socket).killServer().catch(() => undefined);
    }
  });

  it("an unreachable host is an error from the Tmux calls, never 'no such session'", async () => {
    const gone = new RemoteHost({ ...s, connectTimeoutS: 1 }, spec({ name: "gone", ssh: `${host.user}@${host.peer.replace(/\d+$/, (d) => String(Number(d) + 2))}` }), "proj");
    (gone as unknown as { prepared: unknown }).prepared = box1.info;
    await expect(gone.tmux("autorun").hasSession("x")).rejects.toThrow(/^ssh to host gone \(.+\) failed: /);
  });

  it("the host commands are refused from a stage's session; bad input is one line, exit 2, nothing made", async () => {
    for (const command of ["versions", "serve"]) {
      const r = await execa(process.execPath, [CLI, "host", command], { env: { AUTORUN_STAGE: "1", AUTORUN_ORCH_DIR: "/x" }, input: "{}", reject: false });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^autorun: host ${command}: run this from your own terminal, not from a stage's session`));
    }
    const home = join(dir, "bad-input-home");
    for (const [input, message] of [
      ["x\n", /^autorun: autorun host launch: stdin is not JSON \(.+\); this command is run by the controller's autorun, with its input on stdin\.$/],
      ['{"root":"/x"}', /^autorun: autorun host launch: orchestration: .+; nothing was done\.$/],
      ['{"launches":[{"root":"relative"}]}', /^autorun: autorun host launch: launches\.0\.root: an absolute path without newlines; nothing was done\.$/],
      ['{"root":"p","extra":1}', /^autorun: autorun host prepare: input: .*extra.*; nothing was done\.$/],
    ] as const) {
      const cmd = input.includes("extra") ? "prepare" : "launch";
      const bad = await execa(process.execPath, [CLI, "host", cmd], { env: { AUTORUN_HOME: home }, input, reject: false });
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr.trimEnd()).toMatch(message);
      expect(bad.stderr.trimEnd().split("\n")).toHaveLength(1);
    }
    expect(existsSync(home)).toBe(false);
  });
});
