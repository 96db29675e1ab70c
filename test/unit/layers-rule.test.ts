/**
 * The lint rule that holds the layers of src/ (scripts/eslint-layers.js, its table in
 * eslint.config.js): over a small tree, an import down or within a layer passes, and one up — a
 * static, type-only, re-exported or dynamic one — fails naming both layers; a file in no layer fails.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Linter } from "eslint";
import tseslint from "typescript-eslint";
// @ts-expect-error: a plain ES module, loaded by eslint.config.js
import { layers } from "../../scripts/eslint-layers.js";

const root = "/virtual/src";
const table = [
  { name: "types", path: "types/", may: [] },
  { name: "core", path: "core/", may: ["types"] },
  { name: "state", path: "state/", may: ["core", "types"] },
  { name: "cli", path: "cli.ts", may: ["state", "core", "types"] },
];

const sealed = [{ module: "state/append.ts", names: ["appendLine"], layer: "state", why: "through the writer" }];

function lint(name: string, text: string): string[] {
  const linter = new Linter({ configType: "flat", cwd: root });
  const config = [{ files: ["**/*.ts"], languageOptions: { parser: tseslint.parser as Linter.Parser }, plugins: { autorun: { rules: { layers } } }, rules: { "autorun/layers": ["error", { root, layers: table, sealed }] } }] as Linter.Config[];
  return linter.verify(text, config, join(root, name)).map((m) => m.message);
}

describe("autorun/layers", () => {
  it("passes imports within a layer and down to the layers it may use", () => {
    expect(lint("state/a.ts", 'import { x } from "./b.js";\nimport type { T } from "../types/t.js";\nimport { f } from "../core/f.js";\nexport { y } from "../core/y.js";\n')).toEqual([]);
    expect(lint("cli.ts", 'const m = await import("./state/a.js");\nexport default m;\n')).toEqual([]);
    expect(lint("core/f.ts", 'import { z } from "zod";\nimport { readFileSync } from "node:fs";\n')).toEqual([]);
  });

  it("fails an import up a layer, whatever its form, naming both layers and what is allowed", () => {
    expect(lint("core/f.ts", 'import { a } from "../state/a.js";\n')).toEqual([
      "core/f.ts (core) may not import state/a.ts (state): core may use only types (docs/ARCHITECTURE.md, Layers). Move what both need into a layer below them.",
    ]);
    expect(lint("core/f.ts", 'import type { A } from "../state/a.js";\n')).toHaveLength(1);
    expect(lint("core/f.ts", 'export * from "../state/a.js";\n')).toHaveLength(1);
    expect(lint("core/f.ts", 'export async function g() { return import("../state/a.js"); }\n')).toHaveLength(1);
    expect(lint("types/t.ts", 'import { f } from "../core/f.js";\n')).toEqual([
      "types/t.ts (types) may not import core/f.ts (core): types may use only nothing (docs/ARCHITECTURE.md, Layers). Move what both need into a layer below them.",
    ]);
    expect(lint("state/a.ts", 'import "../cli.js";\n')).toHaveLength(1);
  });

  it("keeps a sealed export to its own layer; the module's other exports stay open", () => {
    expect(lint("cli.ts", 'import { appendLine, readFirstLine } from "./state/append.js";\n')).toEqual(["cli.ts may not import appendLine from state/append.ts: only state may (through the writer)."]);
    expect(lint("cli.ts", 'import { readFirstLine } from "./state/append.js";\n')).toEqual([]);
    expect(lint("state/events.ts", 'import { appendLine } from "./append.js";\n')).toEqual([]);
  });

  it("fails a file that is in no layer of the table", () => {
    expect(lint("stray/x.ts", "export const x = 1;\n")).toEqual(["stray/x.ts is in no layer of the table; add it to the layers in eslint.config.js and docs/ARCHITECTURE.md."]);
  });
});
