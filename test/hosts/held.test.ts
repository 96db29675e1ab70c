/**
 * A host that cannot launch a stage once the run is under way (a real sshd in a network namespace,
 * its own Unix user, the simulated agent and the built CLI): its stage is held, said once in the
 * log, and the run goes on here, including the stage launched beside it in the same batch.
 */
import { chownSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { holdsFor, makeSandbox, ROOT, SIM, waitFor, type Sandbox } from "../helpers/env.js";
import { eventsOf, orchestrate, statusOf } from "../helpers/orch.js";
import { hostLaneSkip, makeTestHost, type TestHost } from "./fixture.js";

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
    expect(eventsOf(sb, "held", "stage_launched", "2")).toEqual([]);
    expect((await sb.cli(["stop", "held", "--sessions"])).code).toBe(0);
  }, 150_000);
});
