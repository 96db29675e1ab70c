/** The test host itself: reachable with its key only, listening on its own address only, gone after teardown. */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/env.js";
import { hostLaneSkip, makeTestHost, type TestHost } from "./fixture.js";

const skip = hostLaneSkip();
if (skip) console.log(`host lane skipped: ${skip}`);

describe.skipIf(skip)("test host fixture", () => {
  let host: TestHost;
  let madeMs = 0;
  beforeAll(async () => {
    const t0 = performance.now();
    host = await makeTestHost();
    madeMs = performance.now() - t0;
    console.log(`test host made in ${madeMs.toFixed(0)} ms (${JSON.stringify(host.timings)})`);
  });
  afterAll(async () => host?.teardown());

  const ssh = (args: string[], extra: string[] = []) => execa("ssh", [...host.sshOptions, "-o", "BatchMode=yes", ...extra, host.name, ...args], { reject: false, timeout: 10_000 });

  it("logs in as its own user with the test's key, the host key pinned", async () => {
    const r = await ssh(["id", "-un"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(host.user);
    expect(madeMs).toBeLessThan(3_000);
  });

  it("refuses passwords, and a key it was not given", async () => {
    const pw = await ssh(["true"], ["-o", "PreferredAuthentications=password,keyboard-interactive"]);
    expect(pw.exitCode).toBe(255);
    expect(pw.stderr).toMatch(/Permission denied/);
    const dir = mkdtempSync(join(tmpdir(), "autorun-key-"));
    try {
      await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "key")]);
      const args = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i", join(dir, "key"), "-o", `UserKnownHostsFile=${host.knownHosts}`, "-o", "StrictHostKeyChecking=yes"];
      const other = await execa("ssh", [...args, `${host.user}@${host.address}`, "true"], { reject: false, timeout: 10_000 });
      expect(other.exitCode).toBe(255);
      expect(other.stderr).toMatch(/Permission denied \(publickey\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("listens on the namespace's address only", async () => {
    const r = await host.inNs(["ss", "-Htln"]);
    const listening = r.stdout.split("\n").filter(Boolean).map((l) => l.trim().split(/\s+/)[3]);
    expect(listening).toEqual([`${host.address}:22`]);
  });
});

describe.skipIf(skip)("test host teardown", () => {
  it("removes the namespace, the veth pair, sshd, the user and the temp dirs; and what a killed run left", async () => {
    // A run killed before its teardown: its names carry a pid that is gone.
    const child = spawn("true");
    await once(child, "exit");
    const leftover = `arhost-${child.pid}-1`;
    await execa("ip", ["netns", "add", leftover]);
    await execa("useradd", ["-M", "-N", "-d", "/nonexistent", "-s", "/bin/sh", leftover]);
    const host = await makeTestHost().catch(async (error: unknown) => {
      await execa("ip", ["netns", "del", leftover], { reject: false });
      await execa("userdel", [leftover], { reject: false });
      throw error;
    });
    expect((await execa("ip", ["netns", "list"])).stdout).not.toContain(leftover);
    expect((await execa("id", [leftover], { reject: false })).exitCode).not.toBe(0);
    // A session of the user holding a temp dir when teardown SIGKILLs it: the dir goes too.
    const session = execa("ssh", [...host.sshOptions, "-o", "BatchMode=yes", host.name, 'd=$(mktemp -d) && echo "$d" && exec sleep 60'], { reject: false });
    let temp = "";
    session.stdout!.on("data", (b: Buffer) => (temp += b.toString()));
    await waitFor("the session's temp dir", () => temp.includes("\n"), 10_000);
    expect(existsSync(temp.trim())).toBe(true);
    const pids = await host.pids();
    expect(pids.length).toBeGreaterThan(0);
    await host.teardown();
    await session;
    expect(existsSync(temp.trim())).toBe(false);
    expect((await execa("ip", ["netns", "list"])).stdout).not.toContain(host.netns);
    expect((await execa("ip", ["-o", "link"])).stdout).not.toContain(host.nsLink.replace(/^arn/, "arh"));
    expect((await execa("id", [host.user], { reject: false })).exitCode).not.toBe(0);
    expect(existsSync(host.home)).toBe(false);
    // (The session's processes were the killed sshd's: whoever inherits them reaps them a moment later.)
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor("every process of the host to be gone", () => !pids.some(alive), 5_000);
    expect((await execa("ip", ["-4", "-o", "addr"])).stdout).not.toContain(host.peer);
  });
});
