import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parsePlan } from "../../src/core/parse-plan.js";
import { UserError } from "../../src/errors.js";
import { checkModels } from "../../src/core/stage-settings.js";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return (error as Error).message;
  }
  throw new Error("no error");
}

const dir = join(import.meta.dirname, "..", "fixtures", "plans");
type Good = Record<string, { stages: [string, string, string[]][]; waves?: string[][]; settings?: Record<string, object> }>;
type Bad = Record<string, { message: string; line?: number }>;
const good = JSON.parse(readFileSync(join(dir, "good", "expected.json"), "utf8")) as Good;
const bad = JSON.parse(readFileSync(join(dir, "bad", "expected.json"), "utf8")) as Bad;

describe("parsePlan: plans people write", () => {
  it("has a corpus of at least 25 good plans", () => expect(Object.keys(good).length).toBeGreaterThanOrEqual(25));
  it.each(Object.entries(good))("%s", (file, want) => {
    const plan = parsePlan(file, readFileSync(join(dir, "good", file), "utf8"));
    expect(plan.stages.map((s) => [s.id, s.name, s.depends_on])).toEqual(want.stages);
    if (want.waves) expect(plan.waves).toEqual(want.waves);
    const settings = Object.fromEntries(plan.stages.filter((s) => s.settings).map((s) => [s.id, s.settings]));
    expect(settings).toEqual(want.settings ?? {});
  });
});

describe("parsePlan: malformed plans", () => {
  it("has a corpus of at least 15 bad plans", () => expect(Object.keys(bad).length).toBeGreaterThanOrEqual(15));
  it.each(Object.entries(bad))("%s", (file, want) => {
    let error: unknown;
    try {
      parsePlan(file, readFileSync(join(dir, "bad", file), "utf8"));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    const message = (error as Error).message;
    expect(message).toContain(want.message);
    expect(message.startsWith(`${file}${want.line ? `:${want.line}` : ""}`)).toBe(true);
    expect(message.split("\n")).toHaveLength(1);
  });
});

describe("parsePlan: details", () => {
  it("warns when a table contradicts the dependencies under a heading, and uses both", () => {
    const text = "## Stage 1: A\n## Stage 2: B\n## Stage 3: C\nDepends on: 1\n\n| Stage | Depends on |\n|---|---|\n| 3 | 2 |\n| 2 | 1 |\n";
    const plan = parsePlan("p.md", text);
    expect(plan.stages.find((s) => s.id === "3")!.depends_on).toEqual(["1", "2"]);
    expect(plan.warnings).toEqual(["p.md:8: stage 3's dependencies in the table (2) differ from those stated at its heading (line 3); both are used"]);
    expect(parsePlan("p.md", "## Stage 1: A\n## Stage 2: B\nDepends on: 1\n\n| Stage | Depends on |\n|---|---|\n| 2 | 1 |\n").warnings).toBeUndefined();
  });

  it("warns (never refuses) when only one stage names an exclusive resource", () => {
    const plan = parsePlan("p.md", "## Stage 1: A\nExclusive: database\n## Stage 2: B\nExclusive: databse\n## Stage 3: C\nExclusive: database\n");
    expect(plan.warnings).toEqual(['p.md:4: stage 2 is the only stage that names the exclusive resource "databse", so it holds nothing back; check the spelling or name it in the stages that share it']);
  });

  it("warns of a setting label a letter or two off, with a value that setting takes; prose and code are left alone", () => {
    const text = "## Stage 1: A\nModell: opus\n- **Max attempt**: 2\nHosts: box1\nValidat: npm test\nMode: fast\nNotes: tests\nModels are described in the docs.\n```\nBudgt: $5\n```\n## Stage 2: B\nDo it.\n";
    const plan = parsePlan("p.md", text);
    expect(plan.stages[0]!.settings).toBeUndefined();
    expect(plan.warnings).toEqual([
      'p.md:2: stage 1: "Modell" is not a setting, so "Modell: opus" is read as instructions for its agent; if it is meant as one, write "Model: opus"',
      'p.md:3: stage 1: "Max attempt" is not a setting, so "- **Max attempt**: 2" is read as instructions for its agent; if it is meant as one, write "Max attempts: 2"',
      'p.md:4: stage 1: "Hosts" is not a setting, so "Hosts: box1" is read as instructions for its agent; if it is meant as one, write "Host: box1"',
      'p.md:5: stage 1: "Validat" is not a setting, so "Validat: npm test" is read as instructions for its agent; if it is meant as one, write "Validate: npm test"',
    ]);
    expect(parsePlan("p.md", "## Stage 1: A\nModel: opus\nMax attempts: 2\n").warnings).toBeUndefined();
  });

  it("a YAML stage's key a letter or two off one autorun reads: a dependency refused, a setting warned of; the plan's own keys left alone", () => {
    const yaml = (stage: string) => `stages:\n  - id: 1\n    name: A\n  - id: 2\n    name: B\n${stage}`;
    expect(() => parsePlan("p.yaml", yaml("    dependson: [1]\n"))).toThrow('p.yaml:6: stage 2: "dependson" is not a key autorun reads, so the stage would not wait for what it lists; write "depends_on".');
    expect(() => parsePlan("p.yaml", yaml("    depends-on: 1\n"))).toThrow('"depends-on" is not a key autorun reads');
    const plan = parsePlan("p.yaml", yaml("    modle: opus\n    max_attempt: 2\n    owner: ana\n    estimate: 2d\n    depends_on: [1]\n"));
    expect(plan.stages[1]!.depends_on).toEqual(["1"]);
    expect(plan.warnings).toEqual([
      'p.yaml:6: stage 2: "modle" is not a key autorun reads, so it is ignored; if it is meant as one, write "model"',
      'p.yaml:7: stage 2: "max_attempt" is not a key autorun reads, so it is ignored; if it is meant as one, write "max_attempts"',
    ]);
  });

  it("names the line a setting is written on when it is refused, in markdown and YAML", () => {
    const md = parsePlan("p.md", "# P\n## Stage 1: A\nSome words.\n\nModel: gpt9\n");
    expect(errorOf(() => checkModels("p.md", md.stages))).toMatch(/^p\.md:5: stage 1: /);
    const yaml = parsePlan("p.yaml", "stages:\n  - id: a\n    name: A\n    model: gpt9\n");
    expect(errorOf(() => checkModels("p.yaml", yaml.stages))).toMatch(/^p\.yaml:4: stage a: /);
  });

  it("reads no setting from prose or code: a capitalised model, an unfinished status, a Model line in a code block", () => {
    const plan = parsePlan("p.md", "## Stage 1: Models\nModel: User has many Orders\nStatus: in progress\n```\nModel: opus\n```\n");
    expect(plan.stages[0]!.settings).toBeUndefined();
  });

  it("keeps the body up to the next stage heading as the scope", () => {
    const plan = parsePlan("p.md", "## Stage 1: A\nline one\n\n### Details\nline two\n## Stage 2: B\nother\n");
    expect(plan.stages[0]!.scope).toBe("line one\n\n### Details\nline two");
    expect(plan.stages[1]!.scope).toBe("other");
  });
  it("takes the scope of a front-matter stage from the body heading with the same id", () => {
    const plan = parsePlan("p.md", readFileSync(join(dir, "good", "front-matter.md"), "utf8"));
    expect(plan.stages[0]!.scope).toBe("Alpha's scope from the body.");
  });
  it("reads base_branch from a YAML plan", () => {
    expect(parsePlan("p.yaml", readFileSync(join(dir, "good", "yaml-stages.yaml"), "utf8")).base_branch).toBe("develop");
  });
  it("is fast on 10,000 stages", () => {
    const text = Array.from({ length: 10_000 }, (_, i) => `## Stage ${i + 1}: S\n${i ? `Depends on: ${i}\n` : ""}`).join("");
    const plan = parsePlan("big.md", text);
    expect(plan.stages).toHaveLength(10_000);
    expect(plan.waves).toHaveLength(10_000);
  });
});
