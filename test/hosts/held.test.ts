/**
 * A host that cannot launch a stage once the run is under way (a real sshd in a network namespace,
 * its own Unix user, the simulated agent and the built CLI): its stage is held, said once in the
 * log and in `status`, and the run goes on here, including the stage launched beside it in the same batch.
 */
import { chownSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { holdsFor, makeSandbox, ROOT, SIM, waitFor, type Sandbox } from "../helpers/env.js";
import { eventsOf, orchestrate, statusOf, waitForEnd } from "../helpers/orch.js";
import { hostTmuxSocket } from "../../src/host/protocol.js";
import { hostLaneSkip, makeTestHost, untilAnswering, type TestHost } from "./fixture.js";

const skip = hostLaneSkip();
const AUTORUN = join(ROOT, "dist", "bin", "autorun");

describe.skipIf(skip)("a host that cannot launch", () => {
  let host: TestHost;
  let sb: Sandbox | undefined;
  beforeAll(async () => {
    host = await makeTestHost({ name: "box5" });
  });
  afterAll(async () => {
    await sb?.cleanup();
    await host?.teardown();
  });

  it("holds its stage with one log line while the stage launched beside it here runs and merges", async () => {
    sb = await makeSandbox();
    // The host's autorun, through a file of the host user's that the test later breaks.
    const wrapper = join(host.home, "autorun-here");
    const write = (text: string) => {
      writeFileSync(wrapper, text, { mode: 0o755 });
      chownSync(wrapper, statSync(host.home).uid, statSync(host.home).gid);
    };
    write(`#!/bin/sh\nexec "${AUTORUN}" "$@"\n`);
    const config = { hosts: { box5: { ssh: "box5", slots: 1, sshOptions: host.sshOptions, root: "work/{project}", autorun: wrapper, agentCommand: [process.execPath, SIM] } } };
    writeFileSync(join(sb.home, "config.json"), JSON.stringify(config));
    const plan = sb.writePlan("held.md", "## Stage 1: First\n\n## Stage 2: There\nHost: box5\nDepends on: 1\n\n## Stage 3: Here\nDepends on: 1\n");
    await orchestrate(sb, plan);
    // After the run's checks, before stage 1 merges: the host now has another autorun.
    write("#!/bin/sh\necho 0.0.9\n");
    await waitFor("stage 3 to merge", () => eventsOf(sb!, "held", "merge_complete", "3")[0], 90_000);
    const log = async () => (await sb!.cli(["logs", "held"])).stdout;
    const said = (text: string) => text.split("\n").filter((l) => l.includes("host box5: could not launch stage 2 there:"));
    await waitFor("the host's line", async () => said(await log()).length > 0);
    await holdsFor("one line, the monitor running", 3_000, async () => {
      const text = await log();
      return said(text).length === 1 && !text.includes("monitor pass failed") && !text.includes("monitor exiting");
    });
    expect(said(await log())[0]).toMatch(/autorun 0\.0\.9 there, 0\.1\.0 here; .*; no stage is placed there for 60 s \(one pinned there waits\), then it is tried again$/);
    expect(statusOf(sb, "held")?.stages["2"]?.status).toBe("pending");
    // Recorded once, and `status` says why stage 2 waits and what to do.
    expect(eventsOf(sb, "held", "host_launch_failed").map((e) => [e.host, e.stages])).toEqual([["box5", ["2"]]]);
    const shown = (await sb.cli(["status", "held"])).stdout;
    expect(shown).toMatch(/^host box5 could not launch stages for \d+ seconds? \(host box5 \(box5\): autorun 0\.0\.9 there, 0\.1\.0 here; [^)]*\): stage 2, pinned there, waits; autorun tries it again every minute\. Check it: autorun doctor$/m);
    expect(eventsOf(sb, "held", "stage_launched", "2")).toEqual([]);

    // The person fixes the host's entry (its autorun) and resumes. The running monitor keeps the
    // run's hosts, and resume says how to use the new ones: stopped and resumed, the run takes
    // them, and stage 2 launches there and merges.
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ hosts: { box5: { ...config.hosts.box5, autorun: AUTORUN } } }));
    const busy = await sb.cli(["resume", "held"]);
    expect(busy.code, busy.stderr).toBe(0);
    expect(busy.stderr).toMatch(/^autorun: warning: the hosts in your configuration differ from those held runs with; its monitor \(pid \d+\) goes on with the run's\. To use yours: autorun stop held, then autorun resume held$/m);
    expect((await sb.cli(["stop", "held"])).code).toBe(0);
    const resumed = await sb.cli(["resume", "held"]);
    expect(resumed.stderr).toBe("");
    expect(resumed.stdout).toContain("Run held now uses the hosts of your configuration (changed: box5).");
    expect(await waitForEnd(sb, "held", 90_000)).toBe("completed");
    expect(eventsOf(sb, "held", "stage_launched", "2")[0]?.host).toBe("box5");
    expect((await sb.cli(["status", "held"])).stdout).not.toContain("could not launch");
  }, 150_000);

  it("done and skip of stages there: done reads the branch from the host and refuses work the base lacks; both end the session there", async () => {
    await sb?.cleanup();
    sb = await makeSandbox();
    const config = { stallSeconds: 600, hosts: { box5: { ssh: "box5", slots: 2, sshOptions: host.sshOptions, root: "work/{project}", autorun: AUTORUN, agentCommand: [process.execPath, SIM] } } };
    writeFileSync(join(sb.home, "config.json"), JSON.stringify(config));
    await orchestrate(sb, sb.writePlan("fin.md", "## Stage 1: One\nHost: box5\nsim: stall\n\n## Stage 2: Two\nHost: box5\nsim: stall\n"));
    for (const id of ["1", "2"]) await waitFor(`stage ${id} idle`, () => eventsOf(sb!, "fin", "agent_stopped", id)[0], 60_000);
    const onHost = (script: string, ...args: string[]) => host.asUser(script, ...args);
    const worktree = join(host.home, "work", "fin", ".claude", "worktrees", "fin-stage-1");
    expect((await onHost('cd "$1" && echo kept > precious.txt && git add precious.txt && git -c user.name=t -c user.email=t@example.invalid commit -q -m precious', worktree)).exitCode).toBe(0);
    const alive = async (session: string) => (await onHost('tmux -S "$1" has-session -t "=$2"', hostTmuxSocket(join(host.home, ".autorun"), sb!.socket), session)).exitCode === 0;
    expect(await alive("fin_stage-1")).toBe(true);

    const refused = await sb.cli(["done", "fin", "1"]);
    expect(refused.code, refused.stdout + refused.stderr).toBe(2);
    expect(refused.stderr).toContain("stage 1's branch worktree-fin-stage-1 has 1 commit that main does not have; merge it first (git merge --no-ff worktree-fin-stage-1");
    // Fetched from the host: the person's own merge works, and done takes it. (The monitor, which
    // would find that merge by itself, is stopped first: done is what is tested here.)
    expect((await sb.cli(["stop", "fin"])).code).toBe(0);
    await sb.git("merge", "-q", "--no-ff", "-m", "by hand", "worktree-fin-stage-1");
    const done = await sb.cli(["done", "fin", "1"]);
    expect(done.stderr).toBe("");
    expect(done.code).toBe(0);
    expect(await alive("fin_stage-1")).toBe(false);

    // A host that does not answer: its sessions may still run there, so the stop says how to end
    // them and does not claim it did.
    await host.inNs(["ip", "link", "set", host.nsLink, "down"]);
    const cut = await sb.cli(["stop", "fin", "--sessions"], { timeout: 120_000 }).finally(() => host.inNs(["ip", "link", "set", host.nsLink, "up"]));
    expect(cut.code, cut.stdout + cut.stderr).toBe(1);
    expect(cut.stderr).toMatch(/^autorun: could not end the sessions there: host box5: .+; they may still be running\. Once the host answers, run: autorun stop fin --sessions$/m);
    expect(await alive("fin_stage-2")).toBe(true);

    await untilAnswering(host);
    const skipped = await sb.cli(["skip", "fin", "2"]);
    expect(skipped.stderr).toBe("");
    expect(skipped.code).toBe(0);
    expect(await alive("fin_stage-2")).toBe(false);
    expect((await sb.cli(["stop", "fin", "--sessions"])).code).toBe(0);
  }, 150_000);
});
