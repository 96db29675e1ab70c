/** The exact argument lists the tmux adapter gives tmux, through an injected runner (no tmux here). */
import { afterAll, describe, expect, it } from "vitest";
import { commandBatches, createTmux, type NewSession } from "../../src/adapters/tmux.js";
import type { RunResult } from "../../src/adapters/exec.js";
import { SESSION_SCRIPT } from "../../src/adapters/session-env.js";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

function recorder(stdout = "") {
  const calls: string[][] = [];
  const runner = async (file: string, args: readonly string[]): Promise<RunResult> => {
    calls.push([file, ...args]);
    return { ok: true, code: 0, stdout, stderr: "" };
  };
  return { calls, runner };
}

// Where the sessions below (never started: no tmux here) leave their variable files.
const specsEnvDir = mkdtempSync(join(tmpdir(), "autorun-argv-"));
afterAll(() => rmSync(specsEnvDir, { recursive: true, force: true }));

describe("tmux argument lists", () => {
  it("starts a session on its socket through the session script, its variables in a 0600 file, then remain-on-exit, in one invocation", async () => {
    const { calls, runner } = recorder();
    const envDir = mkdtempSync(join(tmpdir(), "autorun-argv-"));
    try {
      const secret = "sk-secret\\; it's\n\"x\";";
      await createTmux("sock", runner).newSession({ name: "p_stage-1", cwd: "/work/my project;", argv: ["claude", "--worktree", "w;"], env: { AUTORUN_STAGE: "1", KEY: secret }, envDir, remainOnExit: true });
      expect(calls).toHaveLength(1);
      const [file, ...args] = calls[0]!;
      expect(file).toBe("tmux");
      expect(args.slice(0, 11)).toEqual(["-L", "sock", "new-session", "-d", "-x", "200", "-y", "50", "-s", "p_stage-1", "--"]);
      expect(args.slice(-6)).toEqual([";", "set-option", "-t", "=p_stage-1:", "remain-on-exit", "on"]);
      const program = args.slice(11, -6);
      expect(program.slice(0, 4)).toEqual(["/bin/sh", "-c", SESSION_SCRIPT, "autorun-session"]);
      const envFile = program[4]!;
      expect(dirname(envFile)).toBe(envDir);
      expect(program.slice(5)).toEqual(["/work/my project\\;", "claude", "--worktree", "w\\;"]);
      // No value on the command line; the file is the owner's only.
      expect(args.join("\0")).not.toContain("sk-secret");
      expect(statSync(envFile).mode & 0o777).toBe(0o600);
      expect(statSync(envDir).mode & 0o777).toBe(0o700);
      const text = readFileSync(envFile, "utf8");
      expect(text).toMatch(/^unset CLAUDECODE CLAUDE_CODE_ENTRYPOINT/);
      expect(text).toContain("export AUTORUN_STAGE='1'\n");
    } finally {
      rmSync(envDir, { recursive: true, force: true });
    }
  });

  it("starts several sessions in one invocation while they fit in tmux's 16 KiB command line, each session's commands whole", async () => {
    const { calls, runner } = recorder();
    const spec = (i: number, arg: string): NewSession => ({ name: `p_stage-${i}`, cwd: "/w", argv: ["agent", String(i), arg], env: { AUTORUN_STAGE: String(i) }, envDir: specsEnvDir, remainOnExit: true });
    const small = await createTmux("sock", runner).newSessions([1, 2, 3].map((i) => spec(i, "")));
    expect(small).toEqual([true, true, true]);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.filter((a) => a === "new-session")).toHaveLength(3);
    // A command of ~6 KB per session: two sessions per call, never one split across calls.
    calls.length = 0;
    const big = await createTmux("sock", runner).newSessions([1, 2, 3, 4, 5].map((i) => spec(i, "x".repeat(6_000))));
    expect(big).toEqual([true, true, true, true, true]);
    expect(calls.map((c) => c.filter((a) => a === "new-session").length)).toEqual([2, 2, 1]);
    for (const c of calls) {
      expect(c.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0)).toBeLessThan(16_384);
      expect(c.filter((a) => a === "remain-on-exit")).toHaveLength(c.filter((a) => a === "new-session").length);
    }
    expect(commandBatches([])).toEqual([]);
  });

  it("says which sessions are certainly made when one of the calls fails: those of the other calls", async () => {
    let n = 0;
    const tmux = createTmux("sock", async () => (++n === 2 ? { ok: false, code: 1, stdout: "", stderr: "duplicate session: p_stage-3\n" } : { ok: true, code: 0, stdout: "", stderr: "" }));
    const specs = [1, 2, 3, 4].map((i): NewSession => ({ name: `p_stage-${i}`, cwd: "/w", argv: ["a", "x".repeat(6_000)], env: {}, envDir: specsEnvDir }));
    expect(await tmux.newSessions(specs)).toEqual([true, true, false, false]);
    // Each call stands for its own sessions only.
    n = 1;
    expect(await tmux.newSessions(specs)).toEqual([false, false, true, true]);
  });

  it.each([
    ["sendLiteral", (t: ReturnType<typeof createTmux>) => t.sendLiteral("s", "-continue;"), ["send-keys", "-t", "=s:", "-l", "--", "-continue\\;"]],
    ["sendEnter", (t: ReturnType<typeof createTmux>) => t.sendEnter("s"), ["send-keys", "-t", "=s:", "Enter"]],
    ["capturePane", (t: ReturnType<typeof createTmux>) => t.capturePane("s"), ["capture-pane", "-p", "-t", "=s:"]],
    ["hasSession", (t: ReturnType<typeof createTmux>) => t.hasSession("s.1"), ["has-session", "-t", "=s.1"]],
    ["killSession", (t: ReturnType<typeof createTmux>) => t.killSession("s"), ["kill-session", "-t", "=s"]],
  ] as const)("%s targets the session exactly (=name), text literally", async (_name, call, argv) => {
    const { calls, runner } = recorder();
    await call(createTmux(undefined, runner));
    expect(calls).toEqual([["tmux", ...argv]]);
  });

  it("captures several panes in one call, each after a marker, and falls back to one by one when a pane is gone", async () => {
    const calls: string[][] = [];
    let first = true;
    const runner = async (file: string, args: readonly string[]): Promise<RunResult> => {
      calls.push([file, ...args]);
      if (first) {
        first = false;
        return { ok: true, code: 0, stdout: "\u0001autorun-pane 0\u0001\nscreen a\n\n\u0001autorun-pane 1\u0001\nscreen b\n", stderr: "" };
      }
      return { ok: args.includes("=gone:") ? false : true, code: 0, stdout: "alone", stderr: "" };
    };
    const tmux = createTmux("s", runner);
    expect([...(await tmux.capturePanes(["a", "b"]))]).toEqual([["a", "screen a\n"], ["b", "screen b"]]);
    expect(calls[0]!.slice(3)).toEqual(["display-message", "-p", "\u0001autorun-pane 0\u0001", ";", "capture-pane", "-p", "-t", "=a:", ";", "display-message", "-p", "\u0001autorun-pane 1\u0001", ";", "capture-pane", "-p", "-t", "=b:"]);
    const failing = createTmux("s", async (file, args) => (args.includes("list-panes") ? { ok: true, code: 0, stdout: "", stderr: "" } : args.filter((a) => a === "capture-pane").length > 1 ? { ok: false, code: 1, stdout: "", stderr: "can't find" } : { ok: !args.includes("=gone:"), code: 0, stdout: "alone", stderr: "" }));
    expect([...(await failing.capturePanes(["a", "gone"]))]).toEqual([["a", "alone"], ["gone", undefined]]);
  });

  it("reads a pane's cursor row and screen in one call, the row on the first line", async () => {
    const { calls, runner } = recorder("7\n⏺ hello\n\n│ ❯ continue│");
    expect(await createTmux("s", runner).captureWithCursor("p_stage-1")).toEqual({ row: 7, screen: "⏺ hello\n\n│ ❯ continue│" });
    expect(calls).toEqual([["tmux", "-L", "s", "display-message", "-p", "-t", "=p_stage-1:", "#{cursor_y}", ";", "capture-pane", "-p", "-t", "=p_stage-1:"]]);
    expect(await createTmux("s", async () => ({ ok: false, code: 1, stdout: "", stderr: "can't find pane" })).captureWithCursor("gone")).toBeUndefined();
    expect(await createTmux("s", recorder("").runner).captureWithCursor("blank")).toEqual({ row: undefined, screen: "" });
  });

  it("lists every pane's state in one call", async () => {
    const { runner } = recorder("a\t0\t0\t\t\nb\t0\t1\t2\t\nc\t0\t1\t\t9\n");
    expect([...(await createTmux("s", runner).paneStatuses())]).toEqual([
      ["a", { state: "running" }],
      ["b", { state: "exited", status: 2, signal: undefined }],
      ["c", { state: "exited", status: undefined, signal: 9 }],
    ]);
  });

  it("reads a dead pane's exit status and signal", async () => {
    const { runner } = recorder("1 3 \n");
    expect(await createTmux("s", runner).paneStatus("x")).toEqual({ state: "exited", status: 3, signal: undefined });
  });
});
