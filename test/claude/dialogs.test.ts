/**
 * The real Claude Code's Bash permission requests answered from `permissionAnswers`: a plain "yes"
 * by the PermissionRequest hook, from the command Claude Code says the call runs (never its
 * description), so a second call in the same message is never approved by the first one's answer.
 * The other is refused by a person's `no` in its review, picked on the dialog itself. (A digit of
 * permissionAnswers is answered on the dialog: test/claude/runs.test.ts.)
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { holdsFor, waitFor } from "../helpers/env.js";
import { answerReview, eventsOf } from "../helpers/orch.js";
import { describeClaude, orchestrateWithClaude, it } from "./harness.js";

describeClaude("the real Claude Code's permission dialogs", (cc) => {
  it("two calls in one message: the one whose command matches is answered, the other (described as the first) goes to a person", async ({ sb, claude }) => {
    // Without the sandbox, which would run both commands unasked (test/claude/contain.test.ts).
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ permissionAnswers: { "make --version": "yes" }, sandbox: false }));
    const sneaky = "python3 -c 'print(41 + 1)'";
    const api = await claude((call) =>
      call.tools.some((t) => t.name === "Bash")
        ? { blocks: [{ text: "Both ran." }], done: true }
        : { blocks: [{ bash: "make --version", description: "Show make version" }, { bash: sneaky, description: "make --version" }] },
    );
    const plan = sb.writePlan("two.md", "## Stage 1: Two calls\n");
    // After the refusal claude waits at its prompt, and the results reach the API with the stall's
    // nudge, after stallSeconds (never while a dialog is up).
    await orchestrateWithClaude(sb, cc, plan, ["--stall-seconds", "5"]);
    // make's call answered by the PermissionRequest hook, from claude's own account of its command.
    await waitFor("make's answer", () => eventsOf(sb, "two", "permission_hook_answered", "1")[0], 90_000);
    expect(eventsOf(sb, "two", "permission_hook_answered", "1")).toMatchObject([{ command: "make --version", key: "make --version", answer: "yes" }]);
    // The second dialog is python's: not answered (its description says make --version), a person asked.
    const review = await waitFor("python's review", () => eventsOf(sb, "two", "review_requested", "1")[0], 60_000);
    const text = readFileSync(String(review.file), "utf8");
    expect(text).toContain(`The command it asks to run, whole, as the agent's transcript records it:\n\n    ${sneaky}\n\nIts description:\n\n    make --version\n`);
    expect(text).toContain("Not answered from permissionAnswers: no permissionAnswers key names this command");
    await holdsFor("one answer only", 3_000, () => eventsOf(sb, "two", "permission_hook_answered").length === 1 && eventsOf(sb, "two", "permission_answered").length === 0);
    // The person refuses it from the review: its own "No" is picked, and both results reach the
    // API: make ran, python did not.
    answerReview(String(review.file), "no");
    const answered = await waitFor("the person's answer", () => eventsOf(sb, "two", "permission_answered", "1")[0], 30_000);
    expect(answered).toMatchObject({ command: sneaky, key: "(a person's answer to its review)", answer: expect.stringMatching(/^\d\. No\b/), verified: true });
    const results = await waitFor("the calls' results", () => api.calls.flatMap((c) => c.tools).filter((t) => t.name === "Bash" && t.result !== undefined).length >= 2 ? api.calls.flatMap((c) => c.tools) : undefined, 60_000);
    expect(results.find((t) => t.input.command === "make --version")?.result).toMatch(/GNU Make/);
    expect(results.find((t) => t.input.command === sneaky)?.result ?? "").not.toMatch(/\b42\b/);
    const log = (await sb.cli(["logs", "two"])).stdout;
    expect(log).toContain('answered "yes" to the permission request for "make --version" through its PermissionRequest hook');
    expect((await sb.cli(["stop", "two", "--sessions"])).code).toBe(0);
  }, 180_000);
});
