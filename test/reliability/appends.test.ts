import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { execa } from "execa";
import { CLI } from "../helpers/env.js";
import { eventSchema } from "../../src/types/schemas.js";
import { size } from "./stress.js";


describe("concurrent appends through `autorun event`", () => {
  const procs = size(8, 32);
  const each = size(60, 500);
  it(`${procs} processes × ${each} appends: every line intact and counted`, async ({ sb }) => {
    const plan = sb.writePlan("appends.md", "## Stage 1: A\n## Stage 2: B\n");
    expect((await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", JSON.stringify(["sleep", "600", "{stage}"])])).code).toBe(0);
    const orchDir = join(sb.home, "orchestration", "appends");
    // Each worker runs the real CLI entry (commander, validation, append) in a loop, in its own process.
    const worker = `
      const { main } = await import(${JSON.stringify(CLI)});
      const [w, n] = process.argv.slice(1).map(Number);
      for (let i = 0; i < n; i++) {
        const code = await main(["node", "autorun", "event", "stage_idle", "--stage", String(1 + (i % 2)), "source=hook", "reason=w" + w + "-" + i + "-" + "x".repeat(200)]);
        if (code !== 0) process.exit(10 + code);
      }`;
    const started = readFileSync(join(orchDir, "events.jsonl"), "utf8").split("\n").filter(Boolean).length;
    const results = await Promise.all(
      Array.from({ length: procs }, (_, w) =>
        execa(process.execPath, ["--input-type=module", "-e", worker, String(w), String(each)], { env: { ...sb.env, AUTORUN_ORCH_DIR: orchDir }, reject: false }),
      ),
    );
    expect(results.map((r) => r.exitCode)).toEqual(Array(procs).fill(0));
    const lines = readFileSync(join(orchDir, "events.jsonl"), "utf8").split("\n");
    expect(lines.pop()).toBe("");
    const parsed = lines.map((l) => eventSchema.safeParse(JSON.parse(l)));
    expect(parsed.every((p) => p.success)).toBe(true);
    const reasons = lines.slice(started).map((l) => (JSON.parse(l) as { reason: string }).reason);
    expect(reasons).toHaveLength(procs * each);
    expect(new Set(reasons).size).toBe(procs * each);
    // Per worker, its own appends stay in order.
    for (let w = 0; w < procs; w++) {
      const mine = reasons.filter((r) => r.startsWith(`w${w}-`)).map((r) => Number(r.split("-")[1]));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
  });
});

describe("status.json under heavy writes", () => {
  // The long form (3 000 writes, each refolding the log) takes ~25 s alone, more beside other files.
  it("is never torn for a reader in a tight loop", { timeout: size(60_000, 180_000) }, async ({ sb }) => {
    const plan = sb.writePlan("torn.md", Array.from({ length: 40 }, (_, i) => `## Stage ${i + 1}: Stage with a long name to make the file bigger ${i}\n`).join(""));
    expect((await sb.cli(["orchestrate", plan, "--no-monitor", "--max-parallel", "1", "--agent-cmd", JSON.stringify(["sleep", "600", "{stage}"])])).code).toBe(0);
    const orchDir = join(sb.home, "orchestration", "torn");
    const statusFile = join(orchDir, "status.json");
    const writes = size(300, 3000);
    const writer = `
      const { orchPaths } = await import(${JSON.stringify(join(CLI, "..", "state", "paths.js"))});
      const { appendEvent } = await import(${JSON.stringify(join(CLI, "..", "state", "events.js"))});
      const { rebuildStatus } = await import(${JSON.stringify(join(CLI, "..", "state", "status.js"))});
      const paths = orchPaths(process.env.AUTORUN_HOME, "torn", "torn");
      for (let i = 0; i < Number(process.argv[1]); i++) {
        appendEvent(paths.events, { orch_dir: paths.dir, plan_name: "torn", project_slug: "torn", stage: String(1 + (i % 40)), type: "stage_attention", attention: null, reason: "r" + i });
        await rebuildStatus(paths);
      }`;
    const writers = [0, 1].map(() => execa(process.execPath, ["--input-type=module", "-e", writer, String(writes / 2)], { env: sb.env }));
    let reads = 0;
    let torn = 0;
    let done = false;
    void Promise.all(writers).finally(() => (done = true));
    while (!done) {
      try {
        const text = readFileSync(statusFile, "utf8");
        JSON.parse(text);
        reads++;
      } catch {
        torn++;
      }
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(writers);
    expect(torn).toBe(0);
    expect(reads).toBeGreaterThan(100);
    expect(existsSync(statusFile)).toBe(true);
  });
});
