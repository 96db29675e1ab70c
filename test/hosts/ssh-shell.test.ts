/**
 * The long-lived shell on a host (what the host's tmux calls run in) against a real sshd: exact
 * output and exit codes, answers that look like its own framing, quoting, a call past its
 * deadline, the shell ended under it, and ssh failing.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeMaster, controlPath, masterPids, type SshSettings, type SshTarget } from "../../src/adapters/ssh.js";
import { SshShell } from "../../src/adapters/ssh-shell.js";
import { ToolError } from "../../src/errors.js";
import { waitFor } from "../helpers/env.js";
import { hostLaneSkip, makeTestHost, type TestHost } from "./fixture.js";

const skip = hostLaneSkip();
if (skip) console.log(`host lane skipped: ${skip}`);

describe.skipIf(skip)("a long-lived shell on a host", () => {
  let host: TestHost;
  let dir: string;
  let s: SshSettings;
  let target: SshTarget;
  const shells: SshShell[] = [];
  const shell = () => {
    const sh = new SshShell(s, target);
    shells.push(sh);
    return sh;
  };
  beforeAll(async () => {
    host = await makeTestHost({ name: "box1" });
    dir = mkdtempSync(join(tmpdir(), "autorun-shell-"));
    s = { home: join(dir, "home"), connectTimeoutS: 3 };
    target = { name: "box1", destination: "box1", options: host.sshOptions };
  });
  afterAll(async () => {
    for (const sh of shells) sh.close();
    if (target) await closeMaster(s, target).catch(() => undefined);
    for (const pid of dir ? masterPids(controlPath(s.home, target)) : []) process.kill(pid, "SIGKILL");
    await host?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("runs program after program in one ssh process: exact output, stderr and exit codes; quoting", async () => {
    const sh = shell();
    expect(await sh.run("printf", ["%s", "no newline"])).toEqual({ ok: true, code: 0, stdout: "no newline", stderr: "" });
    const sshPid = () => (sh as unknown as { child?: { pid: number } }).child?.pid;
    const first = sshPid();
    expect(first).toBeGreaterThan(0);
    // What a program prints cannot pass for the end of its answer: the answer is read by length.
    const fake = "autorun-0123456789abcdef01234567 0 0 0\nmore\n";
    expect((await sh.run("printf", ["%s", fake])).stdout).toBe(fake.replace(/\n$/, ""));
    expect(await sh.run("sh", ["-c", 'echo out; echo err >&2; exit 3'])).toEqual({ ok: false, code: 3, stdout: "out", stderr: "err" });
    const nasty = ["a b", "$(touch /tmp/pwned-shell)", "`id`", "it's", "#x", "semi;colon", "new\nline", ""];
    expect((await sh.run("printf", ["%s|", ...nasty])).stdout).toBe(nasty.map((x) => `${x}|`).join(""));
    expect((await sh.run("test", ["-e", "/tmp/pwned-shell"])).code).toBe(1);
    // A program reading stdin gets nothing (the shell's stdin is its script).
    expect((await sh.run("cat", [])).stdout).toBe("");
    expect((await sh.run("true", [])).ok).toBe(true);
    expect((await sh.run("no-such-program-here", [])).code).toBe(127);
    // Calls at once are answered each with its own output.
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => sh.run("printf", ["%s", `call ${i}`])));
    expect(many.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `call ${i}`));
    // A large answer.
    expect((await sh.run("head", ["-c", "300000", "/dev/zero"])).stdout.length).toBe(300000);
    expect(sshPid()).toBe(first);
  }, 60_000);

  it("a call past its deadline throws and ends the shell; the next call starts another", async () => {
    const sh = shell();
    expect((await sh.run("echo", ["up"])).stdout).toBe("up");
    const late = await sh.run("sleep", ["5"], 500).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(ToolError);
    expect((late as ToolError).timedOut).toBe(true);
    expect((await sh.run("echo", ["again"])).stdout).toBe("again");
    // The shell ended under a call (its remote side killed): ssh's failure, then a new shell.
    const killed = await sh.run("sh", ["-c", "kill -9 $PPID; sleep 5"], 5_000).catch((e: unknown) => e);
    expect(killed).toBeInstanceOf(ToolError);
    expect((killed as ToolError).code).toBe(255);
    expect((await sh.run("echo", ["back"])).stdout).toBe("back");
  }, 60_000);

  it("its temp dir on the host goes when it is closed", async () => {
    const before = new Set(readdirSync(host.tmp));
    const sh = shell();
    expect((await sh.run("true", [])).ok).toBe(true);
    const mine = readdirSync(host.tmp).filter((d) => !before.has(d));
    expect(mine).toHaveLength(1);
    sh.close();
    await waitFor("the closed shell's temp dir to go", () => !readdirSync(host.tmp).includes(mine[0]!), 10_000);
  }, 60_000);

  it("ssh failing (nothing listening there) throws with 255, never an answer", async () => {
    const sh = new SshShell({ ...s, connectTimeoutS: 2 }, { name: "nowhere", destination: "nowhere", options: [...host.sshOptions, "-o", "HostName=127.0.0.1", "-o", "Port=1"] });
    shells.push(sh);
    const r = await sh.run("echo", ["x"], 10_000).catch((e: unknown) => e);
    expect(r).toBeInstanceOf(ToolError);
    expect((r as ToolError).code).toBe(255);
  }, 30_000);
});
