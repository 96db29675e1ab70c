/**
 * The README's first command: `autorun demo`. It runs to the end, tells what happens (a planned
 * stall and its nudge, merges and the launches they allow), and every command it prints works when
 * pasted into a shell as it is.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { execa } from "execa";
import { CLI } from "../helpers/env.js";
import { createTmux } from "../../src/adapters/tmux.js";

let demoDir: string | undefined;
let socket: string | undefined;
let gitConfigDir: string | undefined;
afterEach(async () => {
  if (gitConfigDir) rmSync(gitConfigDir, { recursive: true, force: true });
  gitConfigDir = undefined;
  // (The demo's server and its socket file, which tmux leaves behind.)
  if (socket) await createTmux(socket).killServer();
  socket = undefined;
  if (demoDir) rmSync(demoDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  demoDir = undefined;
});

describe("autorun demo", () => {
  it("runs the plan to the end, narrates the stall, the nudge and the merges, and prints commands that work when pasted", async () => {
    // On a machine where git has no identity of the person's (and guesses none): the demo's
    // repository has its own.
    gitConfigDir = mkdtempSync(join(tmpdir(), "autorun-demo-test-"));
    const noGitConfig = join(gitConfigDir, "gitconfig");
    writeFileSync(noGitConfig, "[user]\n\tuseConfigOnly = true\n");
    const env: NodeJS.ProcessEnv = { ...process.env, AUTORUN_SIM_DELAY_MS: "50", NO_COLOR: "1", GIT_CONFIG_GLOBAL: noGitConfig, GIT_CONFIG_NOSYSTEM: "1" };
    for (const k of Object.keys(env)) if (k.startsWith("AUTORUN_HOME") || k.startsWith("CLAUDECODE") || k === "TMUX" || k === "EMAIL" || /^GIT_(AUTHOR|COMMITTER)_/.test(k)) delete env[k];
    const noIdentity = await execa("git", ["var", "GIT_COMMITTER_IDENT"], { env, extendEnv: false, reject: false, cwd: tmpdir() });
    expect(noIdentity.exitCode).not.toBe(0);
    const r = await execa(process.execPath, [CLI, "demo", "--keep"], { env, extendEnv: false, reject: false, timeout: 120_000 });
    socket = /tmux -L (\S+) ls/.exec(String(r.stdout))?.[1];
    demoDir = /project:\s+(\/\S+)\/notes-service/.exec(String(r.stdout))?.[1];
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const out = String(r.stdout);
    expect(out).toMatch(/stage 2 \(Storage layer\) stopped at its prompt mid-stage \(a planned stall\); idle \d+ s, so the monitor nudges it/);
    expect(out).toMatch(/stage 2 \(Storage layer\) got "continue"/);
    expect(out).toMatch(/stage 1 \(Foundations\) merged into main \(\w+\); whatever waited on it can start/);
    expect(out).toMatch(/stage 4 \(Documentation\) starts: everything it depends on \(2, 3\) has merged/);
    expect(out).toContain("Result: completed.");
    // Pasted as printed, in a shell where `autorun` is not installed.
    const printed = out.split("\n").filter((l) => /^\s+AUTORUN_HOME=\S+ /.test(l)).map((l) => l.trim().replace(/\s+#.*$/, ""));
    const report = printed.find((l) => / report master-plan$/.test(l));
    const logs = printed.find((l) => / logs master-plan$/.test(l));
    const status = printed.find((l) => / status master-plan --watch$/.test(l));
    expect(report && logs && status, printed.join("\n")).toBeTruthy();
    const shellEnv = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1" };
    const pasted = async (line: string) => execa("bash", ["-c", line], { env: shellEnv, extendEnv: false, reject: false, timeout: 30_000 });
    const rep = await pasted(report!);
    expect(rep.exitCode, String(rep.stderr)).toBe(0);
    expect(String(rep.stdout)).toMatch(/master-plan/);
    const log = await pasted(logs!);
    expect(log.exitCode, String(log.stderr)).toBe(0);
    expect(String(log.stdout)).toContain("orchestration completed");
    const st = await pasted(status!.replace(/ --watch$/, ""));
    expect(st.exitCode, String(st.stderr)).toBe(0);
    expect(String(st.stdout)).toMatch(/^master-plan: completed/);
    // --keep names only what is left: every session ended with its merge, so no attach is offered.
    expect(out).not.toMatch(/attach master-plan 5/);
    expect(out).toContain("No stage session is left to look at: each ended when its stage merged.");
    expect((await execa("tmux", ["-L", socket!, "ls"], { reject: false })).exitCode).not.toBe(0);
  }, 120_000);

  it("Ctrl-C stops the demo's monitor and sessions and says what is left where", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, AUTORUN_SIM_DELAY_MS: "2000", NO_COLOR: "1" };
    for (const k of Object.keys(env)) if (k.startsWith("AUTORUN_HOME") || k.startsWith("CLAUDECODE") || k === "TMUX") delete env[k];
    const child = execa(process.execPath, [CLI, "demo"], { env, extendEnv: false, reject: false, timeout: 60_000 });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 45_000;
    while (!out.includes("What happens, as the monitor sees it:") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    socket = /tmux -L (\S+) ls/.exec(out)?.[1];
    demoDir = /project:\s+(\/\S+)\/notes-service/.exec(out)?.[1];
    expect(socket && demoDir, out).toBeTruthy();
    const home = /state:\s+(\/\S+)/.exec(out)![1]!;
    const pidFile = join(home, "orchestration", "master-plan", "monitor.pid");
    let monitorPid = 0;
    while (!(monitorPid > 0) && Date.now() < deadline) {
      monitorPid = Number(/^\d+/.exec(existsSync(pidFile) ? readFileSync(pidFile, "utf8") : "")?.[0]);
      if (!(monitorPid > 0)) await new Promise((r) => setTimeout(r, 100));
    }
    expect(monitorPid).toBeGreaterThan(0);
    expect(() => process.kill(monitorPid, 0)).not.toThrow();
    expect((await execa("tmux", ["-L", socket!, "ls"], { reject: false })).exitCode).toBe(0);
    child.kill("SIGINT");
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(String(r.stderr)).toContain(`autorun demo: interrupted; its monitor and sessions are stopped. Everything else stays in ${demoDir}`);
    expect((await execa("tmux", ["-L", socket!, "ls"], { reject: false })).exitCode).not.toBe(0);
    expect(() => process.kill(monitorPid, 0)).toThrow();
  }, 90_000);
});
