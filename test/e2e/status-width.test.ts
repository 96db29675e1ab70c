import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { idleRun, sleepAgent } from "../helpers/orch.js";
import { displayWidth } from "../../src/core/text-width.js";

describe("autorun status in 80 columns (built CLI, real tmux)", () => {
  it("rows fit 80 columns when not a terminal, wide names line up, --wide shows every column", async ({ sb }) => {
    await idleRun(sb, "width", "## Stage 1: 数据库迁移和索引重建工作\n## Stage 2: Refactor the authentication middleware and its tests\n## Stage 3: Release 🚀 notes\n");
    const r = await sb.cli(["status", "width"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    const start = lines.findIndex((l) => l.startsWith("STAGE"));
    const rows = lines.slice(start, start + 4);
    for (const row of rows) expect(displayWidth(row), row).toBeLessThanOrEqual(80);
    const statusAt = (row: string, word: string) => displayWidth(row.slice(0, row.indexOf(word)));
    expect(new Set([statusAt(rows[0]!, "STATUS"), ...rows.slice(1).map((row) => statusAt(row, "starting"))]).size).toBe(1);
    expect(r.stdout).toContain("not shown at this width: autorun status width --wide)");
    const wide = await sb.cli(["status", "width", "--wide"]);
    expect(wide.stdout.split("\n").find((l) => l.startsWith("STAGE"))).toMatch(/BRANCH\/MERGE\s+SESSION$/);
  });
  it("says 1 stage, 1 wave; the list of runs names each one's project", async ({ sb }) => {
    const plan = sb.writePlan("one.md", "## Stage 1: Only\n");
    const r = await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", sleepAgent]);
    expect(r.stdout).toContain("Orchestrating one (1 stage, 1 wave)");
    // No monitor moves it: its line says so, with what goes on.
    expect((await sb.cli(["status"])).stdout).toMatch(/^one\s+running\s+repo\s+0\/1 stages finished, no monitor \(to go on: autorun resume one\)  started /m);
  });
});
