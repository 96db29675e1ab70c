// After tsc: make the entry points executable (tsc drops the mode bit) and write dist/bin/autorun,
// the command agent sessions find first on PATH, so hooks can run plain `autorun hook …` with no
// quoting. A real file, not a symlink: npm pack leaves symlinks out.
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
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
