import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, chmodSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { fakeClaudeEnv } from "../helpers/fake-claude.js";
import { it } from "../helpers/fixture.js";
import { execa } from "execa";
import { CLI, ROOT, waitFor } from "../helpers/env.js";
import { orchestrate, sleepAgent } from "../helpers/orch.js";


const fixtures = join(ROOT, "test", "fixtures", "plans");

describe("orchestrate --dry-run", () => {
  it("--parse-with claude without Claude Code: one short line that says what to do, not the command line with the plan in it", async ({ sb }) => {
    const plan = sb.writePlan("prose.md", "We should first build the parser, then the printer.\n".repeat(40));
    const r = await sb.cli(["orchestrate", plan, "--parse-with", "claude", "--dry-run"], { env: { PATH: "/usr/bin:/bin" } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--parse-with claude needs Claude Code, which is not installed or not on PATH .*give prose\.md stage headings/);
    expect(r.stderr).not.toContain("We should first");
    expect(r.stderr.length).toBeLessThan(400);
  });

  it("warns about a stage that is only in an HTML comment, and runs the others", async ({ sb }) => {
    const plan = sb.writePlan("parked.md", readFileSync(join(fixtures, "good", "commonmark-commented-stage.md"), "utf8"));
    const r = await sb.cli(["orchestrate", plan, "--dry-run", "--json"], { env: fakeClaudeEnv(sb) });
    expect(r.code).toBe(0);
    expect(r.stderr.trim()).toBe("autorun: warning: stage 2 is commented out at parked.md:7; not run.");
    const out = JSON.parse(r.stdout) as { stages: { id: string }[]; commented_out: { id: string; line: number }[] };
    expect(out.stages.map((s) => s.id)).toEqual(["1", "3"]);
    expect(out.commented_out).toEqual([{ id: "2", line: 7 }]);
    expect(existsSync(join(sb.home, "orchestration"))).toBe(false);
  });

  it("prints the plan as JSON with string ids and waves, writing nothing", async ({ sb }) => {
    const plan = sb.writePlan("2026-02-20-wave2-token-design-audit.md", readFileSync(join(fixtures, "good", "deps-in-heading.md"), "utf8"));
    const r = await sb.cli(["orchestrate", plan, "--dry-run", "--json"], { env: fakeClaudeEnv(sb) });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toEqual({
      plan_name: "2026-02-20-wave2-token-design-audit",
      project_slug: "token-audit",
      base_branch: "main",
      stages: [
        { id: "1", name: "Models", depends_on: [], wave: 1 },
        { id: "2", name: "Services", depends_on: ["1"], wave: 2 },
        { id: "3", name: "Jobs", depends_on: ["1"], wave: 2 },
        { id: "4", name: "CLI", depends_on: [], wave: 1 },
        { id: "5", name: "UI", depends_on: ["3", "4"], wave: 3 },
      ],
      waves: [["1", "4"], ["2", "3"], ["5"]],
      // The configuration the run would take (defaults here: no file, no flag).
      settings: expect.objectContaining({ maxParallel: 4, stallSeconds: 60, schedule: "eager" }),
    });
    expect(readdirSync(sb.home)).toEqual([]);
  });

  it("prints stages, waves and a short command per stage; --verbose the exact argv", async ({ sb }) => {
    const plan = sb.writePlan("plan.md", "## Stage 1: A\n## Stage 2: B\nDepends on: 1\n");
    const short = await sb.cli(["orchestrate", plan, "--dry-run"], { env: fakeClaudeEnv(sb) });
    expect(short.code).toBe(0);
    const runs = short.stdout.split("\n").find((l) => l.includes("runs:"))!;
    expect(runs).toMatch(/runs: claude --worktree plan-stage-1 --session-id \S+ --plugin-dir … --settings … --permission-mode acceptEdits "\/autorun:start .*stage-1-context\.md"/);
    expect(runs.length).toBeLessThan(300);
    const r = await sb.cli(["orchestrate", plan, "--dry-run", "--verbose"], { env: fakeClaudeEnv(sb) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Wave 2: Stage 2");
    const argvLine = r.stdout.split("\n").find((l) => l.includes("argv:"))!;
    const argv = JSON.parse(argvLine.slice(argvLine.indexOf("["))) as string[];
    expect(argv.slice(0, 3)).toEqual(["claude", "--worktree", "plan-stage-1"]);
    expect(argv).toContain("--session-id");
    expect(argv).toContain("--plugin-dir");
    const settings = JSON.parse(argv[argv.indexOf("--settings") + 1]!) as { sandbox?: unknown };
    expect(settings).toMatchObject({ worktree: { baseRef: "head" } });
    expect(argv[argv.length - 1]).toMatch(/^\/autorun:start .*stage-1-context\.md$/);
    // Whether the sandbox holds the stages is said before they run, as their settings have it.
    expect(r.stdout).toMatch(settings.sandbox ? /^Bash sandbox: on .*: stages run Bash unasked/m : /^Bash sandbox: not available: install /m);
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ sandbox: false }));
    expect((await sb.cli(["orchestrate", plan, "--dry-run"], { env: fakeClaudeEnv(sb) })).stdout).toMatch(/^Bash sandbox: off \(sandbox: false in the configuration\): Bash commands outside the workflow's allow-list each wait for a person/m);
    rmSync(join(sb.repo, "autorun.config.json"));
    expect(readdirSync(sb.home)).toEqual([]);
  });

  it("a stage the plan marks done shows no session or command: it is never launched", async ({ sb }) => {
    const plan = sb.writePlan("done.md", "## Stage 1: A\nStatus: done\n## Stage 2: B\nDepends on: 1\n## Stage 3: C\nWrite c.txt.\n");
    const r = await sb.cli(["orchestrate", plan, "--dry-run"], { env: fakeClaudeEnv(sb) });
    expect(r.code, r.stderr).toBe(0);
    const one = r.stdout.slice(r.stdout.indexOf("Stage 1: A"), r.stdout.indexOf("Stage 2: B"));
    expect(one).toContain("(done already: not launched)");
    expect(one).not.toMatch(/runs:|session:/);
    expect(r.stdout.slice(r.stdout.indexOf("Stage 2: B"))).toContain("runs: claude");
    expect(r.stdout.slice(r.stdout.indexOf("Stage 3: C"))).not.toContain("no text beyond");
    // B's body holds only its dependency: the dry run says its agent gets nothing but the title.
    expect(r.stdout.slice(r.stdout.indexOf("Stage 2: B"))).toContain("no text beyond its name: the agent gets only the title");
    expect(one).not.toContain("no text beyond");
  });
});

describe("orchestrate", () => {
  it("a plan whose every stage is marked done is recorded as completed at once: no monitor, no session", async ({ sb }) => {
    const plan = sb.writePlan("alldone.md", "## Stage 1: A\nStatus: done\n## Stage 2: B\nStatus: ✅ Done\nDepends on: 1\n");
    const r = await sb.cli(["orchestrate", plan], { env: fakeClaudeEnv(sb) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Every stage of alldone is marked done in ${plan} (stages 1, 2): nothing to run.`);
    expect(r.stdout).not.toMatch(/monitor pid|wave 1/);
    expect(sb.events("alldone").map((e) => e.type)).toEqual(["orchestration_started", "orchestration_complete"]);
    expect(existsSync(join(sb.home, "logs", "alldone-monitor.log"))).toBe(false);
    const report = readFileSync(join(sb.home, "reports", "alldone.md"), "utf8");
    expect(report).toContain("Status: **completed**");
    expect(report).toContain("- Wave 2 (2): done before the run");
    expect(report).toContain("No stage went into the base branch in this run: there is nothing of it to review or roll back.");
    expect((await sb.cli(["status", "alldone"])).stdout).toMatch(/^alldone: completed/);
    expect((await sb.tmux("list-sessions")).code).not.toBe(0);
  });
});

describe("bad input: one line, exit 2, nothing written", () => {
  it("--dry-run fails where the run would: outside a git repository, on a detached HEAD, with an unknown base branch", async ({ sb }) => {
    const outside = join(sb.dir, "elsewhere");
    mkdirSync(outside);
    writeFileSync(join(outside, "plan.md"), "## Stage 1: A\n");
    const plan = sb.writePlan("plan.md", "## Stage 1: A\n");
    await sb.git("add", "plan.md");
    await sb.git("commit", "-qm", "plan");
    const cases: [string[], string, RegExp][] = [
      [["orchestrate", join(outside, "plan.md")], outside, /not inside a git repository; run autorun from the project's root or pass --project <dir>/],
      [["orchestrate", plan, "--base", "no-such-branch"], sb.repo, /base branch "no-such-branch" does not exist in .*; pass --base with a branch that exists \(git branch --list shows them\)\.\n?$/],
    ];
    for (const [args, cwd, message] of cases) {
      for (const dry of [true, false]) {
        const r = await sb.cli(dry ? [...args, "--dry-run"] : args, { cwd });
        expect(r.code, `${args.join(" ")} dry=${dry}`).toBe(2);
        expect(r.stderr).toMatch(message);
      }
    }
    await sb.git("checkout", "-q", "--detach");
    for (const dry of [true, false]) {
      const r = await sb.cli(dry ? ["orchestrate", plan, "--dry-run"] : ["orchestrate", plan]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/HEAD is detached in .*; check out a branch \(git switch <branch>\) or pass --base <branch>/);
    }
    expect(readdirSync(sb.home)).toEqual([]);
  });


  it("a missing plan file", async ({ sb }) => {
    const r = await sb.cli(["orchestrate", "nope.md"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read plan .*nope\.md: no such file/);
  });

  it("an unreadable plan file", async ({ sb }) => {
    const plan = sb.writePlan("secret.md", "## Stage 1: A\n");
    chmodSync(plan, 0o000);
    const r = await sb.cli(["orchestrate", plan, "--dry-run"], { env: { AUTORUN_TEST_NOROOT: "1", ...fakeClaudeEnv(sb) } });
    chmodSync(plan, 0o644);
    // root reads anything; elsewhere this is a permission error
    if (process.getuid?.() !== 0) {
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("permission denied");
    } else expect(r.code).toBe(0);
  });

  it("a plan outside any git repository without --dry-run", async ({ sb }) => {
    const plan = join(sb.dir, "p.md");
    writeFileSync(plan, "## Stage 1: A\n");
    const r = await sb.cli(["orchestrate", plan], { cwd: sb.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not inside a git repository");
    expect(readdirSync(sb.home)).toEqual([]);
  });

  it("an unknown option and a bad number", async ({ sb }) => {
    expect((await sb.cli(["orchestrate", "x.md", "--bogus"])).code).toBe(2);
    const r = await sb.cli(["orchestrate", "x.md", "--max-parallel", "zero"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--max-parallel");
    // A flag for a configuration key is checked as the key is, in the same words.
    const plan = sb.writePlan("flags.md", "## Stage 1: A\n");
    for (const [flag, value, said] of [["--max-parallel", "0", "must be at least 1, not 0"], ["--max-parallel", "100", "at most 64 sessions at once"], ["--stall-seconds", "0", "at least 1 second"]]) {
      const bad = await sb.cli(["orchestrate", plan, "--dry-run", flag!, value!]);
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim()).toBe(`autorun: ${flag}: ${said}; fix the flag.`);
    }
  });

  it("an option whose value was left out, or --json without --dry-run, starts nothing: exit 2, nothing written", async ({ sb }) => {
    const plan = sb.writePlan("unasked.md", "## Stage 1: A\n");
    const tries: [string[], string][] = [
      [["--permission-mode", "--dry-run"], "autorun: --permission-mode was given no value: it took the option --dry-run as its value; write --permission-mode <mode> before --dry-run."],
      [["--json"], "autorun: --json goes with --dry-run (it shapes what the dry run prints, and a run is started without it); add --dry-run, or leave --json out to start the run."],
      [["--verbose"], "autorun: --verbose goes with --dry-run (it shapes what the dry run prints, and a run is started without it); add --dry-run, or leave --verbose out to start the run."],
    ];
    for (const [flags, said] of tries) {
      const r = await sb.cli(["orchestrate", plan, "--agent-cmd", sleepAgent, "--no-monitor", ...flags]);
      expect([r.code, r.stderr.trim()]).toEqual([2, said]);
    }
    expect(existsSync(join(sb.home, "orchestration"))).toBe(false);
    expect((await sb.tmux("list-sessions")).code).not.toBe(0);
    expect((await sb.git("worktree", "list")).split("\n")).toHaveLength(1);
  });

  it("an invalid config file names the file and key", async ({ sb }) => {
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ maxParallel: -1 }));
    const plan = sb.writePlan("p.md", "## Stage 1: A\n");
    const r = await sb.cli(["orchestrate", plan, "--dry-run"], { env: fakeClaudeEnv(sb) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/autorun\.config\.json: maxParallel/);
  });

  it("a config value out of bounds, and escape sequences in a config key or a dependency name: one clean line, exit 2, nothing written", async ({ sb }) => {
    const plan = sb.writePlan("p.md", "## Stage 1: A\n");
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ pollSeconds: 0.0001 }));
    let r = await sb.cli(["orchestrate", plan]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^autorun: .*autorun\.config\.json: pollSeconds: at least 0\.2 seconds .*README/);
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ "\u001b]0;pwned\u0007\u001b[2Jkey": 1 }));
    r = await sb.cli(["orchestrate", plan]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("key");
    rmSync(join(sb.repo, "autorun.config.json"));
    const deps = sb.writePlan("d.md", "## Stage 1: A\nDepends on: \u001b[31m9\u001b]8;;http://x\u0007\n");
    r = await sb.cli(["orchestrate", deps]);
    expect(r.code).toBe(2);
    for (const out of [r.stderr, r.stdout]) expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(r.stderr).toMatch(/^autorun: .*d\.md/);
    expect(readdirSync(sb.home)).toEqual([]);
  });

  it("an invalid flag or AUTORUN_TMUX_SOCKET value is a one-line error naming it, not a crash", async ({ sb }) => {
    const plan = sb.writePlan("p.md", "## Stage 1: A\n");
    let r = await sb.cli(["orchestrate", plan, "--tmux-socket", "has space"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^autorun: --tmux-socket: .*fix the flag\.$/);
    r = await sb.cli(["orchestrate", plan, "--model", ""]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--model:");
    r = await sb.cli(["orchestrate", plan], { env: { AUTORUN_TMUX_SOCKET: "a;b" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("AUTORUN_TMUX_SOCKET:");
    r = await sb.cli(["status", "--watch", "--json"]);
    expect([r.code, r.stderr.trim()]).toEqual([2, "autorun: --watch redraws the table for a person and --json prints status.json once for a program; use one of them."]);
    r = await sb.cli(["init", "--plan", ""]);
    expect([r.code, r.stderr.trim()]).toEqual([2, 'autorun: --plan "": must not be empty; give it a value or leave the option out.']);
    // doctor and hosts check theirs too, rather than look at something else.
    r = await sb.cli(["doctor", "--tmux-socket", "a/b"]);
    expect([r.code, r.stderr.trim()]).toEqual([2, "autorun: --tmux-socket: a tmux server name (tmux -L), not a path: letters, digits, . _ -; fix the flag."]);
    for (const command of ["doctor", "hosts"]) {
      r = await sb.cli([command, "--project", join(sb.dir, "nowhere")]);
      expect([r.code, r.stderr.trim()]).toEqual([2, `autorun: --project ${join(sb.dir, "nowhere")} is not a directory; pass the project's directory.`]);
      r = await sb.cli([command, "--project", sb.home]);
      expect([r.code, r.stderr.trim()]).toEqual([2, `autorun: --project ${sb.home} is not inside a git repository; pass the project's directory.`]);
    }
    expect(readdirSync(sb.home)).toEqual([]);
  });

  it("a plan kept in another project's repository: the run works in this directory's, and says how to run it there", async ({ sb }) => {
    const other = join(sb.dir, "other");
    mkdirSync(other);
    await execa("git", ["init", "-q", "-b", "main", other]);
    writeFileSync(join(other, "theirs.md"), "## Stage 1: A\n");
    const r = await sb.cli(["orchestrate", join(other, "theirs.md"), "--dry-run", "--agent-cmd", sleepAgent]);
    expect(r.stderr.trim()).toBe(`autorun: warning: ${join(other, "theirs.md")} is in the git repository ${other}, but the run works in ${sb.repo} (this directory's); to run it there: --project ${other}.`);
    // Named with --project, or kept in no repository: nothing to say.
    expect((await sb.cli(["orchestrate", join(other, "theirs.md"), "--dry-run", "--agent-cmd", sleepAgent, "--project", sb.repo])).stderr).toBe("");
  });

  it("phase and event outside a stage, and invalid events", async ({ sb }) => {
    let r = await sb.cli(["phase", "implement", "done"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("AUTORUN_ORCH_DIR is not set");
    r = await sb.cli(["phase", "dance", "start"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown phase "dance"');
    r = await sb.cli(["event", "nonsense"]);
    expect(r.code).toBe(2);
  });
});

describe("help", () => {
  it.for(["orchestrate", "status", "dashboard", "attach", "logs", "monitor", "resume", "retry", "stop", "nudge", "merge", "phase", "event", "hook", "review", "report", "doctor", "hosts", "demo"])(
    "%s --help shows an example",
    async (cmd, { sb }) => {
      const r = await sb.cli([cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Example:");
      expect(r.stdout).toContain(`autorun ${cmd}`);
    },
  );
  it("status with no orchestrations says how to start one", async ({ sb }) => {
    const r = await sb.cli(["status"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("autorun orchestrate");
    expect(existsSync(join(sb.home, "orchestration"))).toBe(false);
  });
});

describe("typos and following the log", () => {
  it("a mistyped command or option keeps commander's suggestion on the one error line", async ({ sb }) => {
    let r = await sb.cli(["orchestrat", "plan.md"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("error: unknown command 'orchestrat' (Did you mean orchestrate?)");
    r = await sb.cli(["status", "--jsn"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("error: unknown option '--jsn' (Did you mean --json?)");
    // A flag cut short, which commander's own suggestion misses.
    r = await sb.cli(["orchestrate", "plan.md", "--agent", "x"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("error: unknown option '--agent' (Did you mean --agent-cmd?)");
    r = await sb.cli(["retry", "p", "1", "--fresh"]);
    expect(r.stderr.trim()).toBe("error: unknown option '--fresh' (Did you mean --fresh-worktree?)");
  });

  it("logs -f ends once the run is over and its monitor has stopped", async ({ sb }) => {
    await orchestrate(sb, sb.writePlan("short.md", "## Stage 1: A\n"));
    const child = execa(process.execPath, [CLI, "logs", "short", "-f"], { cwd: sb.repo, env: sb.env, extendEnv: false, reject: false, timeout: 45_000 });
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toContain("monitor stopped");
    expect(String(r.stdout).trim().split("\n").at(-1)).toBe("(short is over and its monitor has stopped: nothing more will be written)");
    // Over already: it prints the log and ends.
    const again = await sb.cli(["logs", "short", "-f"]);
    expect(again.code).toBe(0);
    expect(again.stdout.trim().split("\n").at(-1)).toBe("(short is over and its monitor has stopped: nothing more will be written)");
    // A run's name mistyped: the one meant, not a new run to start.
    const typo = await sb.cli(["logs", "shrot"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr.trim()).toBe('autorun: no orchestration named "shrot"; did you mean short? (known: short)');
    const other = await sb.cli(["logs", "elsewhere"]);
    expect(other.stderr.trim()).toBe(`autorun: no orchestration named "elsewhere" under ${join(sb.home, "orchestration")} (known: short); start it with \`autorun orchestrate <plan>\`.`);
  });

  it("logs -f shows every line, including two written a few milliseconds apart", async ({ sb }) => {
    const plan = sb.writePlan("tail.md", "## Stage 1: A\n");
    const agent = JSON.stringify([process.execPath, "-e", "setTimeout(() => {}, 60000)", "{stage}"]);
    expect((await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", agent])).code).toBe(0);
    const log = join(sb.home, "logs", "tail-monitor.log");
    const child = execa(process.execPath, [CLI, "logs", "tail", "-f"], { cwd: sb.repo, env: sb.env, extendEnv: false, reject: false });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    try {
      await waitFor("logs -f to print the existing log", () => out.includes("launched"));
      for (let trial = 0; trial < 5; trial++) {
        appendFileSync(log, `first line ${trial}\n`);
        await new Promise((r) => setTimeout(r, 10));
        appendFileSync(log, `second line ${trial}\n`);
        await waitFor(`both lines of trial ${trial}`, () => out.includes(`second line ${trial}\n`), 15_000, 20);
      }
    } finally {
      child.kill("SIGINT");
      await child;
    }
  });
});
