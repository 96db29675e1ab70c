// After tsc: make the entry points executable (tsc drops the mode bit) and give the CLI a
// `dist/bin/autorun` name, so agent sessions can put dist/bin first on PATH and hooks can run
// plain `autorun hook …` with no quoting.
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
for (const file of ["dist/src/cli.js", "dist/scripts/sim-agent.js"]) {
  if (existsSync(root + file)) chmodSync(root + file, 0o755);
}
mkdirSync(root + "dist/bin", { recursive: true });
rmSync(root + "dist/bin/autorun", { force: true });
symlinkSync("../src/cli.js", root + "dist/bin/autorun");
