/**
 * `autorun doctor --claude` with each pinned Claude Code as the person's `claude` on PATH: every
 * screen and hook is reported understood, and the person's HOME (a temp one here) is untouched.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLAUDES, describeClaude, it } from "./harness.js";

/** Every file under `dir` with its contents (directories as ""), to compare before and after. */
function snapshot(dir: string, out: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    out[path] = statSync(path).isDirectory() ? "" : readFileSync(path, "utf8");
    if (statSync(path).isDirectory()) snapshot(path, out);
  }
  return out;
}

const ITEMS = ["welcome screen", "SessionStart hook", "typed screen", "busy screen", "UserPromptSubmit hook", "interrupted screen", "idle screen", "Stop hook", "permission dialog screen", "Notification hook", "PermissionRequest hook", "hook-answered call screen", "429 usage limit screen", "login error screen"];

describeClaude("autorun doctor --claude", (cc) => {
  it("drives the installed claude through every screen and hook, touching nothing of the person's", async ({ sb, expect }) => {
    // The person: a HOME with their own Claude Code config, claude on PATH, their own TMPDIR.
    const home = join(sb.dir, "person");
    mkdirSync(join(home, ".claude"), { recursive: true });
    writeFileSync(join(home, ".claude.json"), JSON.stringify({ hasCompletedOnboarding: true, projects: {} }));
    writeFileSync(join(home, ".claude", "settings.json"), JSON.stringify({ theme: "light" }));
    const bin = join(sb.dir, "bin");
    mkdirSync(bin);
    symlinkSync(cc.bin, join(bin, "claude"));
    const tmp = join(sb.dir, "tmp");
    mkdirSync(tmp);
    Object.assign(sb.env, { HOME: home, PATH: `${bin}:${sb.env.PATH}`, TMPDIR: tmp, ANTHROPIC_API_KEY: "sk-ant-the-persons-own-key" });
    const before = snapshot(home);

    const r = await sb.cli(["doctor", "--claude"], { timeout: 180_000 });
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`claude: ${cc.version}, in the tested range`);
    for (const item of ITEMS) expect.soft(r.stdout, r.stdout).toMatch(new RegExp(`^✓ ${item}: `, "m"));
    expect(r.stdout).not.toContain("✗");
    expect(r.stdout).toContain(`autorun understood Claude Code ${cc.version}`);
    expect(r.code).toBe(0);

    // Nothing of the person's read into the check or written, nothing left behind.
    expect(snapshot(home)).toEqual(before);
    expect(readdirSync(tmp)).toEqual([]);
    expect((await sb.tmux("list-sessions")).code).not.toBe(0);
  }, 240_000);

  // (Once: the claude here is a stand-in that only shares the version.)
  it.skipIf(cc !== CLAUDES[0])("says what is not understood and exits 1 when claude cannot be driven", async ({ sb, expect }) => {
    // A claude that answers --version like this one but never draws a screen.
    const bin = join(sb.dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "claude"), `#!/bin/sh\n[ "$1" = --version ] && echo "${cc.version} (Claude Code)" && exit 0\nsleep 60\n`, { mode: 0o755 });
    const tmp = join(sb.dir, "tmp");
    mkdirSync(tmp);
    Object.assign(sb.env, { PATH: `${bin}:${sb.env.PATH}`, TMPDIR: tmp });
    const r = await sb.cli(["doctor", "--claude"], { timeout: 120_000 });
    expect(r.stdout).toMatch(/^✗ welcome screen: did not appear/m);
    expect(r.stdout).toMatch(/for an unattended run: /);
    expect(r.stdout).toMatch(/^✗ 429 usage limit screen/m);
    expect(r.code).toBe(1);
    expect(readdirSync(tmp)).toEqual([]);
  }, 180_000);
});
