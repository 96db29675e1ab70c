/** The ssh adapter against a real sshd: the shared connection, deadlines on a stuck or dead master, quoting. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkMaster, closeMaster, controlPath, masterPids, runScript, type SshSettings, type SshTarget } from "../../src/adapters/ssh.js";
import { ToolError } from "../../src/errors.js";
import { hostLaneSkip, makeTestHost, type TestHost } from "./fixture.js";

/** Alive and not a zombie (an ended master waits for its reaper a moment). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]$/.test(stat.charAt(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

const skip = hostLaneSkip();
if (skip) console.log(`host lane skipped: ${skip}`);

describe.skipIf(skip)("ssh to a host", () => {
  let host: TestHost;
  let dir: string;
  let s: SshSettings;
  let target: SshTarget;
  beforeAll(async () => {
    host = await makeTestHost({ name: "box1" });
    dir = mkdtempSync(join(tmpdir(), "autorun-ssh-"));
    s = { home: join(dir, "home"), connectTimeoutS: 3 };
    target = { name: "box1", destination: "box1", options: host.sshOptions };
  });
  afterAll(async () => {
    if (target) await closeMaster(s, target).catch(() => undefined);
    for (const pid of dir ? masterPids(controlPath(s.home, target)) : []) process.kill(pid, "SIGKILL");
    await host?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const masterPid = async () => {
    const m = await checkMaster(s, target);
    if (m.state !== "running") throw new Error(`no master: ${m.state}`);
    return m.pid;
  };

  it("shares one connection: the first call makes the master, the next ones go through it", async () => {
    const t0 = performance.now();
    const first = await runScript(s, target, 'id -un; printf "%s\\n" "$#"');
    const firstMs = performance.now() - t0;
    expect(first).toMatchObject({ ok: true, stdout: `${host.user}\n0` });
    const path = controlPath(s.home, target);
    expect(path.startsWith(join(s.home, "ssh") + "/")).toBe(true);
    expect(existsSync(path)).toBe(true);
    const pid = await masterPid();
    const t1 = performance.now();
    const second = await runScript(s, target, "echo again");
    const secondMs = performance.now() - t1;
    expect(second.stdout).toBe("again");
    expect(await masterPid()).toBe(pid);
    console.log(`new connection ${firstMs.toFixed(0)} ms, through the master ${secondMs.toFixed(0)} ms`);
    expect(secondMs).toBeLessThan(firstMs);
  });

  it("round-trips names and data with ; $ quotes spaces # exactly (nothing reaches a shell unquoted)", async () => {
    const dirName = `a dir; $HOME "q" 'sq' #not-a-comment $(touch pwned) \`touch pwned2\``;
    const fileName = `-f name;rm -rf x$USER*?[a] & | > < \\ \n second line`;
    const content = `line one $PATH 'x' "y" # z\n\ttab; $(date) \`id\` \\n end`;
    const script = 'mkdir -p -- "$1" && printf "%s" "$3" > "$1/$2" && cat -- "$1/$2" && printf "\\n%s\\n" "$#" && ls -A -- "$1"';
    const r = await runScript(s, target, script, { args: [dirName, fileName, content] });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`${content}\n3\n${fileName}`);
    expect(readFileSync(join(host.home, dirName, fileName), "utf8")).toBe(content);
    expect(existsSync(join(host.home, "pwned"))).toBe(false);
    expect(existsSync(join(host.home, "pwned2"))).toBe(false);
  });

  it("a stopped master costs one deadline; it is ended and the next call makes a new one", async () => {
    await runScript(s, target, "true");
    const stuck = await masterPid();
    process.kill(stuck, "SIGSTOP");
    try {
      const t0 = performance.now();
      const error = await runScript(s, target, "echo never", { deadlineMs: 1_000 }).catch((e: unknown) => e);
      const ms = performance.now() - t0;
      expect(error).toBeInstanceOf(ToolError);
      expect((error as ToolError).timedOut).toBe(true);
      expect((error as ToolError).message).toMatch(/did not answer within 1000 ms; its shared connection was stuck and has been reset/);
      // The call's deadline, then a 1 s check of the master, then slack for a loaded machine.
      expect(ms).toBeLessThan(1_000 + 1_000 + 2_000);
      const next = await runScript(s, target, "echo next", { deadlineMs: 10_000 });
      expect(next.stdout).toBe("next");
      const fresh = await masterPid();
      expect(fresh).not.toBe(stuck);
      await expect.poll(() => running(stuck)).toBe(false);
    } finally {
      try {
        process.kill(stuck, "SIGKILL");
      } catch {
        // ended by the adapter, as it should be
      }
    }
  });

  it("a slow script past its deadline is an error, but a master that answers is kept", async () => {
    await runScript(s, target, "true");
    const pid = await masterPid();
    const t0 = performance.now();
    const error = await runScript(s, target, "sleep 5", { deadlineMs: 800 }).catch((e: unknown) => e);
    // The master holds the client's pipes (fd passing) until the remote sleep ends: the deadline must not wait for them.
    expect(performance.now() - t0).toBeLessThan(800 + 1_000 + 1_500);
    expect(error).toBeInstanceOf(ToolError);
    expect((error as ToolError).timedOut).toBe(true);
    expect((error as ToolError).message).toMatch(/did not answer within 800 ms$/);
    expect(await masterPid()).toBe(pid);
    expect((await runScript(s, target, "echo still")).stdout).toBe("still");
  });

  it("a dead master's socket file is replaced by a new master on the next call", async () => {
    await runScript(s, target, "true");
    const dead = await masterPid();
    process.kill(dead, "SIGKILL");
    await expect.poll(() => masterPids(controlPath(s.home, target)).includes(dead)).toBe(false);
    expect(existsSync(controlPath(s.home, target))).toBe(true);
    const t0 = performance.now();
    const r = await runScript(s, target, "echo alive", { deadlineMs: 10_000 });
    expect(r.stdout).toBe("alive");
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(await masterPid()).not.toBe(dead);
  });

  it("a host that cannot be reached is an ssh failure (exit 255) within its connect timeout, never a prompt", async () => {
    const other: SshTarget = { name: "gone", destination: `${host.user}@${host.peer.replace(/\d+$/, (d) => String(Number(d) + 2))}`, options: host.sshOptions };
    const t0 = performance.now();
    const r = await runScript({ ...s, connectTimeoutS: 1 }, other, "true", { deadlineMs: 8_000 });
    expect(r.code).toBe(255);
    expect(performance.now() - t0).toBeLessThan(4_000);
  });
});
