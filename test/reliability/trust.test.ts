/**
 * What autorun trusts: pid files, events written by agents, a torn log, names that collide, state
 * file modes (the person's own git work is in git-work.test.ts). Each case failed on the code
 * before it was fixed.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { spawn } from "node:child_process";
import { describe, expect } from "vitest";
import { fakeClaudeEnv } from "../helpers/fake-claude.js";
import { it } from "../helpers/fixture.js";
import { execa } from "execa";
import { CLI, waitFor } from "../helpers/env.js";
import { eventsOf, idleRun, monitorPid, sleepAgent } from "../helpers/orch.js";


/**
 * Rewrites monitor.pid whole, as a rename: the running monitor reads it before each pass, and one
 * read between writeFileSync's truncate and its write would be an empty file, which that monitor
 * takes for another monitor's and stops.
 */
function replacePidFile(orchDir: string, text: string): void {
  writeFileSync(join(orchDir, "monitor.pid.new"), text);
  renameSync(join(orchDir, "monitor.pid.new"), join(orchDir, "monitor.pid"));
}

function stageEnv(orchDir: string, stage: string): NodeJS.ProcessEnv {
  return { AUTORUN_ORCH_DIR: orchDir, AUTORUN_STAGE: stage };
}

describe("monitor.pid is not trusted blindly", () => {
  it("an unrelated live process in monitor.pid: resume starts a real monitor, stop never signals that process", async ({ sb }) => {
    const orchDir = await idleRun(sb, "pidplan");
    const stranger = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      writeFileSync(join(orchDir, "monitor.pid"), `${stranger.pid}\n`);
      const resumed = await sb.cli(["resume", "pidplan"]);
      expect(resumed.code, resumed.stderr).toBe(0);
      const pid = monitorPid(sb, "pidplan");
      expect(pid).toBeDefined();
      expect(pid).not.toBe(stranger.pid);
      expect(resumed.stdout).toContain(`pid ${pid}`);
      // A pass by hand beside the running monitor would race it: refused, as a person's mistake.
      const once = await sb.cli(["monitor", "pidplan", "--once"]);
      expect([once.code, once.stderr.trim()]).toEqual([2, `autorun: a monitor (pid ${pid}) is running for pidplan; --once would race it. Stop it first: autorun stop pidplan`]);
      const stopped = await sb.cli(["stop", "pidplan"]);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(stopped.stdout).toContain(`Stopped the monitor (pid ${pid})`);
      expect(stranger.exitCode).toBeNull();
      expect(() => process.kill(stranger.pid!, 0)).not.toThrow();
      // And a pid file naming the stranger alone: stop says no monitor runs, and leaves it be.
      writeFileSync(join(orchDir, "monitor.pid"), `${stranger.pid}\n`);
      const again = await sb.cli(["stop", "pidplan"]);
      expect(again.stdout).toContain("No monitor was running.");
      expect(() => process.kill(stranger.pid!, 0)).not.toThrow();
    } finally {
      stranger.kill("SIGKILL");
    }
  });
});

describe("a process that looks like the monitor", () => {
  it("is not taken for it: a look-alike command line, or the real monitor's pid with another start time", async ({ sb }) => {
    const orchDir = await idleRun(sb, "lookalike");
    // `node -e <anything> <autorun's cli.js> monitor lookalike`, with this AUTORUN_HOME: the
    // command line, the plan name and the home all match what the old check looked for.
    const fake = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", CLI, "monitor", "lookalike"], { stdio: "ignore", env: { ...sb.env } });
    try {
      await waitFor("the look-alike to run", () => existsSync(`/proc/${fake.pid}/cmdline`) && readFileSync(`/proc/${fake.pid}/cmdline`, "utf8").includes("lookalike"));
      writeFileSync(join(orchDir, "monitor.pid"), `${fake.pid}\n`);
      const stopped = await sb.cli(["stop", "lookalike"]);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(stopped.stdout).toContain("No monitor was running.");
      expect(fake.exitCode).toBeNull();
      expect(() => process.kill(fake.pid!, 0)).not.toThrow();
      // The real one is trusted, and records when it started; the same pid with another start time is not it.
      expect((await sb.cli(["resume", "lookalike"])).code).toBe(0);
      const [pid, start] = readFileSync(join(orchDir, "monitor.pid"), "utf8").trim().split(" ");
      expect(start).toMatch(/^\d+$/);
      expect((await sb.cli(["status", "lookalike"])).stdout).toContain(`pid ${pid}`);
      replacePidFile(orchDir, `${pid} ${Number(start) + 1}\n`);
      expect((await sb.cli(["stop", "lookalike"])).stdout).toContain("No monitor was running.");
      replacePidFile(orchDir, `${pid} ${start}\n`);
      expect((await sb.cli(["stop", "lookalike"])).stdout).toContain(`Stopped the monitor (pid ${pid})`);
    } finally {
      fake.kill("SIGKILL");
    }
  });
});

describe("events written from inside a stage", () => {
  it("a stage cannot write monitor events or speak for another stage; nothing is appended", async ({ sb }) => {
    const orchDir = await idleRun(sb, "forge");
    const events = join(orchDir, "events.jsonl");
    const before = readFileSync(events, "utf8");
    const env = stageEnv(orchDir, "1");
    const forged = [
      ["event", "merge_complete", "branch=x", "commit=abc1234"],
      ["event", "orchestration_complete", "status=completed"],
      ["event", "stage_failed", "reason=forged"],
      ["event", "phase_status", "phase=implement", "status=done", "--stage", "2"],
      ["phase", "implement", "done", "--stage", "2"],
      ["event", "phase_status", "phase=implement", "status=done", "stage=2"],
    ];
    for (const args of forged) {
      const r = await sb.cli(args, { env });
      if (args.includes("stage=2")) {
        // A stage= pair never overrides the session's identity: it is recorded for stage 1.
        expect(r.code).toBe(0);
        continue;
      }
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/written by autorun itself|reports only about itself/);
    }
    const added = readFileSync(events, "utf8").slice(before.length).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; stage: string });
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ type: "phase_status", stage: "1" });
    const status = await sb.cli(["status", "forge", "--json"]);
    const st = JSON.parse(status.stdout) as { status: string; stages: Record<string, { status: string; implement_done: boolean }> };
    expect(st.status).toBe("running");
    expect(st.stages["2"]!.implement_done).toBe(false);
  });

  it("review new and review wait speak only for the stage whose session runs them, checked as event is", async ({ sb }) => {
    const orchDir = await idleRun(sb, "asks");
    const events = join(orchDir, "events.jsonl");
    const ask = ["review", "new", "--title", "Pick", "--question", "A or B?"];
    const before = readFileSync(events, "utf8");
    for (const extra of [["--stage", "2"], ["--orch-dir", join(sb.home, "orchestration", "other")]]) {
      const r = await sb.cli([...ask, ...extra], { env: stageEnv(orchDir, "1") });
      expect(r.code, extra.join(" ")).toBe(2);
      expect(r.stderr).toContain("reports only about itself");
    }
    const unknown = await sb.cli([...ask, "--orch-dir", orchDir, "--stage", "9"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("stage 9 is not in plan asks");
    expect(readFileSync(events, "utf8")).toBe(before);
    // A person files a review for stage 2; stage 1's session may not record its answer.
    const filed = await sb.cli([...ask, "--orch-dir", orchDir, "--stage", "2"]);
    expect(filed.code, filed.stderr).toBe(0);
    const file = filed.stdout.trim();
    writeFileSync(file, readFileSync(file, "utf8").replace("**Your answer**:\n", "**Your answer**: A\n"));
    const forged = await sb.cli(["review", "wait", file, "--timeout", "5"], { env: stageEnv(orchDir, "1") });
    expect(forged.code).toBe(2);
    expect(forged.stderr).toContain("reports only about itself");
    const waited = await sb.cli(["review", "wait", file, "--timeout", "5"]);
    expect(waited.code, waited.stderr).toBe(0);
    // The stage's own review is filed in the run's home, whatever AUTORUN_HOME the caller sets.
    const elsewhere = join(sb.dir, "elsewhere");
    const own = await sb.cli(ask, { env: { ...stageEnv(orchDir, "1"), AUTORUN_HOME: elsewhere } });
    expect(own.code, own.stderr).toBe(0);
    expect(dirname(own.stdout.trim())).toBe(join(sb.home, "review"));
    expect(existsSync(elsewhere)).toBe(false);
    const added = readFileSync(events, "utf8").slice(before.length).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; stage?: string });
    expect(added.map((e) => [e.type, e.stage])).toEqual([["review_requested", "2"], ["review_answered", "2"], ["review_requested", "1"]]);
  });

  it("an append after a torn last line starts on a new line: the event is recorded, not lost", async ({ sb }) => {
    const orchDir = await idleRun(sb, "torn");
    const events = join(orchDir, "events.jsonl");
    appendFileSync(events, '{"ts":"2026-01-01T00:00:00.000Z","type":"phase_sta');
    const r = await sb.cli(["phase", "implement", "start", "--current", "1", "--total", "3"], { env: stageEnv(orchDir, "1") });
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(events, "utf8").split("\n").filter(Boolean);
    expect(JSON.parse(lines[lines.length - 1]!)).toMatchObject({ type: "phase_status", stage: "1", phase: "implement", current_phase: 1 });
    const status = JSON.parse((await sb.cli(["status", "torn", "--json"])).stdout) as { stages: Record<string, { phases: Record<string, { current_phase?: number }> }> };
    expect(status.stages["1"]!.phases.implement!.current_phase).toBe(1);
  });
});

describe("one orchestrate per plan", () => {
  it("two orchestrate commands at once: one orchestration_started, each stage launched once", async ({ sb }) => {
    for (let trial = 0; trial < 2; trial++) {
      const name = `twice-${trial}`;
      const file = sb.writePlan(`${name}.md`, "## Stage 1: A\n## Stage 2: B\n## Stage 3: C\n");
      const runs = await Promise.all([0, 1].map(() => sb.cli(["orchestrate", file, "--no-monitor", "--agent-cmd", sleepAgent])));
      for (const r of runs) expect(r.code, r.stderr).toBe(0);
      expect(eventsOf(sb, name, "orchestration_started")).toHaveLength(1);
      for (const id of ["1", "2", "3"]) expect(eventsOf(sb, name, "stage_launched", id), `${name} stage ${id}`).toHaveLength(1);
    }
  });
});

describe("names that collide", () => {
  it("two plans whose slugs coincide get distinct sessions, branches and worktrees", async ({ sb }) => {
    const a = sb.writePlan("2026-01-05-auth-frontend-work.md", "## Stage 1: A\n");
    const b = sb.writePlan("2026-01-05-auth-database-work.md", "## Stage 1: B\n");
    for (const file of [a, b]) {
      const r = await sb.cli(["orchestrate", file, "--no-monitor", "--agent-cmd", sleepAgent]);
      expect(r.code, r.stderr).toBe(0);
    }
    const dry = JSON.parse((await sb.cli(["orchestrate", b, "--dry-run", "--json"])).stdout) as { project_slug: string };
    expect(dry.project_slug).toBe("auth-work-2");
    const sessions = (await sb.tmux("list-sessions", "-F", "#{session_name}")).stdout.split("\n").sort();
    expect(sessions).toEqual(["auth-work-2_stage-1", "auth-work_stage-1"]);
    expect((await sb.git("for-each-ref", "--format=%(refname:short)", "refs/heads/worktree-*")).split("\n").sort()).toEqual(["worktree-auth-work-2-stage-1", "worktree-auth-work-stage-1"]);
  });

  it("a second AUTORUN_HOME never adopts the first's live session, worktree or branch", async ({ sb }) => {
    const plan = sb.writePlan("shared.md", "## Stage 1: A\n## Stage 2: B\n");
    const first = await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", sleepAgent]);
    expect(first.code, first.stderr).toBe(0);
    const pane = async (name: string) => (await sb.tmux("display-message", "-p", "-t", `=${name}:`, "#{pane_pid}")).stdout;
    const before = await pane("shared_stage-1");
    // Another home, the same project and tmux socket: a run on the same socket, branches in the same repository.
    const other = join(sb.dir, "home-b");
    const dry = JSON.parse((await sb.cli(["orchestrate", plan, "--dry-run", "--json"], { env: { AUTORUN_HOME: other } })).stdout) as { project_slug: string };
    expect(dry.project_slug).toBe("shared-2");
    const second = await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", sleepAgent], { env: { AUTORUN_HOME: other } });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).not.toContain("adopted");
    const sessions = (await sb.tmux("list-sessions", "-F", "#{session_name}")).stdout.split("\n").sort();
    expect(sessions).toEqual(["shared-2_stage-1", "shared-2_stage-2", "shared_stage-1", "shared_stage-2"]);
    expect(await pane("shared_stage-1")).toBe(before);
    expect(eventsOf(sb, "shared", "stage_launched").every((e) => !e.adopted)).toBe(true);
    const theirs = readFileSync(join(other, "orchestration", "shared", "events.jsonl"), "utf8");
    expect(theirs).not.toContain('"adopted":true');
    expect(theirs).toContain("worktree-shared-2-stage-1");
    await sb.cli(["stop", "shared", "--sessions"], { env: { AUTORUN_HOME: other } });
  });

  it("the same plan name in two projects: two orchestrations, each command finds its own project's", async ({ sb }) => {
    const projects = ["proj2", "proj3"].map((p) => join(sb.dir, p));
    for (const dir of projects) {
      await execa("mkdir", ["-p", join(dir, "docs")]);
      await execa("git", ["-C", dir, "init", "-q", "-b", "main"], { env: sb.env });
      writeFileSync(join(dir, "docs", "master-plan.md"), "## Stage 1: A\n");
      await execa("git", ["-C", dir, "add", "."], { env: sb.env });
      await execa("git", ["-C", dir, "commit", "-qm", "init"], { env: sb.env });
    }
    const first = await sb.cli(["orchestrate", "docs/master-plan.md", "--no-monitor", "--agent-cmd", sleepAgent], { cwd: projects[0] });
    expect(first.code, first.stderr).toBe(0);
    // The other project's plan file, never run: not the first project's run of that name.
    const none = await sb.cli(["status", "docs/master-plan.md"], { cwd: projects[1] });
    expect(none.code).toBe(2);
    expect(none.stderr.trim()).toBe(`autorun: no run of ${join(projects[1]!, "docs", "master-plan.md")} yet (the run named like it is of ${join(projects[0]!, "docs", "master-plan.md")}); start one with \`autorun orchestrate ${join(projects[1]!, "docs", "master-plan.md")}\`, or name a run: master-plan.`);
    const dry = await sb.cli(["orchestrate", "docs/master-plan.md", "--dry-run", "--json"], { cwd: projects[1] });
    expect((JSON.parse(dry.stdout) as { plan_name: string }).plan_name).toBe("master-plan-proj3");
    const second = await sb.cli(["orchestrate", "docs/master-plan.md", "--no-monitor", "--agent-cmd", sleepAgent], { cwd: projects[1] });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).not.toContain("continuing");
    expect(eventsOf(sb, "master-plan-proj3", "stage_launched", "1")).toHaveLength(1);
    for (const [i, dir] of projects.entries()) {
      const st = JSON.parse((await sb.cli(["status", "master-plan", "--json"], { cwd: dir })).stdout) as { project_root: string; plan_name: string };
      expect(st.project_root, `status from ${dir}`).toBe(dir);
      expect(st.plan_name).toBe(i === 0 ? "master-plan" : "master-plan-proj3");
    }
    // With no plan named, each project's own run, however recent the other.
    for (const [i, dir] of projects.entries()) {
      const r = await sb.cli(["report", "--json"], { cwd: dir });
      expect((JSON.parse(r.stdout) as { plan_name: string }).plan_name, `report from ${dir}`).toBe(i === 0 ? "master-plan" : "master-plan-proj3");
      expect(r.stderr).toBe("");
    }
    // Outside both: the latest run of any project, and said so.
    const outside = await sb.cli(["logs"], { cwd: sb.dir });
    expect(outside.code).toBe(0);
    expect(outside.stderr.trim()).toMatch(/^autorun: no run of \S+ here; this is the latest run of any project, master-plan(-proj3)? \(name one to choose it\)$/);
    // Run again in the first project: it continues its own, not the other's.
    const again = await sb.cli(["orchestrate", "docs/master-plan.md", "--no-monitor"], { cwd: projects[0] });
    expect(again.stdout).toContain("Orchestration master-plan exists");
  });

  it("two plan files of one project with the same name: each file, and the name itself, finds its own run", async ({ sb }) => {
    // Neither name has a letter a plan name keeps: both are "plan".
    const files = ["日本語.md", "中文.md"].map((f) => sb.writePlan(f, "## Stage 1: A\n"));
    for (const file of files) expect((await sb.cli(["orchestrate", file, "--no-monitor", "--agent-cmd", sleepAgent])).code).toBe(0);
    const names = await Promise.all(files.map(async (file) => (JSON.parse((await sb.cli(["status", file, "--json"])).stdout) as { plan_name: string; plan_path: string })));
    expect(names.map((n) => n.plan_path)).toEqual(files);
    expect(new Set(names.map((n) => n.plan_name)).size).toBe(2);
    expect((JSON.parse((await sb.cli(["status", "plan", "--json"])).stdout) as { plan_name: string }).plan_name).toBe("plan");
    for (const n of names) expect((await sb.cli(["stop", n.plan_name, "--sessions"])).code).toBe(0);
  });

  it.for([
    ["a.b and a_b", "stages:\n  - id: a.b\n    name: X\n  - id: a_b\n    name: Y\n", /would share the tmux session/],
    ["x.lock", "stages:\n  - id: x.lock\n    name: X\n", /\.lock.*git does not allow/],
    ["a..b", "stages:\n  - id: a..b\n    name: X\n", /"\.\.".*git does not allow/],
    ["end.", "stages:\n  - id: end.\n    name: X\n", /ends with "\.".*git does not allow/],
  ] as const)("stage ids %s are refused at dry run with exit 2", async ([, yaml, message], { sb }) => {
    const file = sb.writePlan("ids.yaml", yaml);
    const r = await sb.cli(["orchestrate", file, "--dry-run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain("ids.yaml");
    expect(existsSync(join(sb.home, "orchestration"))).toBe(false);
  });
});

describe("state files under umask 000", () => {
  it("events, status, settings and context files are 0600 and their directories 0700", async ({ sb }) => {
    const file = sb.writePlan("umask.md", "## Stage 1: A\n");
    const r = await execa("sh", ["-c", 'umask 000 && exec "$0" "$@"', process.execPath, CLI, "orchestrate", file, "--no-monitor", "--agent-cmd", sleepAgent], { cwd: sb.repo, env: sb.env, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const orch = join(sb.home, "orchestration", "umask");
    for (const f of ["events.jsonl", "status.json", "settings.json", join("stages", "stage-1-context.md")]) {
      expect((statSync(join(orch, f)).mode & 0o777).toString(8), f).toBe("600");
    }
    for (const d of [orch, join(orch, "stages")]) expect((statSync(d).mode & 0o777).toString(8), d).toBe("700");
  });
});

describe("smaller things that used to be internal errors", () => {
  it("a 251-character plan file name runs (its plan name is shortened)", async ({ sb }) => {
    const name = `${"long-plan-name-".repeat(17).slice(0, 248)}.md`;
    expect(name.length).toBe(251);
    const file = sb.writePlan(name, "## Stage 1: A\n");
    const dry = await sb.cli(["orchestrate", file, "--dry-run", "--json"], { env: fakeClaudeEnv(sb) });
    expect(dry.code, dry.stderr).toBe(0);
    const planName = (JSON.parse(dry.stdout) as { plan_name: string }).plan_name;
    expect(planName.length).toBeLessThanOrEqual(120);
    const r = await sb.cli(["orchestrate", file, "--no-monitor", "--agent-cmd", sleepAgent]);
    expect(r.code, r.stderr).toBe(0);
    expect(eventsOf(sb, planName, "stage_launched")).toHaveLength(1);
  });

  it("a damaged first event line is named as such, not as an unknown orchestration", async ({ sb }) => {
    const orchDir = await idleRun(sb, "damaged", "## Stage 1: A\n");
    const events = join(orchDir, "events.jsonl");
    writeFileSync(events, "{not json\n" + readFileSync(events, "utf8").split("\n").slice(1).join("\n"));
    const r = await sb.cli(["status", "damaged"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('orchestration "damaged" is damaged');
    expect(r.stderr).not.toContain("known:");
  });

  it("a hook payload over 8 MB is refused with a message (exit 1, never 2), nothing recorded", async ({ sb }) => {
    const orchDir = await idleRun(sb, "bighook", "## Stage 1: A\n");
    const before = readFileSync(join(orchDir, "events.jsonl"), "utf8");
    const r = await sb.cli(["hook", "Stop"], { env: stageEnv(orchDir, "1"), input: `{"x":"${"y".repeat(9 * 1024 * 1024)}"}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("over 8 MB");
    expect(readFileSync(join(orchDir, "events.jsonl"), "utf8")).toBe(before);
  });
});
