import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { holdsFor, waitFor, type Sandbox } from "../helpers/env.js";
import { eventsOf, expectClean, orchestrate, statusOf, waitForEnd } from "../helpers/orch.js";


/** When each stage held a session: from its launch to its merge (or failure), in event order. */
function spans(sb: Sandbox, plan: string): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  sb.events(plan).forEach((e, i) => {
    const id = e.stage as string | undefined;
    if (id === undefined) return;
    if (e.type === "stage_launched" && !out.has(id)) out.set(id, [i, Infinity]);
    if ((e.type === "merge_complete" || e.type === "stage_failed") && out.has(id)) out.get(id)![1] = i;
  });
  return out;
}

const overlap = (a: [number, number], b: [number, number]) => a[0] < b[1] && b[0] < a[1];

describe("run controls (real tmux, simulated agent)", () => {
  it("two stages sharing an exclusive resource never overlap, while a third runs beside them", async ({ sb }) => {
    const plan = sb.writePlan(
      "shared.md",
      "## Stage 1: Migrate\nExclusive: database\nsim: slow\n\n## Stage 2: Docs\n\n## Stage 3: Seed data\nExclusive resources: database\n",
    );
    const dry = await sb.cli(["orchestrate", plan, "--dry-run"]);
    expect(dry.stdout).toMatch(/Stage 3: Seed data\n.*\n  exclusive: database/);
    const json = JSON.parse((await sb.cli(["orchestrate", plan, "--dry-run", "--json"])).stdout) as { stages: { id: string; exclusive_resources?: string[] }[] };
    expect(json.stages.map((s) => s.exclusive_resources ?? null)).toEqual([["database"], null, ["database"]]);
    await orchestrate(sb, plan);
    // While stage 1 holds the database, stage 3 is ready and waits for it; status says so.
    await waitFor("stage 2 to launch beside stage 1", () => eventsOf(sb, "shared", "stage_launched", "2").length > 0);
    const during = await sb.cli(["status", "shared"]);
    // Judged from what that status printed (status.json, written by the monitor, can lag it).
    const row = (id: string) => during.stdout.split("\n").find((l) => l.startsWith(`${id} `)) ?? "";
    if (/\bpending\b/.test(row("3")) && !/\bmerged\b/.test(row("1"))) {
      expect(during.stdout).toContain("waits for database (held by stage 1)");
    }
    expect(await waitForEnd(sb, "shared")).toBe("completed");
    const s = spans(sb, "shared");
    expect(overlap(s.get("1")!, s.get("3")!)).toBe(false);
    expect(overlap(s.get("1")!, s.get("2")!) || overlap(s.get("3")!, s.get("2")!)).toBe(true);
    await expectClean(sb, "shared");
  });

  it("a stage the plan marks done is never launched, and its dependants run", async ({ sb }) => {
    const plan = sb.writePlan("half.yaml", "meta:\n  name: half done\nsections:\n- id: one\n  tasks:\n  - id: '1.1'\n    name: Done before\n    status: completed\n  - id: '1.2'\n    name: Still to do\n    status: pending\n");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "half")).toBe("completed");
    expect(eventsOf(sb, "half", "stage_launched").map((e) => e.stage)).toEqual(["1.2"]);
    const report = JSON.parse((await sb.cli(["status", "half", "--json"])).stdout) as { stages: Record<string, { status: string; done_in_plan: boolean }> };
    expect(report.stages["1.1"]).toMatchObject({ status: "completed", done_in_plan: true });
    await expectClean(sb, "half");
  });

  it("three stages failing in a row open the circuit breaker: nothing new launches until a person closes it", async ({ sb }) => {
    // Deaths are found by the monitor's pass: look often, so the test does not wait on it.
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ pollSeconds: 0.5 }));
    const plan = sb.writePlan("broken.md", ["A", "B", "C", "D"].map((n, i) => `## Stage ${i + 1}: ${n}\nsim: die-always\n`).join("\n"));
    await orchestrate(sb, plan, ["--max-parallel", "1"]);
    const open = await waitFor("the circuit breaker to open", () => eventsOf(sb, "broken", "circuit_open")[0], 60_000);
    expect(open.failed).toEqual(["1", "2", "3"]);
    // Held: stage 4 is ready, yet nothing launches, and the run is not over.
    await holdsFor("nothing launched while the circuit is open", 1500, () => eventsOf(sb, "broken", "stage_launched").length === 3 && eventsOf(sb, "broken", "orchestration_complete").length === 0);
    expect(eventsOf(sb, "broken", "stage_launched").map((e) => e.stage)).toEqual(["1", "2", "3"]);
    expect(eventsOf(sb, "broken", "orchestration_complete")).toHaveLength(0);
    const review = eventsOf(sb, "broken", "review_requested").find((e) => e.key === "circuit")!;
    expect((await sb.cli(["review", "list"])).stdout).toMatch(/^open\s+.*holds broken's launches$/m);
    const text = readFileSync(review.file as string, "utf8");
    // Each stage's reason: two quick deaths, or (on a loaded machine, the agent slower to die than
    // 10 s) two sessions ended.
    expect(text).toMatch(/stage 1 \(A\): (the agent exited (1 )?within 10 s of its launch, twice|its session ended 2 times)/);
    expect(text).toContain("giving up at once (die-always)");
    const status = await sb.cli(["status", "broken"]);
    expect(status.stdout).toContain("3 stages failed in a row (1, 2, 3)");
    expect(status.stdout).toContain("autorun resume broken");
    // Answering the review is the person saying they looked: the breaker closes and launches resume.
    writeFileSync(review.file as string, text.replace("**Your answer**:\n", "**Your answer**: fixed the setup\n"));
    const closed = await waitFor("the breaker to close", () => eventsOf(sb, "broken", "circuit_closed")[0], 20_000);
    expect(closed.reason).toContain("answered in");
    await waitFor("stage 4 to launch", () => eventsOf(sb, "broken", "stage_launched", "4")[0], 20_000);
    expect(eventsOf(sb, "broken", "stage_launched").map((e) => e.stage)).toEqual(["1", "2", "3", "4"]);
    expect(readFileSync(review.file as string, "utf8")).toContain("fixed the setup");
  });

  it("`autorun resume` closes an open circuit breaker: launches go on and its review is resolved", async ({ sb }) => {
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ pollSeconds: 0.5 }));
    const plan = sb.writePlan("broken.md", ["A", "B", "C", "D"].map((n, i) => `## Stage ${i + 1}: ${n}\nsim: die-always\n`).join("\n"));
    await orchestrate(sb, plan, ["--max-parallel", "1"]);
    await waitFor("the circuit breaker to open", () => eventsOf(sb, "broken", "circuit_open")[0], 60_000);
    const review = await waitFor("its review", () => eventsOf(sb, "broken", "review_requested").find((e) => e.key === "circuit"), 20_000);
    const resumed = await sb.cli(["resume", "broken"]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain("Circuit breaker closed (3 stages failed in a row (1, 2, 3)): launches resume.");
    const closed = await waitFor("the breaker to close", () => eventsOf(sb, "broken", "circuit_closed")[0], 20_000);
    expect(closed.reason).toBe("autorun resume");
    await waitFor("stage 4 to launch", () => eventsOf(sb, "broken", "stage_launched", "4")[0], 20_000);
    expect(eventsOf(sb, "broken", "stage_launched").map((e) => e.stage)).toEqual(["1", "2", "3", "4"]);
    const resolved = await waitFor("its review to be resolved", () => eventsOf(sb, "broken", "review_resolved").find((e) => e.file === review.file), 20_000);
    expect(resolved.reason).toBe("the circuit breaker was closed");
  });

  it("`autorun retry` of a failed stage closes an open circuit breaker too: the stage runs again", async ({ sb }) => {
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ pollSeconds: 0.5, circuitBreaker: 1 }));
    const plan = sb.writePlan("brittle.md", "## Stage 1: A\nsim: die-always\n\n## Stage 2: B\n");
    await orchestrate(sb, plan, ["--max-parallel", "1"]);
    await waitFor("the circuit breaker to open", () => eventsOf(sb, "brittle", "circuit_open")[0], 60_000);
    expect(eventsOf(sb, "brittle", "stage_launched").map((e) => e.stage)).toEqual(["1"]);
    const retried = await sb.cli(["retry", "brittle", "1"]);
    expect(retried.code).toBe(0);
    expect(retried.stdout).toContain("Circuit breaker closed (1 stage failed in a row (1)): launches resume.");
    expect(eventsOf(sb, "brittle", "circuit_closed").map((e) => e.reason)).toEqual(["autorun retry"]);
    await waitFor("stage 1 to launch again", () => eventsOf(sb, "brittle", "stage_launched", "1")[1], 20_000);
  });

  it("a stage that fails with one model runs again with the next model of escalation", async ({ sb }) => {
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ escalation: ["sonnet", "opus"], pollSeconds: 0.5 }));
    const plan = sb.writePlan("hard.md", "## Stage 1: Hard\nsim: needs-opus\n\n## Stage 2: Easy\nDepends on: 1\n");
    await orchestrate(sb, plan, ["--model", "sonnet"]);
    expect(await waitForEnd(sb, "hard")).toBe("completed");
    const escalated = eventsOf(sb, "hard", "stage_escalated", "1");
    expect(escalated).toHaveLength(1);
    expect(escalated[0]).toMatchObject({ model: "opus", from: "sonnet" });
    expect(eventsOf(sb, "hard", "stage_failed")).toHaveLength(0);
    expect(statusOf(sb, "hard")!.stages["1"]).toMatchObject({ status: "completed", model: "opus" });
    // The dependant starts with the configured model again.
    expect(statusOf(sb, "hard")!.stages["2"]).toMatchObject({ status: "completed", model: null });
    const report = (await sb.cli(["report", "hard"])).stdout;
    expect(report).toContain("| 1 | Hard | merged (opus) |");
    expect(report).toMatch(/## Run controls\n\n- .* stage 1: trying again with opus/);
    await expectClean(sb, "hard");
  });
});
