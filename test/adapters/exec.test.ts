/** Running outside programs: how each way of failing is told (exit code, signal, timeout, missing), with where it ran. */
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { expectOk, runProgram } from "../../src/adapters/exec.js";
import { ToolError } from "../../src/errors.js";

describe("runProgram", () => {
  it("gives a non-zero exit as a value; expectOk turns it into an error naming the exit and the directory", async () => {
    const r = await runProgram("sh", ["-c", "echo oops >&2; exit 3"], { cwd: tmpdir() });
    expect(r).toMatchObject({ ok: false, code: 3, stderr: "oops", cwd: tmpdir() });
    expect(() => expectOk("sh", [], r, "the check")).toThrow(`the check failed (exit 3 in ${tmpdir()}): oops`);
  });
  it("says a program was killed by a signal", async () => {
    const r = await runProgram("sh", ["-c", "kill -TERM $$"]);
    expect(r).toMatchObject({ ok: false, signal: "SIGTERM" });
    let error: unknown;
    try {
      expectOk("sh", ["-c"], r, "the check");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ToolError);
    expect((error as ToolError).signal).toBe("SIGTERM");
    expect((error as Error).message).toContain("killed by SIGTERM");
  });
  it("stops a program that runs too long: a ToolError that says it timed out, and where", async () => {
    const error = await runProgram("sleep", ["5"], { timeoutMs: 100, cwd: tmpdir() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolError);
    expect(error).toMatchObject({ timedOut: true, cwd: tmpdir(), argv: ["sleep", "5"] });
    expect((error as Error).message).toMatch(/^sleep timed out after 100 ms in /);
  });
  it("names a command by its description, not arguments that carry a session's environment", async () => {
    const error = await runProgram("sh", ["-c", "sleep 5", "ANTHROPIC_API_KEY=sk-secret"], { timeoutMs: 100, describe: "tmux new-session p_stage-1" }).catch((e: unknown) => e);
    expect((error as Error).message).toContain("tmux new-session p_stage-1");
    expect((error as Error).message).not.toContain("sk-secret");
  });
  it("says a program is not installed", async () => {
    const error = await runProgram("no-such-program-xyz", []).catch((e: unknown) => e);
    expect((error as Error).message).toContain("no-such-program-xyz is not installed or not on PATH");
  });
});
