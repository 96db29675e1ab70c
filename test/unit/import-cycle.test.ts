/**
 * The lint rule that holds "no import cycle in src/" (scripts/eslint-no-import-cycle.js): over a
 * small tree in a temp dir, a cycle (type imports included) is reported with its path, and an
 * import that goes one way is not.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Linter } from "eslint";
import tseslint from "typescript-eslint";
// @ts-expect-error: a plain ES module, loaded by eslint.config.js
import { noImportCycle } from "../../scripts/eslint-no-import-cycle.js";

const root = mkdtempSync(join(tmpdir(), "autorun-cycle-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, name, ".."), { recursive: true });
    writeFileSync(join(root, name), text);
  }
}

function lint(name: string, text: string): string[] {
  const linter = new Linter({ configType: "flat", cwd: root });
  const messages = linter.verify(text, [{ files: ["**/*.ts"], languageOptions: { parser: tseslint.parser as Linter.Parser }, plugins: { autorun: { rules: { "no-import-cycle": noImportCycle } } }, rules: { "autorun/no-import-cycle": ["error", { root }] } }], join(root, name));
  return messages.map((m) => m.message);
}

describe("no-import-cycle", () => {
  write({
    "a.ts": 'import { b } from "./b.js";\nexport const a = b;\n',
    "b.ts": 'import type { C } from "./sub/c.js";\nexport const b = 1;\nexport type B = C;\n',
    "sub/c.ts": 'import type { a } from "../a.js";\nexport type C = typeof a;\n',
    "d.ts": 'import { b } from "./b.js";\nexport const d = b;\n',
  });

  it("reports an import that leads back to the file, with the cycle, type imports included", () => {
    expect(lint("a.ts", 'import { b } from "./b.js";\nexport const a = b;\n')).toEqual(["import cycle: a.ts → b.ts → sub/c.ts → a.ts. Move what both sides need into a module below them."]);
    expect(lint("sub/c.ts", 'import type { a } from "../a.js";\nexport type C = typeof a;\n')).toHaveLength(1);
  });

  it("says nothing of imports that go one way", () => {
    expect(lint("d.ts", 'import { b } from "./b.js";\nexport const d = b;\n')).toEqual([]);
  });
});
