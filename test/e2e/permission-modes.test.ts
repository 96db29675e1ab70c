/**
 * A permission mode the installed Claude Code does not have is refused before anything is written;
 * the claude here is a stand-in that answers --version and --help as a Claude Code without auto mode.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { claudeHome } from "../helpers/claude-api.js";

describe("permission modes the installed Claude Code lacks", () => {
  it("auto is refused with exit 2, naming the version and the fix, and nothing is written", async ({ sb }) => {
    const bin = join(sb.dir, "bin");
    mkdirSync(bin);
    const claude = join(bin, "claude");
    writeFileSync(
      claude,
      `#!/bin/sh\ncase "$1" in\n  --version) echo "2.1.90 (Claude Code)";;\n  --help) printf '  --permission-mode <mode>  Permission mode to use for the session\\n      (choices: "acceptEdits", "bypassPermissions",\\n      "default", "plan")\\n';;\nesac\n`,
    );
    chmodSync(claude, 0o755);
    const plan = sb.writePlan("modes.md", "## Stage 1: Never\n");
    const env = { HOME: claudeHome(sb.dir, [sb.repo]) };
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", claude, "--permission-mode", "auto"], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/permissionMode "auto" needs a Claude Code with auto mode, and this one offers acceptEdits, bypassPermissions, default, plan \(.*claude is Claude Code 2\.1\.90\); update it .* or set permissionMode to "acceptEdits"/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(existsSync(join(sb.home, "orchestration", "modes"))).toBe(false);
    expect(await sb.git("status", "--porcelain")).toBe("?? modes.md");
  });
});
