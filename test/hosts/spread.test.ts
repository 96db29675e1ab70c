/**
 * A plan spread over two hosts and this machine (two real sshd hosts in network namespaces, each
 * its own Unix user; the simulated agent and the built CLI): a stage pinned to each host and one
 * here that waits for both. Each runs where it is pinned, reports its phases from there (tagged
 * with its host), is merged here, and leaves nothing on its host.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSandbox, ROOT, SIM, type Sandbox } from "../helpers/env.js";
import { expectClean, orchestrate, waitForEnd } from "../helpers/orch.js";
import { hostLaneSkip, makeTestHost, type TestHost } from "./fixture.js";
import { expectHostClean } from "./host-checks.js";

const skip = hostLaneSkip();
const AUTORUN = join(ROOT, "dist", "bin", "autorun");

describe.skipIf(skip)("a plan over two hosts and this machine", () => {
  let hosts: TestHost[] = [];
  let sb: Sandbox | undefined;
  beforeAll(async () => {
    hosts = await Promise.all([makeTestHost({ name: "box6" }), makeTestHost({ name: "box7" })]);
  });
  afterAll(async () => {
    await sb?.cleanup();
    for (const host of hosts) await host.teardown();
  });

  it("runs each stage where it is pinned, merges every one here, and leaves nothing on either host", async () => {
    sb = await makeSandbox();
    const entry = (h: TestHost) => ({ ssh: h.name, slots: 1, sshOptions: h.sshOptions, root: "spread/{project}", autorun: AUTORUN, agentCommand: [process.execPath, SIM], env: ["AUTORUN_SIM_PHASES"] });
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ hosts: { box6: entry(hosts[0]!), box7: entry(hosts[1]!) } }));
    sb.env.AUTORUN_SIM_PHASES = "all";
    const plan = sb.writePlan("spread.md", "# Spread\n## Stage 1: West\nHost: box6\n## Stage 2: East\nHost: box7\n## Stage 3: Join\nDepends on: 1, 2\nHost: local\n");
    await sb.git("add", "spread.md");
    await sb.git("commit", "-qm", "plan");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "spread", 120_000)).toBe("completed");

    const merges = (await sb.git("log", "--merges", "--format=%s", "main")).split("\n").sort();
    expect(merges).toEqual(["autorun: merge stage 1: West", "autorun: merge stage 2: East", "autorun: merge stage 3: Join"]);
    const events = sb.events("spread");
    const where = Object.fromEntries(events.filter((e) => e.type === "stage_launched").map((e) => [e.stage, e.host ?? "local"]));
    expect(where).toEqual({ "1": "box6", "2": "box7", "3": "local" });
    // Each stage's phases came from where it ran, a host's tagged with it.
    for (const id of ["1", "2", "3"]) {
      const from = new Set(events.filter((e) => e.type === "phase_status" && e.stage === id).map((e) => e.host ?? "local"));
      expect(from).toEqual(new Set([where[id]]));
    }
    await expectClean(sb, "spread");
    // Nothing of the run's stages on either host: no session, no worktree but the root's, no stage branch.
    const slug = String(events[0]!.project_slug);
    for (const host of hosts) await expectHostClean(host, sb.socket, join(host.home, "spread", slug));
  }, 180_000);
});
