/**
 * Every malformed plan of the corpus through the built CLI: one line, exit 2, nothing written —
 * for `--dry-run` and for the real run. One sandbox for the corpus (nothing may be written, so
 * sharing it checks that too), the two runs of each plan side by side.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSandbox, ROOT, type Sandbox } from "../helpers/env.js";
import { fakeClaudeEnv } from "../helpers/fake-claude.js";

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

  it("an unknown model, in the plan or the flags, is refused at dry run with the known names; one named in prices is not", async () => {
    const plan = sb.writePlan("models.md", "## Stage 1: A\n\n## Stage 2: B\nModel: gpt-9\n");
    const refused = await sb.cli(["orchestrate", plan, "--dry-run"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe('autorun: models.md:4: stage 2: unknown model "gpt-9"; use opus, sonnet, haiku, opusplan, default, or a full id such as claude-sonnet-4-5, or give its price under `prices` in the configuration.');
    const flag = await sb.cli(["orchestrate", sb.writePlan("plain.md", "## Stage 1: A\n"), "--dry-run", "--model", "sonnett"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--model / model: unknown model "sonnett"');
    const config = join(sb.repo, "autorun.config.json");
    writeFileSync(config, JSON.stringify({ prices: { "gpt-9": { input: 1, output: 2 } } }));
    try {
      const priced = await sb.cli(["orchestrate", plan, "--dry-run"], { env: fakeClaudeEnv(sb) });
      expect(priced.code, priced.stderr).toBe(0);
      expect(priced.stdout).toContain("model gpt-9");
    } finally {
      rmSync(config);
    }
    expect(readdirSync(sb.home)).toEqual([]);
  });
});

