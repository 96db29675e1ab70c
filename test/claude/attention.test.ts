/**
 * The real Claude Code TUI stopping where a person is needed (a question menu, the API's usage limit,
 * a refused key) or not starting at all (its own words kept; what autorun refuses before launching).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { holdsFor, waitFor } from "../helpers/env.js";
import { eventsOf, expectClean, statusOf, waitForEnd } from "../helpers/orch.js";
import { stageSteps } from "../helpers/claude-api.js";
import { claudePermissionModes } from "../../src/adapters/claude-modes.js";
import { describeClaude, nextStep, orchestrateWithClaude, it } from "./harness.js";


describeClaude("the real Claude Code", (cc) => {
  it("raises question attention for claude's AskUserQuestion menu, with a review; a person's answer clears it", async ({ sb, claude }) => {
    const ask = { tool: "AskUserQuestion", input: { questions: [{ question: "Which database should the cache use?", header: "Database", multiSelect: false, options: [{ label: "Redis", description: "In-memory" }, { label: "PostgreSQL", description: "Already deployed" }] }] } };
    const api = await claude((call) => {
      const steps = stageSteps(call);
      steps.splice(1, 0, ask);
      return nextStep(call, steps);
    });
    const plan = sb.writePlan("menu.md", "## Stage 1: Asks\n");
    await orchestrateWithClaude(sb, cc, plan, ["--stall-seconds", "2"]);
    await waitFor("question attention", () => statusOf(sb, "menu")?.stages["1"]?.attention === "question", 60_000);
    const review = await waitFor("the question's review", () => eventsOf(sb, "menu", "review_requested", "1")[0], 30_000);
    expect(readFileSync(String(review.file), "utf8")).toContain("Which database should the cache use?");
    // Nothing typed into the menu by autorun, however long it waits.
    expect(eventsOf(sb, "menu", "stall_continue_sent")).toEqual([]);
    await sb.tmux("send-keys", "-t", `=${String(eventsOf(sb, "menu", "stage_launched", "1")[0]!.session)}:`, "2");
    expect(await waitForEnd(sb, "menu", 60_000)).toBe("completed");
    const answered = api.calls.flatMap((c) => c.tools).find((t) => t.name === "AskUserQuestion" && t.result !== undefined);
    expect(answered?.result).toContain("PostgreSQL");
    expect(eventsOf(sb, "menu", "review_resolved", "1").map((e) => e.file)).toContain(review.file);
    await expectClean(sb, "menu");
  }, 120_000);

  it("pauses the run on the API's usage limit and raises login attention for a refused key", async ({ sb, claude }) => {
    Object.assign(sb.env, { CLAUDE_CODE_MAX_RETRIES: "0" });
    await claude((call) =>
      call.stage === "1"
        ? { status: 429, error: { type: "rate_limit_error", message: "This request would exceed your account's rate limit. Please try again later." }, headers: { "retry-after": "60" } }
        : { status: 401, error: { type: "authentication_error", message: "invalid x-api-key" } },
    );
    const plan = sb.writePlan("limits.md", "## Stage 1: Limited\n## Stage 2: Locked out\n");
    await orchestrateWithClaude(sb, cc, plan, ["--stall-seconds", "2"]);
    const limited = await waitFor("the usage limit", () => eventsOf(sb, "limits", "rate_limited")[0], 60_000);
    expect(String(limited.raw)).toContain("429");
    expect(statusOf(sb, "limits")!.status).toBe("running");
    await waitFor("login attention", () => statusOf(sb, "limits")?.stages["2"]?.attention === "login", 60_000);
    const review = await waitFor("the login review", () => eventsOf(sb, "limits", "review_requested", "2")[0], 30_000);
    expect(readFileSync(String(review.file), "utf8")).toContain("Invalid API key");
    // Nothing is typed at a stage that cannot work: no nudges while paused or locked out, however long.
    await holdsFor("no continue typed", 4_000, () => eventsOf(sb, "limits", "stall_continue_sent").length === 0);
    const status = await sb.cli(["status", "limits"]);
    expect(status.stdout).toMatch(/login/);
    // Claude Code's StopFailure hook said so too, with the kind of error.
    expect(eventsOf(sb, "limits", "agent_stop_failed", "1").map((e) => e.error)).toContain("rate_limit");
    expect(eventsOf(sb, "limits", "agent_stop_failed", "2").map((e) => e.error)).toContain("authentication_failed");
    expect((await sb.cli(["stop", "limits", "--sessions"])).code).toBe(0);
  }, 180_000);

  it("shows claude's own words when it exits at once, and fails the stage instead of relaunching it forever", async ({ sb, claude }) => {
    const api = await claude((call) => nextStep(call, stageSteps(call)));
    // A permission mode this claude does not list is refused before anything starts, dry or not.
    const refused = sb.writePlan("mode.md", "## Stage 1: Never starts\n");
    for (const dry of [["--dry-run"], []]) {
      const r = await sb.cli(["orchestrate", refused, "--agent-cmd", cc.bin, "--permission-mode", "bogus", ...dry]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout + r.stderr).toMatch(/permission mode "bogus" is not one .* knows \(.*acceptEdits/);
    }
    expect(eventsOf(sb, "mode", "orchestration_started")).toEqual([]);
    // A flag claude does not know (in agentCommand) makes it exit at once: its own words are shown.
    const plan = sb.writePlan("bogus.md", "## Stage 1: Never starts\n");
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", JSON.stringify([cc.bin, "--no-such-flag"])]);
    expect(r.code, r.stderr).toBe(0);
    expect(await waitForEnd(sb, "bogus", 60_000)).toBe("failed");
    expect(eventsOf(sb, "bogus", "stage_launched").length + eventsOf(sb, "bogus", "stage_relaunched").length).toBeLessThanOrEqual(3);
    const words = "unknown option '--no-such-flag'";
    expect((await sb.cli(["status", "bogus"])).stdout).toContain(words);
    expect((await sb.cli(["report", "bogus"])).stdout).toContain(words);
    expect(api.calls).toEqual([]);
  }, 120_000);

  it("passes permissionMode manual as default, the name every version takes (2.1.332 lists it as manual)", async ({ sb, claude }) => {
    const api = await claude(() => ({ blocks: [{ text: "Waiting here." }], done: true }));
    const plan = sb.writePlan("manual.md", "## Stage 1: Manual\n");
    await orchestrateWithClaude(sb, cc, plan, ["--permission-mode", "manual", "--stall-seconds", "600"]);
    const settings = JSON.parse(readFileSync(join(sb.home, "orchestration", "manual", "settings.json"), "utf8")) as { permissionMode: string };
    expect(settings.permissionMode).toBe("default");
    expect(await claudePermissionModes(cc.bin, "manual")).toContain("default");
    // claude took it: it started and asked the API.
    await waitFor("claude's first call", () => api.calls.length > 0, 60_000);
    expect((await sb.cli(["stop", "manual", "--sessions"])).code).toBe(0);
  }, 90_000);

  it("refuses before writing anything when claude cannot start: bypassPermissions as root, an untrusted project", async ({ sb, claude }) => {
    await claude(() => ({ blocks: [{ text: "unused" }], done: true }));
    const plan = sb.writePlan("refused.md", "## Stage 1: Never\n");
    if (process.getuid?.() === 0) {
      const r = await sb.cli(["orchestrate", plan, "--agent-cmd", cc.bin, "--permission-mode", "bypassPermissions"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/refuses bypassPermissions as root/);
    }
    writeFileSync(join(String(sb.env.HOME), ".claude.json"), JSON.stringify({ hasCompletedOnboarding: true, projects: {} }));
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", cc.bin]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has not been trusted in .*run claude in .* once and accept "Yes, I trust this folder"/);
    expect(existsSync(join(sb.home, "orchestration", "refused"))).toBe(false);
    expect(await sb.git("status", "--porcelain")).toBe("?? refused.md");
    expect(readFileSync(join(sb.repo, ".git", "info", "exclude"), "utf8")).not.toContain(".claude/worktrees");
  }, 60_000);
});
