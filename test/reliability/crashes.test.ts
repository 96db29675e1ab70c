import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { allPhases, waitFor } from "../helpers/env.js";
import { eventsOf, expectClean, killMonitor, orchestrate, waitForEnd } from "../helpers/orch.js";
import { rng, size, STRESS } from "./stress.js";


const tenStages = [
  "## Stage 1: Root",
  "## Stage 2: A\nDepends on: 1",
  "## Stage 3: B\nDepends on: 1",
  "## Stage 4: C\nDepends on: 1",
  "## Stage 5: D\nDepends on: 2",
  "## Stage 6: E\nDepends on: 3, 4",
  "## Stage 7: F\nDepends on: 5",
  "## Stage 8: G\nDepends on: 6",
  "## Stage 9: H\nDepends on: 7, 8",
  "## Stage 10: I\nDepends on: 9",
].join("\n") + "\n";

// The short form is test/e2e/crashes.test.ts ("survives SIGKILL of the monitor at several points").
describe.runIf(STRESS)("SIGKILL of the monitor at random points (long form)", () => {
  const kills = size(4, 12);
  it(`${kills} kills of a 10-stage run, each followed by resume: every stage launched once and merged`, async ({ sb }) => {
    const seed = Number(process.env.AUTORUN_SEED ?? Date.now() % 100000);
    const random = rng(seed);
    console.log(`SIGKILL harness seed ${seed} (AUTORUN_SEED=${seed} repeats it)`);
    const plan = sb.writePlan("ten.md", tenStages);
    await orchestrate(sb, plan);
    let killed = 0;
    while (killed < kills && !sb.events("ten").some((e) => e.type === "orchestration_complete")) {
      await new Promise((r) => setTimeout(r, 150 + random() * 900));
      if (!(await killMonitor(sb, "ten"))) continue;
      killed++;
      const r = await sb.cli(["resume", "ten"]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(await waitForEnd(sb, "ten", 120_000)).toBe("completed");
    expect(killed).toBeGreaterThanOrEqual(Math.min(kills, 3));
    for (let id = 1; id <= 10; id++) {
      expect(eventsOf(sb, "ten", "stage_launched", String(id)), `stage ${id}`).toHaveLength(1);
      expect(eventsOf(sb, "ten", "merge_complete", String(id)), `stage ${id}`).toHaveLength(1);
    }
    // One merge commit per stage: a merge commit made ahead by a monitor killed before it moved the
    // base must not come back in through a dependant's branch (the graph says how, if it does).
    const merges = (await sb.git("log", "--merges", "--format=%h %p %s", "main")).split("\n");
    expect(merges, await sb.git("log", "--graph", "--oneline", "--all")).toHaveLength(10);
    await expectClean(sb, "ten");
  }, 300_000);
});

describe.runIf(STRESS)("tmux server killed mid-run (long form)", () => {
  it("a 10-stage run completes after kill-server", async ({ sb }) => {
    const plan = sb.writePlan("ten.md", tenStages);
    allPhases(sb);
    await orchestrate(sb, plan);
    await waitFor("stages 2-4 working", () => ["2", "3", "4"].every((id) => eventsOf(sb, "ten", "phase_status", id).length >= 1), 60_000);
    await sb.tmux("kill-server");
    expect(await waitForEnd(sb, "ten", 180_000)).toBe("completed");
    for (let id = 1; id <= 10; id++) expect(eventsOf(sb, "ten", "stage_launched", String(id))).toHaveLength(1);
    await expectClean(sb, "ten");
  }, 300_000);
});
