/**
 * A partition under the real Claude Code: a stage whose claude runs on a host (a network namespace
 * with its own sshd and Unix user, test/hosts/fixture.ts) is mid-work when the host's link goes
 * down; it is declared lost, moved here with its commit and its conversation, resumed by this
 * machine's claude (`--resume`, the same session), finishes its steps, is merged, and the run
 * completes. Both claudes talk to the scripted stand-in, which listens on this machine's end of the
 * host's /30 (inside the namespace 127.0.0.1 is the namespace's own loopback). The simulated
 * agent's version of this is in test/hosts/run.test.ts. And a host whose claude is another version
 * than this machine's takes the permission mode this machine's claude was asked about.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { ROOT, waitFor, type Sandbox } from "../helpers/env.js";
import { it } from "../helpers/fixture.js";
import { eventsOf, expectClean, waitForEnd } from "../helpers/orch.js";
import { claudeEnv, claudeHome, stageSteps, startApi, stepDone, type Block, type Call, type ClaudeUnderTest, type Script } from "../helpers/claude-api.js";
import { hostLaneSkip, makeTestHost, untilAnswering, type TestHost } from "../hosts/fixture.js";
import { planNameFromPath, projectSlug } from "../../src/core/slug.js";
import { CLAUDES, nextStep, orchestrateWithClaude } from "./harness.js";

const AUTORUN = join(ROOT, "dist", "bin", "autorun");

// The partition on the newest pinned Claude Code only: resuming a conversation after its claude
// died runs on every pinned version in runs.test.ts (a SIGKILL), and a run with a host is long
// enough to run once. The oldest runs on the host beside the newest here.
const NEWEST = CLAUDES.at(-1);
const OLDEST = CLAUDES.length > 1 ? CLAUDES[0] : undefined;
const skip = hostLaneSkip() ?? (NEWEST ? undefined : "no pinned Claude Code installed");
if (skip) console.log(`host partition with the real Claude Code skipped: ${skip}`);

/** What the host's claude needs from this machine's environment: the stand-in, the key, no traffic elsewhere, a git identity. */
const HOST_ENV = [
  "ANTHROPIC_BASE_URL",
  "ANTHROPIC_API_KEY",
  "DISABLE_AUTOUPDATER",
  "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
  "DISABLE_TELEMETRY",
  "GIT_AUTHOR_NAME",
  "GIT_AUTHOR_EMAIL",
  "GIT_COMMITTER_NAME",
  "GIT_COMMITTER_EMAIL",
];

/** The second report of stage 1, after its commit: the host's work is kept here at it. */
const SECOND_PART: Block = { bash: "autorun phase implement start --current 2 --total 2", description: "Report the second part" };

/** Stage 1's steps: the workflow of the templates with a second phase report before the hand-over. */
function steps(call: Call): Block[] {
  const [start, write, add, commit, done] = stageSteps(call) as [Block, Block, Block, Block, Block];
  return [start, write, add, commit, SECOND_PART, done];
}

/**
 * The host user's HOME as after Claude Code's first run there (onboarding done, the key approved,
 * the host's root trusted), owned by that user: its claude reads no ~/.claude of ours.
 */
async function seedHostHome(host: TestHost, seedDir: string, root: string): Promise<void> {
  const seeded = claudeHome(seedDir, [root]);
  copyFileSync(join(seeded, ".claude.json"), join(host.home, ".claude.json"));
  mkdirSync(join(host.home, ".claude"), { recursive: true });
  await execa("chown", ["-R", `${host.user}:`, join(host.home, ".claude.json"), join(host.home, ".claude")]);
}

/** A call from a claude autorun relaunched with `--resume` (its prompt says so). */
const restarted = (call: Call) => call.userTexts.some((t) => t.includes("you were restarted"));

/**
 * A script for the stand-in: each stage's steps in order, except that stage 1's first claude (the
 * one on the host), once it reported its second part, gets no answer until `held` settles: it is
 * mid-work when its host's link goes down, and the answer then goes nowhere. The claude resumed
 * here carries on.
 */
function holdFirst(held: Promise<void>): Script {
  return async (call) => {
    const all = steps(call);
    if (!restarted(call) && stepDone(call, SECOND_PART)) {
      await held;
      return { blocks: [{ text: "…" }], done: true };
    }
    return nextStep(call, all);
  };
}

/** The plan (committed) and its run's configuration: stage 1 goes to the host, the one with the most free slots. */
async function setUp(sb: Sandbox, host: TestHost, cc: ClaudeUnderTest): Promise<{ plan: string; hostRoot: string }> {
  const plan = sb.writePlan("part.md", "# Part\n## Stage 1: Moves\n");
  await sb.git("add", "part.md");
  await sb.git("commit", "-qm", "plan");
  const hostRoot = join(host.home, "cc", projectSlug(planNameFromPath(plan)));
  // Claude Code's Bash sandbox stays on, there as here (the host has bwrap and socat).
  const box1 = { ssh: "box1", slots: 2, sshOptions: host.sshOptions, root: "cc/{project}", env: HOST_ENV, autorun: AUTORUN, agentCommand: [cc.bin] };
  writeFileSync(join(sb.home, "config.json"), JSON.stringify({ hostGraceSeconds: 1, hosts: { local: { slots: 1 }, box1 } }));
  await seedHostHome(host, join(sb.dir, "host-seed"), hostRoot);
  // The host's user runs the pinned claude from this checkout, with the HOME just seeded.
  const version = await host.asUser('"$1" --version', cc.bin);
  expect(version.stdout, version.stderr).toContain(`${cc.version} (Claude Code)`);
  return { plan, hostRoot };
}

describe.skipIf(skip)(`a host under the real Claude Code ${NEWEST?.version ?? ""}`, () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await makeTestHost({ name: "box1" });
  });
  afterAll(async () => {
    await host?.teardown();
  });

  it("whose link goes down: the stage there is declared lost, resumed here with its commit and conversation, merged; the run completes", async ({ sb }) => {
    const cc = NEWEST!;
    const { plan, hostRoot } = await setUp(sb, host, cc);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    // On this machine's end of the host's /30: both claudes reach it, and nothing else.
    const api = await startApi(holdFirst(held), host.peer);
    try {
      Object.assign(sb.env, claudeEnv(claudeHome(sb.dir, [sb.repo]), api));
      await orchestrateWithClaude(sb, cc, plan);
      const of = (type: string) => eventsOf(sb, "part", type, "1");

      // Stage 1 runs there, commits, and reports its second part; the commit and the conversation
      // up to that report are kept here before the link goes down.
      const launched = await waitFor("stage 1 launched", () => of("stage_launched")[0], 60_000);
      expect(launched.host).toBe("box1");
      expect(hostRoot).toBe(join(host.home, "cc", String(launched.project_slug)));
      const sid = String(launched.session_id);
      await waitFor("stage 1's claude there waiting for its answer", () => api.calls.some((c) => !restarted(c) && stepDone(c, SECOND_PART)), 90_000);
      const kept = join(sb.home, "orchestration", "part", "stages", "stage-1-transcripts", `${sid}.jsonl`);
      await waitFor("the host's work kept here", async () => {
        const tree = await execa("git", ["-C", sb.repo, "ls-tree", "-r", "--name-only", "refs/autorun/hosts/box1/part/1"], { reject: false });
        return tree.exitCode === 0 && tree.stdout.split("\n").includes("stage-1.txt") && existsSync(kept) && readFileSync(kept, "utf8").includes(SECOND_PART.bash);
      }, 30_000);

      expect((await host.inNs(["ip", "link", "set", host.nsLink, "down"])).exitCode).toBe(0);
      release();
      await waitFor("host_lost", () => of("session_dead").find((e) => e.reason === "host_lost"), 60_000);
      const moved = await waitFor("stage 1 relaunched here", () => of("stage_relaunched")[0], 60_000);
      expect(moved.host).toBeUndefined();
      expect(moved.session_id).toBe(sid);
      await waitFor("stage 1 resumed here", () => of("session_started").find((e) => e.host === undefined && e.source === "resume"), 60_000);

      expect(await waitForEnd(sb, "part", 150_000)).toBe("completed");
      expect(await sb.git("show", "main:stage-1.txt")).toBe("work of stage 1");
      // The claude here went on with the same conversation: its first prompt (the /autorun:start
      // the host's claude got) and the commit made there are in it.
      const resumed = api.calls.filter((c) => c.stage === "1" && restarted(c));
      expect(resumed.length).toBeGreaterThan(0);
      expect(resumed[0]!.userTexts[0]).toContain("/autorun:start");
      expect(resumed[0]!.tools.some((t) => t.input.command === 'git commit -m "stage 1: work"' && t.result !== undefined)).toBe(true);
      // That commit is the one merged: it came with the stage, nothing redid it here.
      expect((await sb.git("log", "--format=%s", "main")).split("\n").filter((s) => s === "stage 1: work")).toHaveLength(1);
      const log = readFileSync(join(sb.home, "logs", "part-monitor.log"), "utf8");
      expect(log).toMatch(/stage 1: moved here from lost host box1 with its commits up to [0-9a-f]{10}.* and its conversation/);
      expect(eventsOf(sb, "part", "merge_complete", "1")).toHaveLength(1);
      // The copies kept here went with the merge.
      expect(await sb.git("for-each-ref", "refs/autorun/hosts/")).toBe("");
      await expectClean(sb, "part");
    } finally {
      release();
      await api.close();
      await host.inNs(["ip", "link", "set", host.nsLink, "up"]);
    }
  }, 300_000);

  it.skipIf(!OLDEST)("permissionMode manual from the newest claude here starts the oldest claude on the host, which refuses the name manual", async ({ sb }) => {
    // Whatever ran before (a link taken down and back up), the host answers.
    await untilAnswering(host);
    const plan = sb.writePlan("mixed.md", "# Mixed\n## Stage 1: There\n");
    await sb.git("add", "mixed.md");
    await sb.git("commit", "-qm", "plan");
    const hostRoot = join(host.home, "cc", projectSlug(planNameFromPath(plan)));
    const box1 = { ssh: "box1", slots: 1, sshOptions: host.sshOptions, root: "cc/{project}", env: HOST_ENV, autorun: AUTORUN, agentCommand: [OLDEST!.bin] };
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ hosts: { local: { slots: 0 }, box1 } }));
    await seedHostHome(host, join(sb.dir, "host-seed"), hostRoot);
    const api = await startApi(() => ({ blocks: [{ text: "Waiting here." }], done: true }), host.peer);
    try {
      Object.assign(sb.env, claudeEnv(claudeHome(sb.dir, [sb.repo]), api));
      await orchestrateWithClaude(sb, NEWEST!, plan, ["--permission-mode", "manual", "--stall-seconds", "600"]);
      const settings = JSON.parse(readFileSync(join(sb.home, "orchestration", "mixed", "settings.json"), "utf8")) as { permissionMode: string };
      expect(settings.permissionMode).toBe("default");
      const launched = await waitFor("stage 1 launched", () => eventsOf(sb, "mixed", "stage_launched", "1")[0], 60_000);
      expect(launched.host).toBe("box1");
      // The host's claude took the mode: it started and asked the API, and its session lives on.
      await waitFor("the host's claude asking the API", () => api.calls.length > 0, 90_000);
      expect(eventsOf(sb, "mixed", "session_dead", "1")).toEqual([]);
      const stopped = await sb.cli(["stop", "mixed", "--sessions"]);
      expect(stopped.code, stopped.stderr).toBe(0);
    } finally {
      await api.close();
    }
  }, 180_000);
});
