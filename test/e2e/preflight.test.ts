/**
 * One preflight for the dry run and the real run: each check refuses both, exit 2, on the same
 * grounds, the dry run listing every refusal and the real run writing and launching nothing.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import type { Sandbox } from "../helpers/env.js";
import { fakeClaudeEnv } from "../helpers/fake-claude.js";
import { statusOf } from "../helpers/orch.js";

const KEY = "sk-ant-api03-0123456789abcdefghijklmnopqrstuvwxyz-TESTKEY";

/** The dry run and the real run of a one-stage plan, with `env` and `flags`. */
async function both(sb: Sandbox, env: NodeJS.ProcessEnv, flags: string[] = []) {
  const plan = sb.writePlan("pre.md", "## Stage 1: A\n");
  const dry = await sb.cli(["orchestrate", plan, "--dry-run", ...flags], { env });
  const real = await sb.cli(["orchestrate", plan, "--no-monitor", ...flags], { env });
  return { dry, real };
}

async function expectRefusedBoth(sb: Sandbox, env: NodeJS.ProcessEnv, message: RegExp, flags: string[] = []): Promise<void> {
  const { dry, real } = await both(sb, env, flags);
  expect(dry.code, dry.stderr).toBe(2);
  expect(dry.stderr).toMatch(new RegExp(`autorun: the run would refuse: ${message.source}`));
  expect(dry.stdout).toContain("Stage 1: A");
  expect(real.code, real.stderr).toBe(2);
  expect(real.stderr).toMatch(message);
  expect(existsSync(join(sb.home, "orchestration", "pre"))).toBe(false);
  expect((await sb.tmux("list-sessions")).code).not.toBe(0);
}

describe("one preflight for the dry run and the real run", () => {
  it("passes both when everything is in place (the stand-in claude, trusted, an approved key)", async ({ sb }) => {
    const { dry } = await both(sb, { ...fakeClaudeEnv(sb, { approvedKeys: [KEY] }), ANTHROPIC_API_KEY: KEY });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toBe("");
  });

  it("the agent command is not installed", async ({ sb }) => {
    await expectRefusedBoth(sb, { PATH: "/usr/bin:/bin" }, /the agent command "claude" is not installed or not on PATH/);
  });

  it("an interpreter's script that is not there, by its path or in the project", async ({ sb }) => {
    await expectRefusedBoth(sb, {}, /the agent command's script \/nonexistent\/agent\.js does not exist \(node would exit at once in every stage\); fix the path/, ["--agent-cmd", JSON.stringify([process.execPath, "--no-warnings", "/nonexistent/agent.js", "{args}"])]);
    await expectRefusedBoth(sb, {}, /the agent command's script tools\/agent\.sh does not exist in \S+ \(sh would/, ["--agent-cmd", "sh tools/agent.sh"]);
    // Code, a module or a flag's value is no script to look for.
    for (const agent of [[process.execPath, "-e", "x.js"], [process.execPath, "--experimental-loader", "ts-node/esm", "{args}"], ["sh", "-c", "exec sleep 1 # a.sh"]]) {
      const dry = await sb.cli(["orchestrate", sb.writePlan("pre.md", "## Stage 1: A\n"), "--dry-run", "--agent-cmd", JSON.stringify(agent)]);
      expect(dry.stderr, agent.join(" ")).not.toContain("script");
    }
  });

  it("an agent command template that would start the agent in the project's own checkout is warned of, dry and real", async ({ sb }) => {
    const agent = JSON.stringify([process.execPath, "-e", "setTimeout(() => {}, 60000)", "{stage}"]);
    const { dry, real } = await both(sb, {}, ["--agent-cmd", agent]);
    for (const r of [dry, real]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^autorun: warning: agentCommand \[.*\] has placeholders but neither \{args\} nor \{worktree\}, so the agent would start in the project's own checkout, not in its stage's worktree; add "\{args\}"/m);
    }
    expect((await sb.cli(["stop", "pre", "--sessions"])).code).toBe(0);
    // Either one starts it in its worktree.
    for (const ok of [[process.execPath, "/x/agent.js", "{args}"], [process.execPath, "/x/agent.js", "--dir", "{worktree}"]]) {
      const dry = await sb.cli(["orchestrate", sb.writePlan("pre.md", "## Stage 1: A\n"), "--dry-run", "--agent-cmd", JSON.stringify(ok)]);
      expect(dry.stderr).not.toContain("placeholders");
    }
  });

  it("a claude too old for --worktree", async ({ sb }) => {
    await expectRefusedBoth(sb, fakeClaudeEnv(sb, { version: "2.0.10" }), /claude is Claude Code 2\.0\.10, too old for --worktree/);
  });

  it("a project Claude Code has not been trusted in", async ({ sb }) => {
    await expectRefusedBoth(sb, fakeClaudeEnv(sb, { trusted: false }), new RegExp(`Claude Code has not been trusted in .*; run claude in ${sb.repo} once and accept "Yes, I trust this folder", then orchestrate again`));
  });

  it("a permission mode the installed claude does not know", async ({ sb }) => {
    await expectRefusedBoth(sb, fakeClaudeEnv(sb), /permission mode "bypass" is not one claude 2\.1\.197 knows \(acceptEdits, bypassPermissions, default, dontAsk, plan\)/, ["--permission-mode", "bypass"]);
  });

  it("an API key Claude Code has not approved, or rejected", async ({ sb }) => {
    await expectRefusedBoth(sb, { ...fakeClaudeEnv(sb), ANTHROPIC_API_KEY: KEY }, /ANTHROPIC_API_KEY is set but has not been approved in Claude Code yet/);
    await expectRefusedBoth(sb, { ...fakeClaudeEnv(sb, { rejectedKeys: [KEY] }), ANTHROPIC_API_KEY: KEY }, /ANTHROPIC_API_KEY is set but was rejected when Claude Code asked about it/);
  });

  it.runIf(process.getuid?.() === 0)("bypassPermissions as root", async ({ sb }) => {
    await expectRefusedBoth(sb, fakeClaudeEnv(sb), /Claude Code refuses bypassPermissions as root/, ["--permission-mode", "bypassPermissions"]);
  });

  it("no git identity for the merge commits", async ({ sb }) => {
    const env = { ...fakeClaudeEnv(sb), GIT_AUTHOR_NAME: "", GIT_AUTHOR_EMAIL: "", GIT_COMMITTER_NAME: "", GIT_COMMITTER_EMAIL: "", EMAIL: "", HOME: sb.dir, XDG_CONFIG_HOME: sb.dir, GIT_CONFIG_NOSYSTEM: "1" };
    await sb.git("config", "user.useConfigOnly", "true");
    await expectRefusedBoth(sb, env, /git has no identity in .*merge commits need one/);
  });

  it("an identity from GIT_COMMITTER_* alone is one, for doctor as for the run (no configuration of git's)", async ({ sb }) => {
    const env = { ...fakeClaudeEnv(sb), GIT_COMMITTER_NAME: "Ci Bot", GIT_COMMITTER_EMAIL: "ci@example.invalid", HOME: sb.dir, XDG_CONFIG_HOME: sb.dir, GIT_CONFIG_NOSYSTEM: "1" };
    await sb.git("config", "user.useConfigOnly", "true");
    const doctor = await sb.cli(["doctor"], { env });
    expect(doctor.stdout).toMatch(/git identity: Ci Bot <ci@example\.invalid>/);
    expect(doctor.stdout).not.toContain("git has no identity");
    const dry = await sb.cli(["orchestrate", sb.writePlan("ident.md", "## Stage 1: A\n"), "--dry-run"], { env });
    expect(dry.stderr).not.toContain("git has no identity");
  });

  it("several at once: the dry run lists each, the real run names the first and says there are more", async ({ sb }) => {
    const { dry, real } = await both(sb, { ...fakeClaudeEnv(sb, { trusted: false }), ANTHROPIC_API_KEY: KEY }, ["--permission-mode", "bypass"]);
    expect(dry.code).toBe(2);
    expect(dry.stderr.split("\n").filter((l) => l.startsWith("autorun: the run would refuse:"))).toHaveLength(3);
    expect(real.code).toBe(2);
    expect(real.stderr).toContain("(and 2 more; autorun orchestrate <plan> --dry-run lists every one)");
  });
});

describe("retry and resume check the same way", () => {
  it("resume refuses an agent that cannot start", async ({ sb }) => {
    const plan = sb.writePlan("later.md", "## Stage 1: A\n");
    const ok = await sb.cli(["orchestrate", plan, "--no-monitor"], { env: fakeClaudeEnv(sb) });
    expect(ok.code, ok.stderr).toBe(0);
    await sb.tmux("kill-server");
    const r = await sb.cli(["resume", "later"], { env: { ...fakeClaudeEnv(sb), ANTHROPIC_API_KEY: KEY } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ANTHROPIC_API_KEY is set but has not been approved/);
    expect(existsSync(join(sb.home, "orchestration", "later", "monitor.pid"))).toBe(false);
  });
});

describe("a plan changed since its run started", () => {
  it("the dry run says, as the run does, that the run goes on with the stages it started with, and which differ", async ({ sb }) => {
    const agent = JSON.stringify(["sh", "-c", "exec sleep 600", "{stage}", "{worktree}"]);
    const plan = sb.writePlan("grown.md", "## Stage 1: A\n");
    expect((await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", agent])).code).toBe(0);
    sb.writePlan("grown.md", "## Stage 1: A\n## Stage 2: B\nDepends on: 1\n");
    const warning = `autorun: warning: ${plan} has changed since this orchestration started (stage 2 is not in the run); it continues with the stages it started with (use --fresh to start over with the new plan).`;
    const dry = await sb.cli(["orchestrate", plan, "--dry-run", "--agent-cmd", agent]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("A real run continues orchestration grown (running) with the stages it started with, not the plan above (--fresh starts over with it).");
    expect(dry.stderr.trim()).toBe(warning);
    // With --json, stdout is the JSON alone; the note goes beside the warning.
    const json = await sb.cli(["orchestrate", plan, "--dry-run", "--json", "--agent-cmd", agent]);
    expect(() => JSON.parse(json.stdout) as unknown).not.toThrow();
    expect(json.stderr).toContain("autorun: note: a real run continues orchestration grown (running)");
    const real = await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", agent]);
    expect(real.code, real.stderr).toBe(0);
    expect(real.stderr.trim()).toBe(warning);
    // Flags it would not take (it keeps the settings it started with) are refused, dry or not, and named.
    const events = sb.events("grown").length;
    const said = "orchestration grown exists (running) and goes on with the settings it started with, so --max-parallel 1, --budget 3 would be ignored; leave them out to continue it (a budget is raised with autorun resume grown --budget <dollars>), or start it over with them: --fresh.";
    const flagged = await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", agent, "--max-parallel", "1", "--budget", "3"]);
    expect([flagged.code, flagged.stderr.trim().split("\n").at(-1)]).toEqual([2, `autorun: ${said}`]);
    const dryFlagged = await sb.cli(["orchestrate", plan, "--dry-run", "--agent-cmd", agent, "--max-parallel", "1", "--budget", "3"]);
    expect([dryFlagged.code, dryFlagged.stderr.trim().split("\n").at(-1)]).toEqual([2, `autorun: the run would refuse: ${said}`]);
    expect(sb.events("grown")).toHaveLength(events);
    expect(statusOf(sb, "grown")).toMatchObject({ max_parallel: 4, budget_usd: null });
    expect((await sb.cli(["stop", "grown", "--sessions"])).code).toBe(0);
  });
});
