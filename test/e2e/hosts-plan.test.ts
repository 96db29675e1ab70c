/** Host: and Needs: through the built CLI: an unknown host or label is refused, exit 2, nothing written. */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSandbox, type Sandbox } from "../helpers/env.js";

let sb: Sandbox;
beforeAll(async () => {
  sb = await makeSandbox();
  writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ hosts: { box1: { ssh: "box1", slots: 2, labels: ["gpu"] } } }));
});
afterAll(async () => sb.cleanup());

describe("plans naming hosts", () => {
  it.each([
    ["## Stage 1: A\nHost: box9\n", "plan.md:4: stage 1: host box9 is not configured (known: local, box1); fix the name or add it under hosts in autorun.config.json."],
    ["## Stage 1: A\nNeeds: tpu\n", "plan.md:4: stage 1: no host with slots has tpu (labels: gpu)"],
    ["## Stage 1: A\nHost: box1\nNeeds: tpu\n", "plan.md:4: stage 1: host box1 does not have tpu, which the stage needs; add the label to the host or pin another host."],
  ])("refuses %j: one line, exit 2, nothing written", async (body, message) => {
    const plan = sb.writePlan("plan.md", `# Plan\n\n${body}`);
    for (const args of [["orchestrate", plan, "--dry-run"], ["orchestrate", plan]]) {
      const r = await sb.cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr.startsWith(`autorun: ${message}`)).toBe(true);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(existsSync(join(sb.home, "orchestration"))).toBe(false);
    }
  });

  it("the dry run names the host each stage is pinned to and the labels it needs", async () => {
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ agentCommand: ["true"], hosts: { local: { labels: ["gpu", "big"] } } }));
    const plan = sb.writePlan("plan.md", "# Plan\n\n## Stage 1: A\nHost: local\n\n## Stage 2: B\nNeeds: gpu, big\nModel: sonnet\n");
    const r = await sb.cli(["orchestrate", plan, "--dry-run"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("\n  on host local\n");
    expect(r.stdout).toContain("\n  model sonnet · needs a host labelled gpu and big\n");
  });

  it("a bad hosts entry in the configuration is refused the same way", async () => {
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ hosts: { box1: { slots: 2 } } }));
    const plan = sb.writePlan("plan.md", "# Plan\n\n## Stage 1: A\n");
    const r = await sb.cli(["orchestrate", plan, "--dry-run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^autorun: \S+autorun\.config\.json: hosts\.box1\.ssh: missing: the destination as you would type it to ssh/);
    // A variable the host has its own of: this machine's PATH would replace the host's in its sessions.
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ hosts: { box1: { ssh: "box1", slots: 2, env: ["API_KEY", "PATH"] } } }));
    const path = await sb.cli(["orchestrate", plan, "--dry-run"]);
    expect(path.code).toBe(2);
    expect(path.stderr).toMatch(/^autorun: \S+autorun\.config\.json: hosts\.box1\.env\.1: "PATH" is the host's own or set by autorun for each session .*; leave it out/);
    expect(existsSync(join(sb.home, "orchestration"))).toBe(false);
  });
});
