/**
 * The docs say what the code does: every test file docs/RELIABILITY.md names as proof exists,
 * README's configuration table lists every setting with the default the code has, and README's
 * plan examples parse as it says.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../../src/state/config.js";
import { configFields } from "../../src/types/config-schema.js";
import { parsePlan } from "../../src/core/parse-plan.js";

const ROOT = join(import.meta.dirname, "..", "..");
const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

describe("the docs", () => {
  it("RELIABILITY names only test files that exist", () => {
    const named = [...new Set([...read("docs/RELIABILITY.md").matchAll(/`(test\/[^`\s]+\.ts)`/g)].map((m) => m[1]!))];
    expect(named.length).toBeGreaterThan(20);
    expect(named.filter((f) => !existsSync(join(ROOT, f)))).toEqual([]);
  });

  it("README's configuration table has every setting, with the default the code has", () => {
    const rows = new Map([...read("README.md").matchAll(/^\| `(\w+)` \| (.*) \|$/gm)].map((m) => [m[1]!, m[2]!]));
    const keys = Object.keys(configFields.shape);
    expect(keys.filter((k) => !rows.has(k))).toEqual([]);
    const wrong = Object.entries(DEFAULT_CONFIG)
      .filter(([k, v]) => keys.includes(k) && ["number", "string", "boolean"].includes(typeof v))
      // Written "(4)", "(`eager`)", "(`acceptEdits`: what it means …)" or "(3; 0: never)".
      .filter(([k, v]) => !new RegExp(`\\(\`?${String(v).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\`?[);:]`).test(rows.get(k)!))
      .map(([k, v]) => `${k}: ${String(v)}`);
    expect(wrong).toEqual([]);
  });

  it("README's plan examples parse: the heading forms, the table, the waves", () => {
    const formats = read("README.md").split("## Master plan formats")[1]!;
    const examples = [...formats.matchAll(/```markdown\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/ +←.*$/gm, ""));
    expect(examples.length).toBeGreaterThanOrEqual(3);
    const [headings, table] = examples.map((text, i) => parsePlan(`example-${i + 1}.md`, text));
    expect(headings!.stages.map((s) => [s.id, s.depends_on])).toEqual([["1", []], ["2", ["1"]], ["3", ["1", "2"]], ["4", ["2", "3"]]]);
    expect(table!.stages.map((s) => [s.id, s.name, s.depends_on])).toEqual([["1", "Setup", []], ["2", "Build", ["1"]]]);
  });
});
