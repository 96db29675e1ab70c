/**
 * Whole runs over a real sshd (a network namespace, its own Unix user), the simulated agent and
 * the built CLI: a diamond with two stages pinned to the host merges every stage here, the host's
 * phase events arrive tagged with it, a variable its `env` names reaches the agent there and its
 * value is in no file; a monitor killed mid-run, the sessions there ended by `stop --sessions`,
 * and the run resumed (relaunched there with --resume) loses and doubles none of the host's
 * events; nothing is left on the host. A run discarded while its stages run there; a monitor started
 * again cleans up what a merged stage left there. Then a partition: the host's link goes down
 * under a running stage, which is declared lost, relaunched here, and the run completes; the host,
 * back, has its stale session ended before it runs anything else; `autorun attach` reaches a stage
 * there. One host for the file.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSandbox, ROOT, SIM, waitFor, type Sandbox } from "../helpers/env.js";
import { expectClean, killMonitor, monitorPid, orchestrate, sleepAgent, waitForEnd, waitForExit } from "../helpers/orch.js";
import { hostLaneSkip, makeTestHost, untilAnswering, type TestHost } from "./fixture.js";
import { expectHostClean } from "./host-checks.js";
import { sandboxAvailable } from "../../src/adapters/agent.js";
import { findExecutable } from "../../src/adapters/process.js";
import { createTmux } from "../../src/adapters/tmux.js";

const skip = hostLaneSkip();
if (skip) console.log(`host lane skipped: ${skip}`);

const AUTORUN = join(ROOT, "dist", "bin", "autorun");

/** Every file under `dir` whose bytes hold `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const name of entries) {
      const p = join(d, name);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size < 50_000_000 && readFileSync(p).includes(needle)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

describe.skipIf(skip)("runs with a host", () => {
  let host: TestHost;
  const sbs: Sandbox[] = [];
  beforeAll(async () => {
    host = await makeTestHost({ name: "box1" });
  });
  afterAll(async () => {
    for (const sb of sbs) await sb.cleanup();
    await host?.teardown();
  });

  /** As the host's user, in the namespace. */
  const onHost = async (script: string, ...args: string[]) => (await host.asUser(script, ...args)).stdout;

  async function sandbox(config: Record<string, unknown>, env: Record<string, string> = {}): Promise<Sandbox> {
    const sb = await makeSandbox();
    sbs.push(sb);
    Object.assign(sb.env, env);
    writeFileSync(join(sb.home, "config.json"), JSON.stringify(config));
    return sb;
  }


  it("a diamond with two stages pinned to the host merges every stage here; the host's events, env and cleanup", async () => {
    const secret = `tok-${process.pid}-${Date.now()}-s3cr3t`;
    // The host's agent: the simulated one, after leaving proof it saw the secret (its hash, never the value).
    // And the settings it was started with.
    const agent = ["sh", "-c", 'printf %s "$SECRET_TOKEN" | sha256sum > "$HOME/seen-$AUTORUN_STAGE"; n=; for a in "$@"; do [ -n "$n" ] && printf %s "$a" > "$HOME/settings-$AUTORUN_STAGE"; n=; [ "$a" = --settings ] && n=1; done; exec "$0" "$@"', process.execPath, SIM];
    const sb = await sandbox({ hosts: { box1: { ssh: "box1", slots: 2, sshOptions: host.sshOptions, root: "work/{project}", env: ["SECRET_TOKEN", "AUTORUN_SIM_DELAY_MS"], autorun: AUTORUN, agentCommand: agent } } }, { SECRET_TOKEN: secret });
    const plan = sb.writePlan("diamond.md", "# Diamond\n## Stage 1: Base\n## Stage 2: Left\nDepends on: 1\nHost: box1\n## Stage 3: Right\nDepends on: 1\nHost: box1\n## Stage 4: Top\nDepends on: 2, 3\n");
    await sb.git("add", "diamond.md");
    await sb.git("commit", "-qm", "plan");
    await orchestrate(sb, plan);
    // The monitor killed while the host's stages report, and started again: nothing lost or doubled.
    await waitFor("a phase from the host", () => sb.events("diamond").some((e) => e.type === "phase_status" && e.host === "box1"), 60_000);
    expect(await killMonitor(sb, "diamond")).toBe(true);
    // `stop --sessions` ends the sessions there too; the next monitor relaunches there (--resume)
    // those not done yet.
    const stopped = await sb.cli(["stop", "diamond", "--sessions"]);
    expect(stopped.stderr).toBe("");
    expect(stopped.stdout).toMatch(/Ended the sessions of stages? .*2/);
    expect(await onHost('tmux -S "$1" list-sessions -F "#{session_name}" 2>/dev/null', join(host.home, ".autorun", "tmux", sb.socket))).toBe("");
    expect((await sb.cli(["resume", "diamond"])).code).toBe(0);
    expect(await ended(sb, "diamond")).toBe("completed");

    const merges = (await sb.git("log", "--merges", "--format=%s", "main")).split("\n");
    expect(merges.sort()).toEqual(["autorun: merge stage 1: Base", "autorun: merge stage 2: Left", "autorun: merge stage 3: Right", "autorun: merge stage 4: Top"]);
    for (const id of ["1", "2", "3", "4"]) expect(existsSync(join(sb.repo, "sim", `stage-${id}-part2.txt`))).toBe(true);
    const events = sb.events("diamond");
    const launched = Object.fromEntries(events.filter((e) => e.type === "stage_launched").map((e) => [e.stage, e.host ?? "local"]));
    expect(launched).toEqual({ "1": "local", "2": "box1", "3": "box1", "4": "local" });
    // A stage whose session `stop` ended before it was done is relaunched there (one done already is merged).
    for (const e of events.filter((x) => x.type === "stage_relaunched")) expect(e.host).toBe("box1");
    // Each stage's phases came from where it ran, the host's tagged with it (once each: no line twice).
    for (const id of ["1", "2", "3", "4"]) {
      const phases = events.filter((e) => e.type === "phase_status" && e.stage === id);
      expect(phases.length).toBeGreaterThan(0);
      expect(new Set(phases.map((e) => e.host ?? "local"))).toEqual(new Set([launched[id]]));
    }
    const offsets = events.filter((e) => e.host_offset !== undefined).map((e) => e.host_offset as number);
    expect(new Set(offsets).size).toBe(offsets.length);
    // Every phase line the host wrote up to where its follower last read is here once, in order
    // (a stage's last lines after its merge are not waited for).
    const reached = Math.max(...offsets);
    let end = 0;
    const written = readFileSync(join(host.home, ".autorun", "orchestration", "diamond", "events.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => ({ line: JSON.parse(l) as Record<string, unknown>, end: (end += Buffer.byteLength(l) + 1) }))
      .filter((x) => x.end <= reached)
      .map((x) => x.line);
    const phases = (list: Record<string, unknown>[]) => list.filter((e) => e.type === "phase_status").map((e) => `${e.stage as string} ${e.phase as string} ${e.status as string}`);
    expect(phases(written).length).toBeGreaterThan(10);
    expect(phases(events.filter((e) => e.host === "box1"))).toEqual(phases(written));
    // The variable reached the agents there; its value is nowhere on disk, here or there.
    const hash = createHash("sha256").update(secret).digest("hex");
    for (const id of ["2", "3"]) expect(readFileSync(join(host.home, `seen-${id}`), "utf8")).toContain(hash);
    // Claude Code's Bash sandbox, as the configuration wants it: of the stage's paths there, where the host has what it needs.
    const hostRoot = join(host.home, "work", launchedSlug(events));
    for (const id of ["2", "3"]) {
      const settings = JSON.parse(readFileSync(join(host.home, `settings-${id}`), "utf8")) as { sandbox?: { filesystem: { allowWrite: string[] } } };
      if (sandboxAvailable((p) => findExecutable(p)).ok) expect(settings.sandbox?.filesystem.allowWrite).toContain(join(hostRoot, ".claude", "worktrees", `diamond-stage-${id}`));
      else expect(settings.sandbox).toBeUndefined();
    }
    expect(filesHolding(sb.dir, secret)).toEqual([]);
    expect(filesHolding(host.home, secret)).toEqual([]);
    await expectClean(sb, "diamond");
    await expectHostClean(host, sb.socket, join(host.home, "work", launchedSlug(events)));
  }, 240_000);

  it("discard ends what the run left on the host: sessions, clean worktrees, merged branches, its state there; keeps uncommitted files and unmerged commits, and says so", async () => {
    const sb = await sandbox({ hosts: { box1: { ssh: "box1", slots: 3, sshOptions: host.sshOptions, root: "gone/{project}", autorun: AUTORUN, agentCommand: ["sh", "-c", "exec sleep 300", "{stage}"] } } });
    const plan = sb.writePlan("gone.md", "# Gone\n## Stage 1: A\nHost: box1\n## Stage 2: B\nHost: box1\n## Stage 3: C\nHost: box1\n");
    const launched = await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", sleepAgent]);
    expect(launched.code, launched.stderr).toBe(0);
    const [slug] = readdirSync(join(host.home, "gone"));
    const root = join(host.home, "gone", slug!);
    const worktree = (n: number) => join(root, ".claude", "worktrees", `${slug}-stage-${n}`);
    // Stage 2 has a file it never committed; stage 3 a commit the base lacks.
    expect((await host.asUser('printf x > "$1/notes.txt"', worktree(2))).exitCode).toBe(0);
    expect((await host.asUser('cd -- "$1" && git -c user.name=a -c user.email=a@a commit --allow-empty -qm "its work"', worktree(3))).exitCode).toBe(0);
    const orchThere = join(host.home, ".autorun", "orchestration", "gone");
    expect(existsSync(orchThere)).toBe(true);
    const r = await sb.cli(["discard", "gone", "--yes"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("- end 3 tmux session(s) on host box1: gone_stage-1, gone_stage-2, gone_stage-3");
    expect(r.stdout).toContain(`- keep worktree ${worktree(2)} on host box1: it has uncommitted or untracked files`);
    expect(r.stdout).toMatch(/- keep branch worktree-\S+-stage-3 on host box1: 1 commit\(s\) main does not have there/);
    expect(r.stdout).toContain("What was kept is listed above.");
    expect(await onHost('tmux -S "$1" list-sessions -F "#{session_name}" 2>/dev/null', join(host.home, ".autorun", "tmux", sb.socket))).toBe("");
    expect(existsSync(worktree(1)) || existsSync(worktree(3))).toBe(false);
    expect(readFileSync(join(worktree(2), "notes.txt"), "utf8")).toBe("x");
    const branches = (await execa("git", ["-c", "safe.directory=*", "-C", root, "branch", "--list", "worktree-*", "--format=%(refname:short)"])).stdout.split("\n");
    expect(branches.map((b) => b.replace(slug!, "P"))).toEqual(["worktree-P-stage-2", "worktree-P-stage-3"]);
    expect(existsSync(orchThere)).toBe(false);
    expect(existsSync(join(sb.home, "orchestration", "gone"))).toBe(false);
  });

  it("a stage moved off a lost host: the run completes while the host is away, and discard then ends the session left running there", async () => {
    // On the host the agent never hands over (it sleeps); here the simulated agent finishes the stage.
    const sb = await sandbox({ hostGraceSeconds: 1, hosts: { local: { slots: 1 }, box1: { ssh: "box1", slots: 2, sshOptions: host.sshOptions, root: "away/{project}", autorun: AUTORUN, agentCommand: ["sh", "-c", "exec sleep 300", "{stage}", "{worktree}"] } } });
    const plan = sb.writePlan("away.md", "# Away\n## Stage 1: Moves\n");
    await orchestrate(sb, plan);
    const hostSessions = async () => (await onHost('tmux -S "$1" list-sessions -F "#{session_name}" 2>/dev/null', join(host.home, ".autorun", "tmux", sb.socket))).split("\n").filter(Boolean);
    await waitFor("stage 1's session on the host", async () => (await hostSessions()).includes("away_stage-1"), 30_000);
    const monitor = monitorPid(sb, "away")!;
    await host.inNs(["ip", "link", "set", host.nsLink, "down"]);
    try {
      expect(await ended(sb, "away")).toBe("completed");
      // Its monitor gives the host up (the connection's keep-alives go unanswered) and exits.
      await waitForExit(monitor, "the monitor's process gone", 60_000);
    } finally {
      await host.inNs(["ip", "link", "set", host.nsLink, "up"]);
    }
    const launches = sb.events("away").filter((e) => (e.type === "stage_launched" || e.type === "stage_relaunched") && e.stage === "1");
    expect(launches.map((e) => e.host ?? "here")).toEqual(["box1", "here"]);
    // Cut off, its session there ran on, and no monitor is left to end it: its log said so, and how.
    expect(await hostSessions()).toEqual(["away_stage-1"]);
    expect(readFileSync(join(sb.home, "logs", "away-monitor.log"), "utf8")).toContain("host box1: not answering, and the session away_stage-1 of stages that went on elsewhere may still run there; once it answers, end it with: autorun discard away");
    await untilAnswering(host);
    const r = await sb.cli(["discard", "away", "--yes"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("- end 1 tmux session(s) on host box1: away_stage-1");
    expect(await hostSessions()).toEqual([]);
  }, 120_000);

  it("a monitor started again cleans up what a merged stage left on the host (killed between its merge and its cleanup)", async () => {
    const sb = await sandbox({ hosts: { box1: { ssh: "box1", slots: 2, sshOptions: host.sshOptions, root: "reap/{project}", autorun: AUTORUN, agentCommand: [process.execPath, SIM] } } });
    // Stage 1 runs on the host and merges; stage 2 sleeps here, so the run goes on.
    const plan = sb.writePlan("reap.md", "# Reap\n## Stage 1: There\nHost: box1\n## Stage 2: Here\nHost: local\n");
    await sb.git("add", "reap.md");
    await sb.git("commit", "-qm", "plan");
    const started = await sb.cli(["orchestrate", plan, "--agent-cmd", sleepAgent]);
    expect(started.code, started.stderr).toBe(0);
    const slug = launchedSlug(sb.events("reap"));
    const root = join(host.home, "reap", slug);
    const sock = join(host.home, ".autorun", "tmux", sb.socket);
    await waitFor("stage 1 merged and cleaned up there", async () => sb.events("reap").some((e) => e.type === "merge_complete" && e.stage === "1") && !existsSync(join(root, ".claude", "worktrees", `${slug}-stage-1`)), 60_000);
    expect(await killMonitor(sb, "reap")).toBe(true);
    // What a monitor killed between the merge and its cleanup leaves there: the session, the
    // worktree with a note in it, the branch.
    const worktree = join(root, ".claude", "worktrees", `${slug}-stage-1`);
    const left = await host.asUser('git -C "$1" worktree add -q -b "$3" -- "$2" refs/autorun/base/main && printf "a note" > "$2/notes-left.md" && tmux -S "$4" new-session -d -s reap_stage-1 sleep 300', root, worktree, `worktree-${slug}-stage-1`, sock);
    expect(left.stderr).toBe("");
    expect((await sb.cli(["resume", "reap"])).code).toBe(0);
    await waitFor("the leftovers gone there", async () => !existsSync(worktree) && (await onHost('tmux -S "$1" list-sessions -F "#{session_name}" 2>/dev/null', sock)).split("\n").filter((n) => n === "reap_stage-1").length === 0, 30_000);
    expect((await execa("git", ["-c", "safe.directory=*", "-C", root, "branch", "--list", "worktree-*"])).stdout.trim()).toBe("");
    // Its note came back here, as after a merge.
    expect(readFileSync(join(sb.home, "orchestration", "reap", "stages", "stage-1-files", "notes-left.md"), "utf8")).toBe("a note");
    expect(readFileSync(join(sb.home, "logs", `${slug}-monitor.log`), "utf8")).toContain("stage 1: cleaning up what its merge left behind on host box1");
    expect((await sb.cli(["stop", "reap", "--sessions"])).code).toBe(0);
  });

  it("a partition: the host is declared lost within 10 s, its stage moves here with its work and conversation, the run completes; the host back is fenced; notes come back", async () => {
    // Stage 1 goes to the host (2 free slots there, 1 here) and is slow there, keeping a transcript;
    // stage 2 is pinned to it.
    const agent = ["sh", "-c", '[ "$AUTORUN_STAGE" = 1 ] && export AUTORUN_SIM_DELAY_MS=5000 AUTORUN_SIM_USAGE=100; exec "$0" "$@"', process.execPath, SIM];
    const sb = await sandbox({ hostGraceSeconds: 1, hosts: { local: { slots: 1 }, box1: { ssh: "box1", slots: 2, sshOptions: host.sshOptions, root: "part/{project}", env: ["AUTORUN_SIM_DELAY_MS"], autorun: AUTORUN, agentCommand: agent } } });
    // Claude Code's config dir for the agents here (never the person's ~/.claude).
    const claudeDir = join(sb.dir, "claude-config");
    sb.env.CLAUDE_CONFIG_DIR = claudeDir;
    const plan = sb.writePlan("part.md", "# Part\n## Stage 1: Moves\n## Stage 2: Pinned\nDepends on: 1\nHost: box1\n");
    await sb.git("add", "part.md");
    await sb.git("commit", "-qm", "plan");
    await orchestrate(sb, plan);
    const of = (type: string, stage: string) => sb.events("part").filter((e) => e.type === type && e.stage === stage);
    await waitFor("stage 1 to report from the host", () => of("phase_status", "1").some((e) => e.host === "box1"), 60_000);
    expect(of("stage_launched", "1")[0]!.host).toBe("box1");
    const sid = of("stage_launched", "1")[0]!.session_id as string;
    const stagesDir = join(sb.home, "orchestration", "part", "stages");
    const worktree = (JSON.parse(readFileSync(join(sb.home, "orchestration", "part", "status.json"), "utf8")) as { stages: Record<string, { worktree: string }> }).stages["1"]!.worktree;
    const hostRoot = join(host.home, "part", launchedSlug(sb.events("part")));
    // The stage's work there: a commit, and a file left uncommitted.
    expect(await onHost('cd "$1" && printf "from the host\\n" > host-commit.txt && git add host-commit.txt && git -c user.name=h -c user.email=h@example.invalid commit -qm "stage 1: committed on the host" && printf "uncommitted on the host\\n" > host-notes.txt && echo ok', join(hostRoot, ".claude", "worktrees", basename(worktree)))).toBe("ok");
    // Kept here at its next phase: the snapshot (the commit as its parent, the file in its tree) and the transcript's bytes.
    const kept = join(stagesDir, "stage-1-transcripts", `${sid}.jsonl`);
    await waitFor("the host's work kept here", async () => {
      const tree = await execa("git", ["-C", sb.repo, "ls-tree", "-r", "--name-only", "refs/autorun/hosts/box1/part/1"], { reject: false });
      return tree.exitCode === 0 && tree.stdout.includes("host-notes.txt") && tree.stdout.includes("host-commit.txt") && existsSync(kept) && statSync(kept).size > 0;
    }, 30_000).catch((error: unknown) => {
      printLogs(sb);
      throw error;
    });
    // `autorun attach` reaches it there: without a terminal it says how to read the screen over ssh;
    // in a terminal (a pane of the person's own tmux) it is a client of the host's tmux.
    const noTty = await sb.cli(["attach", "part", "1"]);
    expect(noTty.code, noTty.stderr).toBe(2);
    expect(noTty.stderr).toMatch(/^autorun: attach needs a terminal; from a script, read stage 1's screen on host box1 with: ssh '-F' '\S+' 'box1' 'tmux' '-S' '\S+\/\.autorun\/tmux\/[^']+' 'capture-pane' '-p' '-t' '=part_stage-1:'$/m);
    const person = (...a: string[]) => execa("tmux", ["-L", `person-${process.pid}`, ...a], { env: sb.env, extendEnv: false, reject: false });
    try {
      expect((await person("new-session", "-d", "-s", "desk", "-x", "150", "-y", "40", "-c", sb.repo, join(ROOT, "dist", "bin", "autorun"), "attach", "part", "1")).exitCode).toBe(0);
      await waitFor("a client of the host's tmux on stage 1's session", async () => (await onHost('tmux -S "$1" list-clients -F "#{client_session}"', join(host.home, ".autorun", "tmux", sb.socket))).split("\n").includes("part_stage-1"), 20_000);
    } finally {
      await createTmux(`person-${process.pid}`).killServer();
    }

    const down = Date.now();
    await host.inNs(["ip", "link", "set", host.nsLink, "down"]);
    // Declared lost (its figure, ≤ 10 s, is bench/host-loss.mjs's to measure: on a loaded machine
    // this suite's neighbours make it late here, which says nothing of the mechanism).
    const lost = await waitFor("host_lost", () => of("session_dead", "1").find((e) => e.reason === "host_lost"), 30_000);
    console.log(`link down → session_dead host_lost: ${Date.parse(lost.ts as string) - down} ms`);
    const moved = await waitFor("stage 1 relaunched here", () => of("stage_relaunched", "1")[0], 40_000).catch((error: unknown) => {
      printLogs(sb);
      throw error;
    });
    expect(moved.host).toBeUndefined();
    console.log(`host_lost → relaunched here (1 s grace): ${Date.parse(moved.ts as string) - Date.parse(lost.ts as string)} ms`);
    // Its conversation goes on: --resume with the same session id, the transcript where claude looks
    // for it in the new worktree (the simulated agent names it in its SessionStart hook when it finds it there).
    expect(moved.session_id).toBe(sid);
    const resumed = await waitFor("stage 1 resumed here", () => of("session_started", "1").find((e) => e.host === undefined && e.source === "resume"), 20_000);
    const placed = join(claudeDir, "projects", worktree.replace(/[^A-Za-z0-9]/g, "-"), `${sid}.jsonl`);
    expect(resumed.transcript).toBe(placed);
    expect(readFileSync(placed, "utf8")).toBe(readFileSync(kept, "utf8"));
    // (There the simulated agent keeps it where claude would: the host user's ~/.claude/projects.)
    const onTheHost = join(host.home, ".claude", "projects", join(hostRoot, ".claude", "worktrees", basename(worktree)).replace(/[^A-Za-z0-9]/g, "-"), `${sid}.jsonl`);
    expect(readFileSync(onTheHost, "utf8").startsWith(readFileSync(kept, "utf8"))).toBe(true);
    await waitFor("stage 1 merged", () => of("merge_complete", "1")[0], 60_000);
    // The commit made there is merged; the file left uncommitted there was uncommitted here too (kept as a note).
    expect(await sb.git("show", "main:host-commit.txt")).toBe("from the host");
    expect((await sb.git("ls-tree", "--name-only", "main")).split("\n")).not.toContain("host-notes.txt");
    await waitFor("stage 1's notes kept at its cleanup", () => of("stage_files_kept", "1")[0], 20_000);
    expect(readFileSync(join(stagesDir, "stage-1-files", "host-notes.txt"), "utf8")).toBe("uncommitted on the host\n");
    // Stage 2 waits for its host, which comes back: its stale session of stage 1 is ended first.
    expect(of("stage_launched", "2")).toEqual([]);
    await host.inNs(["ip", "link", "set", host.nsLink, "up"]);
    expect(await ended(sb, "part")).toBe("completed");
    const events = sb.events("part");
    expect(events.find((e) => e.type === "stage_launched" && e.stage === "2")!.host).toBe("box1");
    // Nothing the host wrote for stage 1 after it moved was taken.
    const movedAt = events.findIndex((e) => e.type === "stage_relaunched" && e.stage === "1");
    // Its usage: the host's turns (100 input tokens each) read from the copy kept here before it
    // moved, and counted once although the conversation resumed here holds them again.
    expect(events.slice(0, movedAt).some((e) => e.type === "usage_recorded" && e.stage === "1" && e.transcript === kept)).toBe(true);
    const turns = readFileSync(placed, "utf8").split("\n").filter((l) => l.includes('"usage"')).length;
    expect(turns).toBeGreaterThan(0);
    const usage = events.filter((e) => e.type === "usage_recorded" && e.stage === "1").at(-1)!.usage as { input_tokens: number };
    expect(usage.input_tokens).toBe(100 * turns);
    expect(events.slice(movedAt).filter((e) => e.stage === "1" && e.host === "box1")).toEqual([]);
    const log = readdirSync(join(sb.home, "logs")).map((f) => readFileSync(join(sb.home, "logs", f), "utf8")).join("");
    expect(log).toMatch(/host box1: ended its stale session part_stage-1/);
    expect(log).toMatch(/stage 1: moved here from lost host box1 with its commits up to [0-9a-f]{10} and its uncommitted files and its conversation/);
    // Stage 2 ran on the host: its notes (its plan, its ignored state file) came back before its worktree there went.
    const notes = events.find((e) => e.type === "stage_files_kept" && e.stage === "2")!;
    expect(notes.plan_file).toBe(join(stagesDir, "stage-2-files", "thoughts", "plans", "stage-2.md"));
    expect(readFileSync(notes.plan_file as string, "utf8")).toMatch(/^# Stage 2 plan/);
    expect(existsSync(join(stagesDir, "stage-2-files", ".git-sim-state.json"))).toBe(true);
    // The copies kept here went with the merges.
    expect(await sb.git("for-each-ref", "refs/autorun/hosts/")).toBe("");
    const merges = (await sb.git("log", "--merges", "--format=%s", "main")).split("\n");
    expect(merges.sort()).toEqual(["autorun: merge stage 1: Moves", "autorun: merge stage 2: Pinned"]);
    await expectClean(sb, "part");
    await expectHostClean(host, sb.socket, join(host.home, "part", launchedSlug(events)));
  }, 240_000);
});

function printLogs(sb: Sandbox): void {
  const logs = join(sb.home, "logs");
  for (const f of existsSync(logs) ? readdirSync(logs) : []) console.log(readFileSync(join(logs, f), "utf8"));
}

/** How the run ended; the monitor's log printed when it did not complete. */
async function ended(sb: Sandbox, plan: string): Promise<string> {
  const end = await waitForEnd(sb, plan, 180_000).catch((e: Error) => e.message);
  if (end !== "completed") {
    const logs = join(sb.home, "logs");
    for (const f of existsSync(logs) ? readdirSync(logs) : []) console.log(readFileSync(join(logs, f), "utf8"));
  }
  return end;
}

/** The project's slug, from the run's first event. */
function launchedSlug(events: Record<string, unknown>[]): string {
  return events[0]!.project_slug as string;
}
