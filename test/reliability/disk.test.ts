import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execa } from "execa";
import { makeSandbox, simAgentCmd, waitFor, type Sandbox } from "../helpers/env.js";
import { eventsOf, orchestrate, waitForEnd } from "../helpers/orch.js";
import { eventSchema } from "../../src/types/schemas.js";

let sb: Sandbox;
let mounted: string[] = [];
beforeEach(async () => {
  sb = await makeSandbox();
  mounted = [];
});
afterEach(async () => {
  for (const m of mounted) await execa("umount", ["-l", m], { reject: false });
  await sb.cleanup();
});

/** A directory on a file system of `kb` KiB (tmpfs, as root) — where root ignores file modes. */
async function smallDisk(name: string, kb: number): Promise<string | undefined> {
  const dir = join(sb.dir, name);
  mkdirSync(dir);
  const r = await execa("mount", ["-t", "tmpfs", "-o", `size=${kb}k`, "tmpfs", dir], { reject: false });
  if (r.exitCode !== 0) return undefined;
  mounted.push(dir);
  return dir;
}

const isRoot = process.getuid?.() === 0;

describe("a full or read-only AUTORUN_HOME", () => {
  it("read-only: a clear error, exit 1, nothing written, nothing launched", async (ctx) => {
    let home: string;
    if (isRoot) {
      const disk = await smallDisk("ro", 256);
      if (!disk) return ctx.skip("root cannot mount a tmpfs here");
      await execa("mount", ["-o", "remount,ro", disk]);
      home = join(disk, "home");
    } else {
      home = join(sb.dir, "ro-home");
      mkdirSync(home);
      chmodSync(home, 0o555);
    }
    const plan = sb.writePlan("p.md", "## Stage 1: A\n");
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simAgentCmd], { env: { AUTORUN_HOME: home } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/EROFS|EACCES/);
    expect(r.stderr).toContain("AUTORUN_HOME");
    expect((await sb.tmux("list-sessions")).code).not.toBe(0);
    expect(existsSync(join(home, "orchestration", "p", "events.jsonl"))).toBe(false);
  });

  it("events.jsonl that can no longer be written is shown by status, in the list and the run's own view", async (ctx) => {
    let home = join(sb.dir, "home-rw");
    let disk: string | undefined;
    if (isRoot) {
      disk = await smallDisk("rw", 2048);
      if (!disk) return ctx.skip("root cannot mount a tmpfs here");
      home = join(disk, "home");
    }
    const plan = sb.writePlan("p.md", "## Stage 1: A\n");
    const r = await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", JSON.stringify(["sleep", "600", "{stage}"])], { env: { AUTORUN_HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    const fine = await sb.cli(["status", "p"], { env: { AUTORUN_HOME: home } });
    expect(fine.stdout).not.toContain("cannot be written");
    if (disk) await execa("mount", ["-o", "remount,ro", disk]);
    else chmodSync(join(home, "orchestration", "p", "events.jsonl"), 0o400);
    const one = await sb.cli(["status", "p"], { env: { AUTORUN_HOME: home } });
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/events\.jsonl cannot be written: (EROFS|EACCES) .*nothing the monitor or the agents do is recorded/);
    const list = await sb.cli(["status"], { env: { AUTORUN_HOME: home } });
    expect(list.stdout).toMatch(/^p\s+running .*its events\.jsonl cannot be written/m);
    await sb.tmux("kill-server");
  });

  // A full disk needs a small file system of our own: tmpfs, mountable as root.
  it.skipIf(!isRoot)("full at the start: a clear error and no half-written orchestration", async (ctx) => {
    const disk = await smallDisk("full", 12);
    if (!disk) return ctx.skip("cannot mount a tmpfs here");
    const plan = sb.writePlan("p.md", Array.from({ length: 30 }, (_, i) => `## Stage ${i + 1}: ${"A long stage name ".repeat(10)}\n${"scope ".repeat(200)}\n`).join(""));
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simAgentCmd], { env: { AUTORUN_HOME: join(disk, "home") } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ENOSPC");
    expect(r.stderr).toContain("the disk is full");
    expect(existsSync(join(disk, "home", "orchestration", "p"))).toBe(false);
    expect((await sb.tmux("list-sessions")).code).not.toBe(0);
    // The worktrees made while the files were being written are gone again, with their branches.
    expect((await sb.git("worktree", "list", "--porcelain")).split("\n").filter((l) => l.startsWith("worktree "))).toHaveLength(1);
    expect(await sb.git("branch", "--list", "worktree-*")).toBe("");
  });

  it.skipIf(!isRoot)("full mid-run: an append fails whole, and every line of events.jsonl stays valid", async (ctx) => {
    const disk = await smallDisk("fills", 256);
    if (!disk) return ctx.skip("cannot mount a tmpfs here");
    const home = join(disk, "home");
    const plan = sb.writePlan("p.md", "## Stage 1: A\n## Stage 2: B\n");
    expect((await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", JSON.stringify(["sleep", "60", "{stage}"])], { env: { AUTORUN_HOME: home } })).code).toBe(0);
    // Fill the disk to the last few bytes.
    await execa("dd", ["if=/dev/zero", `of=${join(disk, "filler")}`, "bs=1k", "count=1024"], { reject: false });
    const events = join(home, "orchestration", "p", "events.jsonl");
    const before = readFileSync(events, "utf8");
    const r = await sb.cli(["event", "stage_idle", "--orch-dir", join(home, "orchestration", "p"), "--stage", "1", "source=hook", `reason=${"y".repeat(3000)}`], { env: { AUTORUN_HOME: home } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ENOSPC|disk is full/);
    const after = readFileSync(events, "utf8");
    expect(after).toBe(before);
    for (const line of after.split("\n").filter(Boolean)) expect(eventSchema.safeParse(JSON.parse(line)).success).toBe(true);
  });
});

describe("merging never touches the user's work", () => {
  it("an untracked file the merge would overwrite: refused, bytes unchanged, merged after it moves", async () => {
    const plan = sb.writePlan("untracked.md", "## Stage 1: A\nsim: slow\n");
    await orchestrate(sb, plan);
    mkdirSync(join(sb.repo, "sim"), { recursive: true });
    writeFileSync(join(sb.repo, "sim", "stage-1-part1.txt"), "the user's own file\n");
    const refused = await waitFor("a refused merge", () => eventsOf(sb, "untracked", "merge_conflict")[0], 60_000);
    expect(refused.reason).toBe("checkout_overlap");
    expect(refused.files).toEqual(["sim/stage-1-part1.txt"]);
    expect(readFileSync(join(sb.repo, "sim", "stage-1-part1.txt"), "utf8")).toBe("the user's own file\n");
    expect((await sb.git("status", "--porcelain")).split("\n").filter((l) => !l.includes("untracked.md"))).toEqual(["?? sim/"]);
    // The user moves their file away; the monitor's retry then merges.
    await execa("mv", [join(sb.repo, "sim"), join(sb.dir, "users-sim")]);
    expect(await waitForEnd(sb, "untracked")).toBe("completed");
  });
});
