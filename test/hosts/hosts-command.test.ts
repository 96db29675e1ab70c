/** `autorun hosts` and doctor's host checks, the built CLI against a real sshd host. */
import { accessSync, chmodSync, chownSync, constants, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSandbox, ROOT, type Sandbox } from "../helpers/env.js";
import { controlPath } from "../../src/adapters/ssh.js";
import { sandboxAvailable } from "../../src/adapters/agent.js";
import { findExecutable } from "../../src/adapters/process.js";
import { hostLaneSkip, makeTestHost, type TestHost } from "./fixture.js";

const skip = hostLaneSkip();
if (skip) console.log(`host lane skipped: ${skip}`);

/** Whether a user other than root can run `file` (every directory above it searchable by others). */
function othersCanRun(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    for (let d = dirname(file); d !== "/"; d = dirname(d)) if ((statSync(d).mode & 0o001) === 0) return false;
    return (statSync(file).mode & 0o005) === 0o005;
  } catch {
    return false;
  }
}

describe.skipIf(skip)("autorun hosts", () => {
  let host: TestHost;
  let sb: Sandbox;
  const autorun = join(ROOT, "dist", "src", "cli.js");
  const claude = join(ROOT, "node_modules", ".bin", "claude");
  beforeAll(async () => {
    [host, sb] = await Promise.all([makeTestHost({ name: "box1" }), makeSandbox({ repo: false })]);
    const old = join(host.home, "old-autorun");
    writeFileSync(old, "#!/bin/sh\necho 0.0.9\n");
    chmodSync(old, 0o755);
    chownSync(old, statSync(host.home).uid, statSync(host.home).gid);
    const broadcast = host.address.replace(/\d+$/, (d) => String(Number(d) + 1));
    // The real claude's version is read on box1 only: each `claude --version` costs seconds on a busy machine.
    const config = {
      maxParallel: 4,
      agentCommand: ["git"],
      sshOptions: host.sshOptions,
      hosts: {
        box1: { ssh: "box1", slots: 3, labels: ["gpu"], autorun: autorun, agentCommand: [claude], root: "work/proj" },
        old: { ssh: "box1", slots: 1, autorun: old },
        gone: { ssh: `${host.user}@${broadcast}`, slots: 2, sshOptions: ["-o", "ConnectTimeout=2", "-o", "ServerAliveCountMax 3"] },
      },
    };
    writeFileSync(join(sb.home, "config.json"), JSON.stringify(config));
  });
  afterAll(async () => {
    await sb?.cleanup();
    await host?.teardown();
  });

  it("lists every host: reachable or not and why, versions there over the shared connection, slots", async () => {
    const t0 = performance.now();
    const r = await sb.cli(["hosts", "--json"], { cwd: sb.dir });
    const firstMs = performance.now() - t0;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    const rows = JSON.parse(r.stdout) as { name: string; ssh: string | null; slots: number; in_use: number; labels: string[]; reachable: boolean; error?: string; versions: Record<string, string | null>; sandbox_lacks: string[] }[];
    expect(rows.map((h) => [h.name, h.ssh, h.slots, h.in_use, h.labels, h.reachable])).toEqual([
      ["local", null, 4, 0, [], true],
      ["box1", "box1", 3, 0, ["gpu"], true],
      ["old", "box1", 1, 0, [], true],
      ["gone", `${host.user}@${host.address.replace(/\d+$/, (d) => String(Number(d) + 1))}`, 2, 0, [], false],
    ]);
    const box1 = rows[1]!;
    expect(box1.versions.tmux).toBe((await execa("tmux", ["-V"])).stdout);
    expect(box1.versions.git).toBe((await execa("git", ["--version"])).stdout);
    // What Claude Code's Bash sandbox needs there: the host is this machine's filesystem.
    expect(box1.sandbox_lacks).toEqual(sandboxAvailable((p) => findExecutable(p)).missing);
    if (othersCanRun(autorun) && othersCanRun(claude)) {
      expect(box1.versions.autorun).toBe("0.1.0");
      expect(box1.versions.agent).toMatch(/^\d+\.\d+\.\d+ \(Claude Code\)$/);
    } else console.log("the host's user cannot read this checkout: autorun/claude versions there not checked");
    expect(rows[2]!.versions.autorun).toBe("0.0.9");
    expect(rows[3]!.error).toMatch(/ssh|connect|Network|unreachable|Permission|timed out/i);
    // The connection stays shared for the next command: its socket under AUTORUN_HOME.
    const target = { name: "box1", destination: "box1", options: host.sshOptions };
    expect(statSync(controlPath(sb.home, target)).isSocket()).toBe(true);
    const t1 = performance.now();
    const again = await sb.cli(["hosts"], { cwd: sb.dir });
    const secondMs = performance.now() - t1;
    console.log(`autorun hosts: ${firstMs.toFixed(0)} ms with new connections, ${secondMs.toFixed(0)} ms through them`);
    expect(again.stdout.split("\n")[0]).toMatch(/^HOST\s+SSH\s+SLOTS\s+LABELS\s+REACHABLE\s+AUTORUN\s+TMUX\s+GIT\s+AGENT$/);
    expect(again.stdout).toMatch(/^box1\s+box1\s+0\/3\s+gpu\s+yes \(\d+ ms\)/m);
    expect(again.stdout).toMatch(/^gone\s+\S+\s+0\/2\s+-\s+no\s+-\s+-/m);
    expect(again.stdout).toMatch(/^gone: .+/m);
  });

  it("doctor checks each host: reachable with keys alone, the same autorun, the tools there", async () => {
    const r = await sb.cli(["doctor"], { cwd: sb.dir });
    // The command to try, quoted as a shell needs it (an option with a space in it).
    expect(r.stdout).toMatch(/^✗ host gone \(\S+\) is not reachable: .+; check that `ssh .*-o ConnectTimeout=2 -o 'ServerAliveCountMax 3' \S+ true` works with keys alone/m);
    expect(r.stdout).toMatch(/^✗ host old \(box1\): autorun 0\.0\.9 there, 0\.1\.0 here; install the same version on both$/m);
    if (othersCanRun(autorun) && othersCanRun(claude)) expect(r.stdout).toMatch(/^✓ host box1 \(box1\): reachable in \d+ ms; autorun 0\.1\.0, tmux \S+, git version \S+, \S*claude \d/m);
    const lacks = sandboxAvailable((p) => findExecutable(p)).missing;
    if (othersCanRun(autorun) && othersCanRun(claude)) expect(r.stdout.includes("host box1 (box1): Claude Code's Bash sandbox is not available there")).toBe(lacks.length > 0);
    expect(r.code).toBe(1);
  });

  it("a new run, and its dry run, are refused while a host with slots could not run a stage: exit 2, nothing written", async () => {
    const repo = join(sb.dir, "proj");
    mkdirSync(repo);
    for (const args of [["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "init"]]) await execa("git", ["-C", repo, ...args], { env: sb.env });
    writeFileSync(join(repo, "plan.md"), "## Stage 1: A\n");
    const dry = await sb.cli(["orchestrate", "plan.md", "--dry-run"], { cwd: repo });
    expect(dry.code).toBe(2);
    expect(dry.stderr).toMatch(/^autorun: the run would refuse: host gone \(\S+\) is not reachable: .+ \(or leave the host out: hosts\.gone\.slots 0\)$/m);
    expect(dry.stderr).toMatch(/^autorun: the run would refuse: host old \(box1\): autorun 0\.0\.9 there, 0\.1\.0 here; install the same version on both \(or leave the host out: hosts\.old\.slots 0\)$/m);
    const real = await sb.cli(["orchestrate", "plan.md"], { cwd: repo });
    expect(real.code).toBe(2);
    expect(real.stderr.trim().split("\n")).toHaveLength(1);
    expect(real.stderr).toMatch(/^autorun: host (gone|old) .*; .*\(and 1 more; autorun orchestrate <plan> --dry-run lists every one\)\.$/);
    expect(existsSync(join(sb.home, "orchestration"))).toBe(false);
  });

  it("doctor reads Claude Code's trust of the root on a host, and makes nothing there", async () => {
    if (!(othersCanRun(autorun) && othersCanRun(claude))) return void console.log("the host's user cannot read this checkout: trust there not checked");
    const root = join(host.home, "work", "proj");
    const trust = (projects: Record<string, unknown>) => {
      const file = join(host.home, ".claude.json");
      writeFileSync(file, JSON.stringify({ projects }));
      chownSync(file, statSync(host.home).uid, statSync(host.home).gid);
    };
    const line = async () => (await sb.cli(["doctor"], { cwd: sb.dir })).stdout.split("\n").filter((l) => l.includes("host box1") && l.includes(root));
    expect(await line()).toEqual([expect.stringMatching(/could not tell whether Claude Code trusts .* \(no readable ~\/\.claude\.json\)/)]);
    trust({ [join(host.home, "elsewhere")]: { hasTrustDialogAccepted: true } });
    expect(await line()).toEqual([`✗ host box1 (box1): Claude Code has not been trusted in ${root} there, and claude --worktree exits without it; on box1, run claude in ${root} once and accept "Yes, I trust this folder"`]);
    // A folder above the root, trusted, covers it (as Claude Code reads it).
    trust({ [join(host.home, "work")]: { hasTrustDialogAccepted: true } });
    expect(await line()).toEqual([`✓ host box1 (box1): Claude Code trusts ${root} there`]);
    expect(existsSync(root)).toBe(false);
  });
});
