/** `doctor --fix` starts nothing and touches only what this home recorded; `discard` ends a run for good. */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { eventsOf, idleRun, monitorPid, orchestrate, waitForEnd } from "../helpers/orch.js";
import { CLI, waitFor, type Sandbox } from "../helpers/env.js";

describe("doctor never starts anything", () => {
  it("doctor --fix with a stopped run in another project starts nothing, says what would resume it, and leaves another home's session alone", async ({ sb }) => {
    const dir = await idleRun(sb, "stopped");
    // The person stopped it: its sessions are gone and no monitor runs.
    for (const id of ["1", "2"]) await sb.tmux("kill-session", "-t", `=stopped_stage-${id}`);
    // A session of another AUTORUN_HOME's run (or a person's own), named like a stage's.
    expect((await sb.tmux("new-session", "-d", "-s", "elsewhere_stage-1", "sleep", "120")).code).toBe(0);
    const elsewhere = join(sb.dir, "elsewhere");
    mkdirSync(elsewhere);
    const r = await sb.cli(["doctor", "--fix", "--tmux-socket", sb.socket], { cwd: elsewhere });
    expect(r.stdout).toContain("stopped: stages 1, 2 are in progress but their sessions are gone and no monitor runs; to go on: autorun resume stopped");
    expect(r.stdout).not.toMatch(/resumed|fixed: .*monitor/);
    expect(r.stdout).toMatch(/tmux session elsewhere_stage-1 .*is no stage of an orchestration under .*; left alone/);
    expect(existsSync(join(dir, "monitor.pid"))).toBe(false);
    expect(eventsOf(sb, "stopped", "monitor_started")).toHaveLength(0);
    expect(eventsOf(sb, "stopped", "stage_relaunched")).toHaveLength(0);
    expect((await sb.tmux("has-session", "-t", "=elsewhere_stage-1")).code).toBe(0);
    expect((await sb.tmux("has-session", "-t", "=stopped_stage-1")).code).not.toBe(0);
    // A monitor killed with SIGKILL leaves its pid file: doctor says it is not running, and --fix removes only the file.
    const gone = (await execa("sh", ["-c", "echo $$"])).stdout.trim();
    writeFileSync(join(dir, "monitor.pid"), `${gone}\n`);
    const stale = await sb.cli(["doctor", "--fix", "--tmux-socket", sb.socket], { cwd: elsewhere });
    expect(stale.stdout).toContain(`✗ stopped: stale monitor.pid (its monitor, pid ${gone}, is not running)`);
    expect(existsSync(join(dir, "monitor.pid"))).toBe(false);
    expect(eventsOf(sb, "stopped", "monitor_started")).toHaveLength(0);
  });

  it("doctor names a skipped stage's worktree with nothing of its own as such, with commands that refuse to lose work", async ({ sb }) => {
    await idleRun(sb, "skipped", "## Stage 1: A\n## Stage 2: B\n");
    const wt1 = join(sb.repo, ".claude", "worktrees", "skipped-stage-1");
    const wt2 = join(sb.repo, ".claude", "worktrees", "skipped-stage-2");
    writeFileSync(join(wt2, "work.txt"), "unmerged\n");
    await execa("git", ["-C", wt2, "add", "work.txt"], { env: sb.env });
    await execa("git", ["-C", wt2, "commit", "-qm", "unmerged work"], { env: sb.env });
    for (const id of ["1", "2"]) expect((await sb.cli(["skip", "skipped", id])).code).toBe(0);
    await waitForEnd(sb, "skipped");
    // No claude on PATH (the test runner's node_modules/.bin has one).
    const path = (sb.env.PATH ?? "").split(":").filter((d) => !d.includes("node_modules")).join(":");
    const r = await sb.cli(["doctor", "--fix"], { env: { PATH: path } });
    const empty = `! worktree ${wt1} belongs to stage 1, which was skipped; it holds nothing main lacks (no commits or changed files of its own); left alone (to remove it: git -C ${sb.repo} worktree remove ${wt1} && git -C ${sb.repo} branch -d worktree-skipped-stage-1)`;
    expect(r.stdout).toContain(empty);
    // With no claude installed: the runs here use their own agent, and doctor says they do not need it.
    expect(r.stdout).toContain("! claude not found: npm install -g @anthropic-ai/claude-code, or set agentCommand (the runs under this home use their own agent command, so they do not need it; a run without --agent-cmd does)");
    expect(r.stdout).toContain(`! worktree ${wt2} belongs to stage 2, which was skipped (not merged; skip keeps its worktree and branch); left alone (when you no longer need it: git -C ${sb.repo} worktree remove ${wt2} && git -C ${sb.repo} branch -D worktree-skipped-stage-2)`);
    expect(existsSync(wt1) && existsSync(wt2)).toBe(true);
    // The commands it names do what it says.
    for (const command of empty.slice(empty.indexOf("to remove it: ") + 14, -1).split(" && ")) await execa(command.split(" ")[0]!, command.split(" ").slice(1), { env: sb.env });
    expect(existsSync(wt1)).toBe(false);
    expect(await sb.git("branch", "--list", "worktree-skipped-stage-1")).toBe("");
  });
});

describe("autorun discard", () => {
  it("asks (exit 2 without a terminal), then ends the run: sessions, worktrees, merged branches, reviews, state; unmerged work is kept and named", async ({ sb }) => {
    const dir = await idleRun(sb, "abandon");
    const wt2 = join(sb.repo, ".claude", "worktrees", "abandon-stage-2");
    writeFileSync(join(wt2, "work.txt"), "unmerged\n");
    await execa("git", ["-C", wt2, "add", "work.txt"], { env: sb.env });
    await execa("git", ["-C", wt2, "commit", "-qm", "unmerged work"], { env: sb.env });
    const review = await sb.cli(["review", "new", "--title", "Which?", "--question", "A or B?", "--orch-dir", dir, "--stage", "1"]);
    expect(review.code).toBe(0);
    const file = review.stdout.trim();
    // Earlier attempts kept by `retry --fresh-worktree`: one with work the base lacks, one merged.
    await sb.git("branch", "worktree-abandon-stage-2-attempt-1", "worktree-abandon-stage-2");
    await sb.git("branch", "worktree-abandon-stage-2-attempt-2", "main");

    const refused = await sb.cli(["discard", "abandon"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("discard removes abandon for good and asks first; run it in a terminal, or add --yes.");
    expect(existsSync(dir)).toBe(true);
    expect((await sb.tmux("has-session", "-t", "=abandon_stage-1")).code).toBe(0);

    const r = await sb.cli(["discard", "abandon", "--yes"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("- end 2 tmux session(s): abandon_stage-1, abandon_stage-2");
    expect(r.stdout).toContain("- delete merged branch(es): worktree-abandon-stage-1, worktree-abandon-stage-2-attempt-2");
    expect(r.stdout).toContain(`- keep branch worktree-abandon-stage-2: 1 commit(s) main does not have (delete it yourself with: git -C ${sb.repo} branch -D worktree-abandon-stage-2)`);
    expect(r.stdout).toContain(`- keep branch worktree-abandon-stage-2-attempt-1: 1 commit(s) main does not have (delete it yourself with: git -C ${sb.repo} branch -D worktree-abandon-stage-2-attempt-1)`);
    expect(r.stdout).toContain("Discarded abandon.");
    expect((await sb.tmux("list-sessions")).code).not.toBe(0);
    expect((await sb.git("worktree", "list")).split("\n")).toHaveLength(1);
    expect((await sb.git("branch", "--list", "worktree-*", "--format=%(refname:short)")).trim().split("\n")).toEqual(["worktree-abandon-stage-2", "worktree-abandon-stage-2-attempt-1"]);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    // Nothing of it in the home: not the lock orchestrate took for its name either.
    expect(readdirSync(join(sb.home, "locks")).filter((f) => f.includes("abandon"))).toEqual([]);
    expect((await sb.cli(["status"])).stdout).toContain("No orchestrations");
  });

  it("keeps a merged branch whose worktree it keeps for its uncommitted files, and says how to remove both", async ({ sb }) => {
    await idleRun(sb, "notes");
    const wt1 = join(sb.repo, ".claude", "worktrees", "notes-stage-1");
    writeFileSync(join(wt1, "notes.md"), "mine\n");
    // Stage 2: a commit of its own and a file not committed.
    const wt2 = join(sb.repo, ".claude", "worktrees", "notes-stage-2");
    writeFileSync(join(wt2, "work.txt"), "unmerged\n");
    await execa("git", ["-C", wt2, "add", "work.txt"], { env: sb.env });
    await execa("git", ["-C", wt2, "commit", "-qm", "unmerged work"], { env: sb.env });
    writeFileSync(join(wt2, "scratch.txt"), "not committed\n");
    const r = await sb.cli(["discard", "notes", "--yes"]);
    expect(r.code, r.stderr).toBe(0);
    const line = `- keep branch worktree-notes-stage-2: 1 commit(s) main does not have, checked out in the worktree kept above (once you have what you need from it: git -C ${sb.repo} worktree remove --force ${wt2} && git -C ${sb.repo} branch -D worktree-notes-stage-2)`;
    expect(r.stdout).toContain(line);
    // What it says to run works.
    const [remove, del] = line.slice(line.indexOf("git -C"), -1).split(" && ").map((c) => c.split(" ").slice(1));
    await sb.git(...remove!);
    await sb.git(...del!);
    expect(existsSync(wt2)).toBe(false);
    expect(r.stdout).toContain(`- keep worktree ${wt1}: it has uncommitted or untracked files (notes.md)`);
    expect(r.stdout).toContain(`- keep branch worktree-notes-stage-1: checked out in the worktree kept above (once you have what you need from it: git -C ${sb.repo} worktree remove --force ${wt1} && git -C ${sb.repo} branch -D worktree-notes-stage-1)`);
    expect(r.stdout).not.toMatch(/delete merged branch\(es\): .*worktree-notes-stage-1/);
    expect(await sb.git("branch", "--list", "worktree-notes-stage-1")).toContain("worktree-notes-stage-1");
  });
});

describe("autorun discard of a run that moves on", () => {
  it("never deletes what it says it keeps: files of a stage merged while it asks go beside the report, and it says so", async ({ sb }) => {
    // The merge's check takes a while: discard looks while it runs, and the monitor it stops ends it first.
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ validate: [["sleep", "2"]], sandbox: false }));
    const plan = sb.writePlan("moving.md", "## Stage 1: Works\n");
    await orchestrate(sb, plan);
    const worktree = join(sb.repo, ".claude", "worktrees", "moving-stage-1");
    await waitFor("the worktree", () => existsSync(join(worktree, ".git")), 30_000);
    writeFileSync(join(worktree, "mine.txt"), "my notes\n");
    await waitFor("the hand-over", () => eventsOf(sb, "moving", "phase_status", "1").some((e) => e.phase === "implement" && e.status === "done"), 30_000);
    const r = await sb.cli(["discard", "moving", "--yes"]);
    expect(r.code, r.stderr).toBe(0);
    const notes = join(sb.home, "reports", "moving-notes", "stage-1");
    // Wherever the monitor left them, the files are there, and the output says where.
    if (existsSync(worktree)) {
      expect(r.stdout).toContain(`- keep worktree ${worktree}: it has uncommitted or untracked files (mine.txt)`);
      expect(readFileSync(join(worktree, "mine.txt"), "utf8")).toBe("my notes\n");
    } else {
      expect(r.stdout).toContain("moving moved on before its monitor stopped; what is done instead:");
      expect(r.stdout).toContain(`- keep the notes kept from the worktree of stage 1: moved to ${join(sb.home, "reports", "moving-notes")}`);
      expect(readFileSync(join(notes, "mine.txt"), "utf8")).toBe("my notes\n");
    }
    expect(existsSync(join(sb.home, "orchestration", "moving"))).toBe(false);
  });

  it("keeps the notes of stages merged before it, beside the report it keeps", async ({ sb }) => {
    const plan = sb.writePlan("done.md", "## Stage 1: Works\n");
    await orchestrate(sb, plan);
    const worktree = join(sb.repo, ".claude", "worktrees", "done-stage-1");
    await waitFor("the worktree", () => existsSync(join(worktree, ".git")), 30_000);
    writeFileSync(join(worktree, "mine.txt"), "my notes\n");
    expect(await waitForEnd(sb, "done")).toBe("completed");
    const r = await sb.cli(["discard", "done", "--yes"]);
    expect(r.code, r.stderr).toBe(0);
    const to = join(sb.home, "reports", "done-notes");
    expect(r.stdout).toContain(`- keep the notes kept from the worktree of stage 1: moved to ${to}`);
    expect(r.stdout).toContain(`- keep its report: ${join(sb.home, "reports", "done.md")}`);
    expect(readFileSync(join(to, "stage-1", "mine.txt"), "utf8")).toBe("my notes\n");
    expect(r.stdout).toContain("Discarded done. What was kept is listed above.");
    // The report it kept is what `report` shows of it now.
    const report = await sb.cli(["report", "done"]);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stderr).toContain(`done is no orchestration any more (discarded); its report as it was kept: ${join(sb.home, "reports", "done.md")}`);
    expect(report.stdout).toBe(readFileSync(join(sb.home, "reports", "done.md"), "utf8").trimEnd());
  });
});

describe("Ctrl-C of a monitor in the foreground", () => {
  it("says that the sessions keep running, and how to go on or end them", async ({ sb }) => {
    await idleRun(sb, "fg");
    const child = execa(process.execPath, [CLI, "monitor", "fg"], { cwd: sb.repo, env: sb.env, extendEnv: false, reject: false });
    await waitFor("the monitor to start", () => eventsOf(sb, "fg", "monitor_started").length > 0, 20_000);
    child.kill("SIGINT");
    const r = await child;
    // 128 + SIGINT, or the signal itself re-raised once the monitor has let go of its pid file.
    expect(r.exitCode === 130 || r.signal === "SIGINT", `exit ${r.exitCode} signal ${r.signal}`).toBe(true);
    expect(String(r.stderr)).toContain("autorun: the monitor stops; the stage sessions keep running. Go on in the background: autorun resume fg; end them too: autorun stop fg --sessions");
    expect((await sb.tmux("has-session", "-t", "=fg_stage-1")).code).toBe(0);
  });
});

describe("a monitor whose parent never collects it once it exits", () => {
  // As under a container's PID 1 that does not reap: the monitor, started in the background of a
  // shell that then becomes a program that never waits, stays a zombie after it exits.
  const unreaped = (sb: Sandbox, plan: string) => {
    const parent = spawn("sh", ["-c", '"$0" "$1" monitor "$2" >/dev/null 2>&1 & exec sleep 60', process.execPath, CLI, plan], { cwd: sb.repo, env: sb.env, stdio: "ignore" });
    return { parent, pid: waitFor("the monitor to hold its pid file", () => monitorPid(sb, plan), 20_000) };
  };
  const state = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2);
  };

  it("is stopped by stop and by discard, which go on once it has exited", async ({ sb }) => {
    await idleRun(sb, "zombie", "## Stage 1: A\n");
    const first = unreaped(sb, "zombie");
    try {
      const pid = await first.pid;
      const stop = await sb.cli(["stop", "zombie"]);
      expect(stop.stderr).toBe("");
      expect(stop.stdout).toContain(`Stopped the monitor (pid ${pid}).`);
      // Without --sessions, what keeps running is said.
      expect(stop.stdout).toContain("The session of stage 1 keeps running, unwatched; to end it too: autorun stop zombie --sessions");
      expect(stop.code).toBe(0);
      expect(state(pid)).toBe("Z");
    } finally {
      first.parent.kill();
    }
    const second = unreaped(sb, "zombie");
    try {
      const pid = await second.pid;
      // The monitor before it stopped as asked: its log says nothing of a monitor that did not.
      const log = join(sb.home, "logs", "zombie-monitor.log");
      await waitFor("the second monitor's start in the log", () => readFileSync(log, "utf8").includes(`monitor started (pid ${pid})`));
      expect(readFileSync(log, "utf8")).not.toContain("ended without stopping");
      const discard = await sb.cli(["discard", "zombie", "--yes"]);
      expect(discard.stderr).toBe("");
      expect(discard.stdout).toContain("Discarded zombie.");
      expect(discard.code).toBe(0);
      expect(state(pid)).toBe("Z");
    } finally {
      second.parent.kill();
    }
  });
});
