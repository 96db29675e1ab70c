import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { SIM, waitFor, type Sandbox } from "../helpers/env.js";
import { eventsOf, statusOf, waitForEnd } from "../helpers/orch.js";

/** An agent that fails while its context file says "broken", else runs the simulated agent. */
const agent = JSON.stringify(["sh", "-c", `f="$1"; shift; grep -q broken "$f" && { echo "still broken"; exit 1; }; exec '${process.execPath}' '${SIM}' "$@"`, "agent", "{context_file}", "{args}"]);

async function failedRun(sb: Sandbox): Promise<string> {
  const plan = sb.writePlan("again.md", "## Stage 1: A\nDo the thing; it is broken.\n## Stage 2: B\nDepends on: 1\n");
  const r = await sb.cli(["orchestrate", plan, "--agent-cmd", agent]);
  expect(r.code, r.stderr).toBe(0);
  expect(await waitForEnd(sb, "again")).toBe("failed");
  return plan;
}

const contextFile = (sb: Sandbox, id: string): string => join(sb.home, "orchestration", "again", "stages", `stage-${id}-context.md`);

describe("retry reads the plan again (real tmux, real git, simulated agent)", () => {
  it("a stage fixed in the plan runs with its new text and settings, and retry says what changed", async ({ sb }) => {
    const plan = await failedRun(sb);
    writeFileSync(plan, "## Stage 1: A, fixed\nDo the thing; it is fixed now.\nBudget: $3\nValidate: true\n## Stage 2: B\nDepends on: 1\n");
    // Named twice, it is retried once.
    const r = await sb.cli(["retry", "again", "1", "1"]);
    expect(r.code, r.stderr).toBe(0);
    expect(eventsOf(sb, "again", "stage_retried", "1")).toHaveLength(1);
    expect(r.stdout.match(/From again\.md/g)).toHaveLength(1);
    expect(r.stdout).toContain('From again.md: new scope text; title "A" → "A, fixed"; budget (none) → $3.00; validate (none) → true.');
    expect(r.stdout).toMatch(/previous context file is kept as .*stage-1-context\.before-retry-1\.md/);
    const context = readFileSync(contextFile(sb, "1"), "utf8");
    expect(context).toContain("# Stage 1: A, fixed");
    expect(context).toContain("it is fixed now");
    const [retried] = eventsOf(sb, "again", "stage_retried", "1");
    expect(retried).toMatchObject({ name: "A, fixed", settings: { budget_usd: 3, validate: [["true"]] } });
    expect(await waitFor("the retried run to end", () => {
      const after = sb.events("again").slice(sb.events("again").findIndex((e) => e.type === "stage_retried"));
      return after.some((e) => e.type === "monitor_stopped") ? after.find((e) => e.type === "orchestration_complete") : undefined;
    }, 60_000)).toMatchObject({ status: "completed" });
    const s = statusOf(sb, "again")!.stages["1"] as unknown as { name: string; settings: { budget_usd?: number } };
    expect(s.name).toBe("A, fixed");
    expect(s.settings.budget_usd).toBe(3);
    // The monitor log names the change once.
    expect((await sb.cli(["logs", "again"])).stdout).toContain("with the plan read again (new scope text;");
  });

  it("a plan that no longer parses, or lost the stage: one line naming the file and line, exit 2, nothing written", async ({ sb }) => {
    const plan = await failedRun(sb);
    const before = { events: sb.events("again").length, context: readFileSync(contextFile(sb, "1"), "utf8"), files: readdirSync(join(sb.home, "orchestration", "again", "stages")) };
    writeFileSync(plan, "## Stage 1: A\nfixed\n## Stage 2: B\nDepends on: 9\n");
    const bad = await sb.cli(["retry", "again", "1"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/again\.md:4: .*9.*autorun retry reads the plan again; nothing was changed/);
    writeFileSync(plan, "## Stage 2: B\nfixed\n");
    const gone = await sb.cli(["retry", "again", "1"]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain("again.md: stage 1 is no longer in the plan; put its section back to retry it, or let its dependants go on without it: autorun skip again 1");
    expect(sb.events("again")).toHaveLength(before.events);
    expect(readFileSync(contextFile(sb, "1"), "utf8")).toBe(before.context);
    expect(readdirSync(join(sb.home, "orchestration", "again", "stages"))).toEqual(before.files);
    expect(statusOf(sb, "again")!.stages["1"]!.status).toBe("failed");
    // A plan file that is gone: the stage runs as the run started it, and that is what is said.
    rmSync(plan);
    const planless = await sb.cli(["retry", "again", "1"]);
    expect(planless.code, planless.stderr).toBe(0);
    expect(planless.stdout).toContain("It runs as the run started it (its plan again.md is gone).");
    expect(planless.stdout).not.toContain("was not changed");
    expect((await sb.cli(["stop", "again", "--sessions"])).code).toBe(0);
  });
});
