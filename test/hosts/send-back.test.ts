/**
 * A send-back to a stage on a host (a real sshd in a network namespace, its own Unix user, the
 * simulated agent and the built CLI): two stages write the same file, the one here merges first,
 * the one on the host conflicts and is told to rebase onto the base; the agent there rebases onto
 * the base it finds in its own repository (the controller's tip, pushed there), resolves, hands
 * over again, and its work merges here.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSandbox, ROOT, SIM, type Sandbox } from "../helpers/env.js";
import { eventsOf, expectClean, orchestrate, waitForEnd } from "../helpers/orch.js";
import { hostLaneSkip, makeTestHost, type TestHost } from "./fixture.js";

const skip = hostLaneSkip();
const AUTORUN = join(ROOT, "dist", "bin", "autorun");

describe.skipIf(skip)("a send-back to a stage on a host", () => {
  let host: TestHost;
  let sb: Sandbox | undefined;
  beforeAll(async () => {
    host = await makeTestHost({ name: "box2" });
  });
  afterAll(async () => {
    await sb?.cleanup();
    await host?.teardown();
  });

  it("a conflicting stage there is told to rebase, does so onto the base it has there, and merges", async () => {
    sb = await makeSandbox();
    // A slow link: every push there takes 3 s. The agent is told to rebase only once the base it is
    // told of has arrived; told sooner, it rebases onto the old base and conflicts again.
    const hooks = await host.asUser('mkdir -p "$1/hooks" && printf "#!/bin/sh\\nsleep 3\\n" > "$1/hooks/pre-receive" && chmod +x "$1/hooks/pre-receive" && git config --global core.hooksPath "$1/hooks"', host.home);
    expect(hooks.exitCode, hooks.stderr).toBe(0);
    const config = { hosts: { box2: { ssh: "box2", slots: 1, sshOptions: host.sshOptions, root: "work/{project}", env: ["AUTORUN_SIM_DELAY_MS"], autorun: AUTORUN, agentCommand: [process.execPath, SIM] } } };
    writeFileSync(join(sb.home, "config.json"), JSON.stringify(config));
    const plan = sb.writePlan("clash.md", "## Stage 1: Here\nsim: conflict\n## Stage 2: There\nHost: box2\nsim: conflict, slow\n");
    await orchestrate(sb, plan);
    const end = await waitForEnd(sb, "clash", 150_000).catch((e: Error) => e.message);
    if (end !== "completed") {
      const logs = join(sb.home, "logs");
      for (const f of existsSync(logs) ? readdirSync(logs) : []) console.log(readFileSync(join(logs, f), "utf8"));
    }
    expect(end).toBe("completed");
    const launched = Object.fromEntries(eventsOf(sb, "clash", "stage_launched").map((e) => [e.stage, e.host ?? "local"]));
    expect(launched).toEqual({ "1": "local", "2": "box2" });
    // Stage 1 merged first; stage 2, on the host, conflicted once and was sent back there.
    const conflicts = eventsOf(sb, "clash", "merge_conflict");
    expect(conflicts.map((e) => [e.stage, e.files])).toEqual([["2", ["CONFLICT.txt"]]]);
    expect(eventsOf(sb, "clash", "message_delivered", "2")).toHaveLength(1);
    const text = readFileSync(join(sb.repo, "CONFLICT.txt"), "utf8");
    expect(text).toContain("written by stage 1");
    expect(text).toContain("written by stage 2");
    // The rebased work: stage 2's branch merged on top of stage 1's.
    expect((await sb.git("log", "--merges", "--format=%s", "main")).split("\n")).toEqual(["autorun: merge stage 2: There", "autorun: merge stage 1: Here"]);
    await expectClean(sb, "clash");
  }, 200_000);
});
