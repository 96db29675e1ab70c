// After tsc: bundle the command, make the entry points executable (tsc drops the mode bit) and write
// dist/bin/autorun, the command agent sessions find first on PATH, so hooks can run plain
// `autorun hook …` with no quoting. A real file, not a symlink: npm pack leaves symlinks out.
//
// dist/src/cli.js is replaced by an esbuild bundle of src/cli.ts, split at its dynamic imports
// (dist/src/chunks/): a command loads a few files instead of a hundred, which is most of what
// every `autorun` invocation (an agent's hooks and phase reports included) spends before it runs.
// The rest of tsc's output stays for the tests and the simulated agent.
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
rmSync(root + "dist/src/chunks", { recursive: true, force: true });
await build({
  entryPoints: [root + "src/cli.ts"],
  outdir: root + "dist/src",
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  // blessed finds its terminal descriptions beside its own files.
  external: ["blessed"],
  // The CommonJS dependencies inside an ES module bundle need require, __filename and __dirname.
  banner: {
    js: [
      'import { createRequire as __autorunCreateRequire } from "node:module";',
      'import { fileURLToPath as __autorunFileURLToPath } from "node:url";',
      "const require = __autorunCreateRequire(import.meta.url);",
      "const __filename = __autorunFileURLToPath(import.meta.url);",
      'const __dirname = __autorunFileURLToPath(new URL(".", import.meta.url));',
    ].join(" "),
  },
  logLevel: "warning",
});
for (const file of ["dist/src/cli.js", "dist/scripts/sim-agent.js"]) {
  if (existsSync(root + file)) chmodSync(root + file, 0o755);
}
mkdirSync(root + "dist/bin", { recursive: true });
rmSync(root + "dist/bin/autorun", { force: true });
writeFileSync(
  root + "dist/bin/autorun",
  '#!/usr/bin/env node\n// The autorun command (the package is ESM, so this extensionless file is too).\nimport { main } from "../src/cli.js";\n\nprocess.exitCode = await main(process.argv);\n',
  { mode: 0o755 },
);
