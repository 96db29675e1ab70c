import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execa } from "execa";
import { makeSandbox, simAgentCmd, waitFor, type Sandbox } from "../helpers/env.js";
import { fakeClaudeEnv } from "../helpers/fake-claude.js";

let sb: Sandbox;
let marker: string;
beforeEach(async () => {
  sb = await makeSandbox({ repo: false });
  marker = join(sb.dir, "PWNED");
});
afterEach(async () => sb.cleanup());

const hostile = (m: string) => [
  `$(touch ${m})`,
  "`touch " + m + "`",
  `x; touch ${m};`,
  `"double" 'single' \\back`,
  `-rf --help`,
  `#{session_name} %s %n`,
  `..${"/.."}/etc/passwd`,
  `\u001b[31mred\u001b[0m`,
  `ünïcödé 计划 🚀`,
  "x".repeat(300),
  `a & b | c > d < e`,
  `trailing;`,
];

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? [join(dir, d.name), ...walk(join(dir, d.name))] : [join(dir, d.name)]));
}

async function gitInit(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await execa("git", ["-C", dir, "init", "-q", "-b", "main"], { env: sb.env });
  writeFileSync(join(dir, "README.md"), "x\n");
  await execa("git", ["-C", dir, "add", "README.md"], { env: sb.env });
  await execa("git", ["-C", dir, "commit", "-qm", "init"], { env: sb.env });
}

describe("hostile names", () => {
  it("plan file names: parsed, sanitised, nothing runs, nothing escapes the state dir", async () => {
    const repo = join(sb.dir, "repo");
    await gitInit(repo);
    const names = [...hostile(marker).filter((n) => !n.includes("/")).map((n) => n.slice(0, 200)), "\n"].map((n) => `${n}.md`);
    for (const name of names) {
      const file = join(repo, name);
      writeFileSync(file, "## Stage 1: A\n## Stage 2: B\nDepends on: 1\n");
      const dry = await sb.cli(["orchestrate", file, "--dry-run", "--json"], { cwd: repo, env: fakeClaudeEnv(sb) });
      expect(dry.code, name).toBe(0);
      const out = JSON.parse(dry.stdout) as { plan_name: string; project_slug: string };
      expect(out.plan_name).toMatch(/^[a-z0-9-]+$/);
      expect(out.project_slug).toMatch(/^[a-z0-9-]{1,20}$/);
      const run = await sb.cli(["orchestrate", file, "--no-monitor", "--agent-cmd", JSON.stringify(["sleep", "30", "{stage}"])], { cwd: repo });
      expect(run.code, `${name}: ${run.stderr}`).toBe(0);
    }
    expect(existsSync(marker)).toBe(false);
    for (const path of walk(sb.home)) {
      const rel = relative(sb.home, path);
      expect(rel.startsWith(".."), path).toBe(false);
      expect(rel).toMatch(/^(orchestration|logs|locks|review|reports)(\/[a-z0-9._-]+)*$/);
    }
    // A dry run and a real run for each of the names: on a loaded machine this takes about a minute.
  }, 150_000);

  it("stage names, a repo path and an AUTORUN_HOME full of shell syntax: a whole run, nothing runs", async () => {
    const repo = join(sb.dir, `proj $(touch ${marker}) ; 'q' "dq" trailing;`);
    await gitInit(repo);
    const home = join(sb.dir, `home with spaces; $(touch ${marker})`);
    const names = hostile(marker).filter((n) => !n.includes("\u001b"));
    const plan = join(repo, "hostile plan.md");
    writeFileSync(plan, names.map((n, i) => `## Stage ${i + 1}: ${n}\n`).join(""));
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simAgentCmd, "--max-parallel", "6"], { cwd: repo, env: { AUTORUN_HOME: home, AUTORUN_SIM_DELAY_MS: "30" } });
    expect(r.code, r.stderr).toBe(0);
    const events = () => {
      const f = join(home, "orchestration", "hostile-plan", "events.jsonl");
      return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; status?: string }) : [];
    };
    const end = await waitFor("the hostile run to end", () => (events().some((e) => e.type === "monitor_stopped") ? events().find((e) => e.type === "orchestration_complete") : undefined), 180_000);
    expect(end.status).toBe("completed");
    expect(existsSync(marker)).toBe(false);
    const merges = (await execa("git", ["-C", repo, "log", "--merges", "--format=%s", "main"])).stdout.split("\n");
    expect(merges).toHaveLength(names.length);
    expect((await sb.tmux("list-sessions")).code).not.toBe(0);
    expect((await execa("git", ["-C", repo, "worktree", "list"])).stdout.split("\n")).toHaveLength(1);
    expect(statSync(join(home, "orchestration", "hostile-plan", "status.json")).isFile()).toBe(true);
  }, 240_000);

  it("a project path with tmux format syntax (#(…), ##) runs nothing and starts the agent in that project", async () => {
    // The agent records where it started; tmux's `-c` is where a format would have been expanded.
    const startIn = async (repo: string, planName: string): Promise<string> => {
      const out = join(sb.dir, `${planName}-cwd.txt`);
      const plan = join(repo, `${planName}.md`);
      writeFileSync(plan, "## Stage 1: Only\n");
      const agent = JSON.stringify([process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(out)}, process.cwd()); setTimeout(() => {}, 60000)`, "{stage}"]);
      const r = await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", agent], { cwd: repo });
      expect(r.code, r.stderr).toBe(0);
      return String(await waitFor(`the agent of ${planName} to start`, () => existsSync(out) && readFileSync(out, "utf8")));
    };
    const formatRepo = join(sb.dir, `#(touch ${marker})`, "proj");
    await gitInit(formatRepo);
    expect(await startIn(formatRepo, "fmt")).toBe(formatRepo);
    expect(existsSync(marker)).toBe(false);
    // tmux reads "##" as "#": the agent must not start in the sibling a#b.
    const sibling = join(sb.dir, "a#b");
    const doubled = join(sb.dir, "a##b");
    await gitInit(sibling);
    await gitInit(doubled);
    expect(await startIn(doubled, "doubled")).toBe(doubled);
    expect((await execa("git", ["-C", sibling, "log", "--format=%s", "--all"])).stdout.trim()).toBe("init");
    expect((await execa("git", ["-C", sibling, "worktree", "list"])).stdout.split("\n")).toHaveLength(1);
    expect((await execa("git", ["-C", doubled, "worktree", "list"])).stdout.split("\n")).toHaveLength(2);
  });
  it("a project under a#[fg=red]b: every stage works in its worktree, a relaunched one too, and main moves only by merges", async () => {
    // tmux keeps "##[" doubled, so `new-session -c` got a directory that does not exist and started
    // the pane in the client's directory: a relaunched agent then committed onto main.
    const repo = join(sb.dir, "a#[fg=red]b", "proj");
    await gitInit(repo);
    const plan = join(repo, "styled.md");
    writeFileSync(plan, "## Stage 1: First\n- sim: die-once\n## Stage 2: Second\nDepends on: 1\n- sim: die-once\n## Stage 3: Third\n");
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simAgentCmd], { cwd: repo });
    expect(r.code, r.stderr).toBe(0);
    const events = () => sb.events("styled") as { type: string; stage?: string; status?: string; reason?: string }[];
    const end = await waitFor("the run to end", () => (events().some((e) => e.type === "monitor_stopped") ? events().find((e) => e.type === "orchestration_complete") : undefined), 120_000);
    expect(end.status).toBe("completed");
    expect(events().filter((e) => e.type === "stage_relaunched").map((e) => e.stage).sort()).toEqual(["1", "2"]);
    expect(events().filter((e) => e.type === "session_ended" && /not in its worktree/.test(e.reason ?? ""))).toEqual([]);
    // Every commit on main's first-parent line is the first one or a merge by autorun.
    const line = (await execa("git", ["-C", repo, "log", "--first-parent", "--format=%P|%s", "main"])).stdout.split("\n");
    expect(line.at(-1)).toBe("|init");
    for (const entry of line.slice(0, -1)) expect(entry).toMatch(/^\S+ \S+\|autorun: merge stage \d: /);
    expect(line).toHaveLength(4);
    expect((await execa("git", ["-C", repo, "status", "--porcelain"])).stdout).toBe("?? styled.md");
  }, 150_000);

  it("a session whose agent starts outside its stage's worktree is ended before it acts (SessionStart's cwd)", async () => {
    const repo = join(sb.dir, "proj");
    await gitInit(repo);
    const plan = join(repo, "away.md");
    writeFileSync(plan, "## Stage 1: Away\n");
    // An agent that works in the project root, as one started in the wrong place would: it reports
    // its start as Claude Code does (the hook with its cwd), then, if still alive, commits.
    const script = [
      `const { execFileSync } = require("child_process");`,
      `const root = ${JSON.stringify(repo)}; process.chdir(root);`,
      `execFileSync("autorun", ["hook", "SessionStart"], { input: JSON.stringify({ hook_event_name: "SessionStart", cwd: root, source: "startup" }) , stdio: ["pipe", "inherit", "inherit"] });`,
      `setTimeout(() => { execFileSync("git", ["commit", "-q", "--allow-empty", "-m", "rogue"]); setInterval(() => {}, 1000); }, 1500);`,
    ].join("\n");
    const agent = JSON.stringify([process.execPath, "-e", script, "{stage}"]);
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", agent], { cwd: repo });
    expect(r.code, r.stderr).toBe(0);
    const events = () => sb.events("away") as { type: string; stage?: string; status?: string; reason?: string }[];
    await waitFor("the stage to fail after two misplaced starts", () => events().some((e) => e.type === "stage_failed"), 60_000);
    expect(events().filter((e) => e.type === "session_ended" && /started in .*proj, not in its worktree/.test(e.reason ?? "")).length).toBeGreaterThanOrEqual(2);
    // Both agents were stopped (their panes are dead) before they could commit.
    expect((await execa("git", ["-C", repo, "log", "--format=%s", "--all"])).stdout).not.toContain("rogue");
    await sb.cli(["stop", "away", "--sessions"], { cwd: repo });
  }, 90_000);
});
