/**
 * `autorun doctor` says where the installed Claude Code lies against the tested range: in it,
 * newer (a warning naming `autorun doctor --claude`), or older than the oldest supported (a problem).
 */
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { fakeClaudeEnv } from "../helpers/fake-claude.js";
import { CLAUDE_TESTED_RANGE } from "../../src/adapters/agent.js";

describe("autorun doctor: the Claude Code version", () => {
  it("is in the tested range at either end of it", async ({ sb }) => {
    for (const version of [CLAUDE_TESTED_RANGE.oldest, CLAUDE_TESTED_RANGE.newest]) {
      const r = await sb.cli(["doctor"], { env: fakeClaudeEnv(sb, { version }) });
      expect(r.stdout).toContain(`✓ claude: ${version}, in the tested range (${CLAUDE_TESTED_RANGE.oldest} to ${CLAUDE_TESTED_RANGE.newest})`);
    }
  });

  it("newer than tested is a warning that says how to check it", async ({ sb }) => {
    const r = await sb.cli(["doctor"], { env: fakeClaudeEnv(sb, { version: "2.2.5" }) });
    expect(r.stdout).toContain(`! claude: 2.2.5 is newer than tested (newest tested ${CLAUDE_TESTED_RANGE.newest})`);
    expect(r.stdout).toContain("autorun doctor --claude");
    expect(r.stdout).not.toMatch(/^✗ claude/m);
    // A warning is not "no problems": the last line counts it.
    expect(r.stdout).not.toContain("No problems left.");
    expect(r.stdout.trim().split("\n").at(-1)).toMatch(/^(?:Nothing to fix|\d+ problems? left); \d+ warnings? \(!\) above\.$/);
  });

  it("older than the oldest supported is a problem", async ({ sb }) => {
    const r = await sb.cli(["doctor"], { env: fakeClaudeEnv(sb, { version: "2.1.100" }) });
    expect(r.stdout).toContain(`✗ claude: 2.1.100 is older than the oldest supported (${CLAUDE_TESTED_RANGE.oldest})`);
    expect(r.code).toBe(1);
  });
});
