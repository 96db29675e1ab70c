import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { holdsFor, waitFor } from "../helpers/env.js";
import { eventsOf, expectClean, statusOf, waitForEnd } from "../helpers/orch.js";

/** Budgets, with the simulated agent keeping a transcript whose usage is priced as claude-sonnet-4-5. */
describe("budgets (real tmux, simulated agent)", () => {
  it("a run whose budget is crossed launches nothing new and says why; resume --budget lets it finish", async ({ sb }) => {
    const plan = sb.writePlan("spend.md", "## Stage 1: A\n## Stage 2: B\n## Stage 3: C\n");
    // Every step of the simulated agent costs 10k input and 2.5k output tokens of claude-sonnet-4-5 ($0.0675).
    // Its transcripts go where Claude Code keeps them, under a config dir of the test's own.
    sb.env.CLAUDE_CONFIG_DIR = join(sb.dir, "claude-config");
    const env = { AUTORUN_SIM_USAGE: "10000" };
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", JSON.stringify([process.execPath, join(import.meta.dirname, "..", "..", "dist", "scripts", "sim-agent.js")]), "--max-parallel", "1", "--budget", "0.05"], { env });
    expect(r.code, r.stderr).toBe(0);
    const crossed = await waitFor("the budget to be crossed", () => eventsOf(sb, "spend", "budget_exceeded")[0], 60_000);
    expect(crossed.stage).toBeUndefined();
    expect(crossed.limit_usd).toBe(0.05);
    await waitFor("stage 1 to merge", () => eventsOf(sb, "spend", "merge_complete", "1")[0]);
    await holdsFor("no stage launched after the budget", 2000, () => eventsOf(sb, "spend", "stage_launched").length === 1);
    expect(eventsOf(sb, "spend", "stage_launched").map((e) => e.stage)).toEqual(["1"]);
    const s = statusOf(sb, "spend") as unknown as { hold: { kind: string }; stages: Record<string, { usage: { input_tokens: number; output_tokens: number; usd: number } }> };
    expect(s.hold.kind).toBe("budget");
    // Tokens are exactly what the agent's transcript says: 10k per step, priced as sonnet.
    const u = s.stages["1"]!.usage;
    expect(u.input_tokens % 10000).toBe(0);
    expect(u.output_tokens).toBe(u.input_tokens / 4);
    expect(u.usd).toBeCloseTo((u.input_tokens * 3 + u.output_tokens * 15) / 1e6, 6);
    const status = await sb.cli(["status", "spend"]);
    expect(status.stdout).toMatch(/the run spent \$\d+\.\d\d of its \$0\.05 budget/);
    expect(status.stdout).toContain("autorun resume spend --budget");
    const low = await sb.cli(["resume", "spend", "--budget", "0.01"]);
    expect(low.code).toBe(2);
    expect(low.stderr).toContain("give a budget above that");
    const raised = await sb.cli(["resume", "spend", "--budget", "100"], { env });
    expect(raised.code, raised.stderr).toBe(0);
    expect(await waitForEnd(sb, "spend")).toBe("completed");
    expect(eventsOf(sb, "spend", "merge_complete")).toHaveLength(3);
    await expectClean(sb, "spend");
  });

  it("a stage over its own budget with onBudget stop: its session ends, nothing is typed into it, and a raised budget resumes it", async ({ sb }) => {
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ onBudget: "stop", pollSeconds: 0.5 }));
    // Stage 1 stops at its prompt after planning (its turn ends, so its usage is read) and would be nudged.
    const plan = sb.writePlan("capped.md", "## Stage 1: Costly\nBudget: $0.10\nsim: stall\n\n## Stage 2: After\nDepends on: 1\n");
    // Its transcripts go where Claude Code keeps them, under a config dir of the test's own.
    sb.env.CLAUDE_CONFIG_DIR = join(sb.dir, "claude-config");
    const env = { AUTORUN_SIM_USAGE: "10000" };
    const sim = JSON.stringify([process.execPath, join(import.meta.dirname, "..", "..", "dist", "scripts", "sim-agent.js")]);
    expect((await sb.cli(["orchestrate", plan, "--agent-cmd", sim, "--stall-seconds", "1"], { env })).code).toBe(0);
    const crossed = await waitFor("stage 1's budget to be crossed", () => eventsOf(sb, "capped", "budget_exceeded", "1")[0], 60_000);
    expect(crossed).toMatchObject({ limit_usd: 0.1, stopped: true });
    await waitFor("its session to be gone", async () => (await sb.tmux("has-session", "-t", "=capped_stage-1")).code !== 0);
    // Not relaunched, not nudged, not failed; the person was asked.
    await holdsFor("stage 1 left alone", 2500, () => eventsOf(sb, "capped", "stage_relaunched").length + eventsOf(sb, "capped", "stall_continue_sent").length === 0);
    expect(eventsOf(sb, "capped", "stage_relaunched")).toHaveLength(0);
    expect(eventsOf(sb, "capped", "stall_continue_sent")).toHaveLength(0);
    expect(statusOf(sb, "capped")!.stages["1"]).toMatchObject({ status: "in_progress", attention: "budget" });
    expect(eventsOf(sb, "capped", "review_requested", "1").some((e) => e.key === "budget")).toBe(true);
    const raised = await sb.cli(["resume", "capped", "--stage-budget", "100"], { env });
    expect(raised.code, raised.stderr).toBe(0);
    expect(await waitForEnd(sb, "capped")).toBe("completed");
    // Relaunched in its worktree with the conversation resumed, and counted as no failure.
    expect(eventsOf(sb, "capped", "stage_relaunched", "1")).toHaveLength(1);
    expect(eventsOf(sb, "capped", "stage_failed")).toHaveLength(0);
    await expectClean(sb, "capped");
  });

  it("a stage that spent more than its budget is reported over budget once, even when it finished first; resume does not offer to raise it", async ({ sb }) => {
    const plan = sb.writePlan("fast.md", "## Stage 1: Fast\nBudget: $0.05\n");
    // Its transcripts go where Claude Code keeps them, under a config dir of the test's own.
    sb.env.CLAUDE_CONFIG_DIR = join(sb.dir, "claude-config");
    const env = { AUTORUN_SIM_USAGE: "10000" };
    const sim = JSON.stringify([process.execPath, join(import.meta.dirname, "..", "..", "dist", "scripts", "sim-agent.js")]);
    expect((await sb.cli(["orchestrate", plan, "--agent-cmd", sim], { env })).code).toBe(0);
    expect(await waitForEnd(sb, "fast")).toBe("completed");
    const crossed = eventsOf(sb, "fast", "budget_exceeded", "1");
    expect(crossed).toHaveLength(1);
    expect(crossed[0]).toMatchObject({ limit_usd: 0.05, stopped: false });
    const spentUsd = crossed[0]!.spent_usd as number;
    expect(spentUsd).toBeGreaterThan(0.05);
    const s = statusOf(sb, "fast") as unknown as { stages: Record<string, { status: string; over_budget: boolean; attention: string | null }> };
    expect(s.stages["1"]).toMatchObject({ status: "completed", over_budget: true, attention: null });
    const usd = `$${spentUsd.toFixed(2)}`;
    // Status says what it spent in the end; the report, what it had spent when the budget was crossed.
    expect((await sb.cli(["status", "fast"])).stdout).toMatch(/^stage 1 is over budget: spent \$\d+\.\d\d of its \$0\.05$/m);
    expect((await sb.cli(["report", "fast"])).stdout).toContain(`over budget: ${usd} of $0.05`);
    const log = (await sb.cli(["logs", "fast"])).stdout;
    expect(log.match(/stage 1 spent \$[\d.]+ of its \$0\.05 budget/g)).toHaveLength(1);
    // A merged stage has nothing to resume: no --stage-budget hint.
    await sb.cli(["stop", "fast"]);
    const resumed = await sb.cli(["resume", "fast"]);
    expect(resumed.stdout).not.toContain("--stage-budget");
    await expectClean(sb, "fast");
  });
});
