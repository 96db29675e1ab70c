/**
 * The docs say what the code does: every test file docs/RELIABILITY.md names as proof exists, and
 * README's configuration table lists every setting with the default the code has.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../../src/state/config.js";
import { configFields } from "../../src/types/config-schema.js";

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
});
