/**
 * Every malformed plan of the corpus through the built CLI: one line, exit 2, nothing written —
 * for `--dry-run` and for the real run. One sandbox for the corpus (nothing may be written, so
 * sharing it checks that too), the two runs of each plan side by side.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSandbox, ROOT, type Sandbox } from "../helpers/env.js";

let sb: Sandbox;
beforeAll(async () => {
  sb = await makeSandbox();
});
afterAll(async () => sb.cleanup());

const fixtures = join(ROOT, "test", "fixtures", "plans");
const bad = JSON.parse(readFileSync(join(fixtures, "bad", "expected.json"), "utf8")) as Record<string, { message: string }>;

describe("bad plans: one line, exit 2, nothing written", () => {
  it.each(Object.entries(bad))("%s", async (file, want) => {
    const plan = sb.writePlan(file, readFileSync(join(fixtures, "bad", file), "utf8"));
    const runs = await Promise.all([["orchestrate", plan, "--dry-run"], ["orchestrate", plan]].map((args) => sb.cli(args)));
    for (const r of runs) {
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(want.message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(file);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(readdirSync(sb.home)).toEqual([]);
  });
});
