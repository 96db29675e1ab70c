import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { SIM, waitFor } from "../helpers/env.js";
import { eventsOf, expectClean, orchestrate, statusOf, waitForEnd } from "../helpers/orch.js";


describe("retrying a failed stage (real tmux, simulated agent)", () => {
  it("retry runs a failed stage again (resume says it will not), and its blocked dependants follow", async ({ sb }) => {
    const flag = join(sb.dir, "fixed");
    // Fails until the person "fixes" things (the flag file), then runs the simulated agent.
    const agent = JSON.stringify(["sh", "-c", `test -f '${flag}' && exec '${process.execPath}' '${SIM}' "$@"; echo "config missing"; exit 1`, "agent", "{args}"]);
    const plan = sb.writePlan("again.md", "## Stage 1: A\n## Stage 2: B\nDepends on: 1\n");
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", agent]);
    expect(r.code, r.stderr).toBe(0);
    expect(await waitForEnd(sb, "again")).toBe("failed");
    expect(statusOf(sb, "again")!.stages["2"]!.status).toBe("blocked");
    const resumed = await sb.cli(["resume", "again"]);
    expect(resumed.stdout).toContain("Stage 1 failed");
    expect(resumed.stdout).toContain("resume does not run it again");
    expect(resumed.stdout).toContain("autorun retry again 1");
    await sb.cli(["stop", "again"]);
    const blocked = await sb.cli(["retry", "again", "2"]);
    expect(blocked.code).toBe(2);
    expect(blocked.stderr).toContain("stage 2 is blocked by failed stage 1; retry that");
    writeFileSync(flag, "");
    const retried = await sb.cli(["retry", "again", "1"]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toContain("The plan was not changed since the run started: it runs as before (edit");
    const end = await waitFor("the retried run to end", () => {
      const events = sb.events("again");
      const after = events.slice(events.findIndex((e) => e.type === "stage_retried"));
      const done = after.find((e) => e.type === "orchestration_complete");
      return done && after.some((e) => e.type === "monitor_stopped") ? done : undefined;
    }, 60_000);
    expect(end.status).toBe("completed");
    expect(eventsOf(sb, "again", "stage_retried", "1")).toHaveLength(1);
    expect((await sb.cli(["logs", "again"])).stdout).toMatch(/stage 1: retried by a person in its worktree\n/);
    expect(eventsOf(sb, "again", "merge_complete")).toHaveLength(2);
    const ids = eventsOf(sb, "again", "stage_launched", "1").map((e) => e.session_id);
    expect(new Set(ids).size).toBe(ids.length);
    await expectClean(sb, "again");
  });

  it("retry --fresh-worktree keeps the old attempt's notes and commits aside, and drops a branch with nothing of its own", async ({ sb }) => {
    // Stage 1 writes its plan (never committed) and commits work; stage 2 only writes its plan. Both
    // then exit at once, twice: failed. ({worktree} is the worktree's name, under .claude/worktrees.)
    const script = 'cd ".claude/worktrees/$1" || exit 9; mkdir -p thoughts/plans; echo plan > "thoughts/plans/stage-$0.md"; if [ "$0" = 1 ] && [ ! -f work.txt ]; then echo w > work.txt; git add work.txt; git commit -qm "stage 1 work"; fi; exit 1';
    const agent = JSON.stringify(["sh", "-c", script, "{stage}", "{worktree}"]);
    const plan = sb.writePlan("afresh.md", "## Stage 1: A\n## Stage 2: B\n");
    expect((await sb.cli(["orchestrate", plan, "--agent-cmd", agent])).code).toBe(0);
    expect(await waitForEnd(sb, "afresh")).toBe("failed");
    const r = await sb.cli(["retry", "afresh", "1", "2", "--fresh-worktree"]);
    expect(r.code, r.stderr).toBe(0);
    const kept1 = join(sb.home, "orchestration", "afresh", "stages", "stage-1-attempt-1-files");
    expect(r.stdout).toContain(`Stage 1: its 1 uncommitted file(s) (plan, notes) are kept in ${kept1}.`);
    expect(r.stdout).toContain("Stage 1: its previous branch is kept as worktree-afresh-stage-1-attempt-1.");
    expect(r.stdout).toContain("Stage 2: its previous branch had no commits of its own; deleted.");
    expect(readFileSync(join(kept1, "thoughts", "plans", "stage-1.md"), "utf8")).toBe("plan\n");
    expect(await sb.git("log", "-1", "--format=%s", "worktree-afresh-stage-1-attempt-1")).toBe("stage 1 work");
    expect(await sb.git("branch", "--list", "worktree-afresh-stage-2-attempt-*")).toBe("");
    // A change to a tracked file is the person's to keep: refused, nothing moved.
    await waitFor("the retried run to fail again", () => eventsOf(sb, "afresh", "orchestration_complete").length === 2, 30_000);
    const wt = join(sb.repo, ".claude", "worktrees", "afresh-stage-1");
    writeFileSync(join(wt, "README.md"), "changed by hand\n");
    const refused = await sb.cli(["retry", "afresh", "1", "--fresh-worktree"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`stage 1's worktree ${wt} has uncommitted changes (README.md); commit or undo them, or retry without --fresh-worktree.`);
  });

  it("retry refuses a stage that is not failed or blocked (exit 2)", async ({ sb }) => {
    const plan = sb.writePlan("busy.md", "## Stage 1: A\n");
    const agent = JSON.stringify([process.execPath, "-e", "setTimeout(() => {}, 60000)", "{stage}"]);
    expect((await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", agent])).code).toBe(0);
    const r = await sb.cli(["retry", "busy", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^autorun: stage 1 is running \(\w[^)]*\), not failed; retry is for a failed or blocked stage\. To talk to its agent: autorun attach busy 1; to let what waits go on without it: autorun skip busy 1\.$/);
    // Stopped by a person: resume goes on with it.
    expect((await sb.cli(["stop", "busy", "--sessions"])).code).toBe(0);
    const stopped = await sb.cli(["retry", "busy", "1"]);
    expect(stopped.code).toBe(2);
    expect(stopped.stderr.trim()).toBe("autorun: stage 1 is stopped, not failed; to go on with it where it was: autorun resume busy (retry is for a failed or blocked stage).");
  });

  it("resume relaunches a stage whose session was ended while no monitor ran, its attempts used or not; not one that handed over", async ({ sb }) => {
    const plan = sb.writePlan("gone.md", "## Stage 1: Only\n## Stage 2: Handed over\n");
    // Stage 2 hands over when told (a file appears), then sleeps; stage 1 sleeps.
    const flag = join(sb.dir, "hand-over");
    const agent = JSON.stringify(["sh", "-c", `if [ "$0" = 2 ]; then while [ ! -e ${flag} ]; do sleep 0.2; done; autorun phase implement done; fi; exec sleep 600`, "{stage}"]);
    const up = async () => (await sb.tmux("has-session", "-t", "=gone_stage-1")).code === 0;
    expect((await sb.cli(["orchestrate", plan, "--agent-cmd", agent])).code).toBe(0);
    await waitFor("the session", up);
    // Its first death is its relaunch; the second would fail it.
    await sb.tmux("kill-session", "-t", "=gone_stage-1");
    await waitFor("the relaunch", () => eventsOf(sb, "gone", "stage_relaunched", "1").length === 1, 30_000);
    expect((await sb.cli(["logs", "gone"])).stdout).toMatch(/stage 1: its session gone_stage-1 is gone\n.*stage 1: relaunched/);
    await waitFor("the session again", up);
    expect((await sb.cli(["stop", "gone"])).code).toBe(0);
    await sb.tmux("kill-session", "-t", "=gone_stage-1");
    // Stage 2 hands over while no monitor runs, and its session goes too: it is for the merge, not a relaunch.
    writeFileSync(flag, "");
    await waitFor("stage 2's hand-over", () => eventsOf(sb, "gone", "phase_status", "2").some((e) => e.phase === "implement" && e.status === "done"), 30_000);
    await sb.tmux("kill-session", "-t", "=gone_stage-2");
    const r = await sb.cli(["resume", "gone"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Stage 1: its session is gone; the monitor relaunches it (not counted against its attempts).");
    // Again, with its monitor at work: said so, nothing granted twice.
    const twice = await sb.cli(["resume", "gone"]);
    expect(twice.code, twice.stderr).toBe(0);
    expect(twice.stdout).toMatch(/^The monitor of gone is already running \(pid \d+\): it relaunches stages whose session died and continues the plan\.$/m);
    expect(twice.stdout).not.toContain("session is gone");
    expect(eventsOf(sb, "gone", "orchestration_resumed")).toHaveLength(1);
    await waitFor("the second relaunch", () => eventsOf(sb, "gone", "stage_relaunched", "1").length === 2, 30_000);
    await waitFor("the session a third time", up);
    expect(eventsOf(sb, "gone", "stage_failed")).toEqual([]);
    expect(statusOf(sb, "gone")!.stages["1"]!.status).toBe("in_progress");
    expect((await sb.cli(["stop", "gone", "--sessions"])).code).toBe(0);
  });

  it("orchestrate --fresh keeps the previous run aside under its own name, log and report, reachable by every command", async ({ sb }) => {
    const plan = sb.writePlan("again.md", "## Stage 1: Only\n");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "again")).toBe("completed");
    const firstReport = readFileSync(join(sb.home, "reports", "again.md"), "utf8");
    // Without --fresh, the dry run refuses as the run does.
    const refused = await Promise.all([["--dry-run"], []].map((flags) => sb.cli(["orchestrate", plan, "--agent-cmd", "sim", ...flags])));
    for (const x of refused) {
      expect(x.code, x.stderr).toBe(2);
      expect(x.stderr).toMatch(/^autorun: (the run would refuse: )?orchestration again already completed \(.*\); pass --fresh to start it again/);
    }
    const r = await sb.cli(["orchestrate", plan, "--fresh", "--agent-cmd", "sim"]);
    expect(r.code, r.stderr).toBe(0);
    const kept = /kept as (again\.[\dT-]+)/.exec(r.stdout)?.[1];
    expect(kept, r.stdout).toBeDefined();
    expect(await waitForEnd(sb, "again")).toBe("completed");
    // The simulated agent's work differs from the first run's: merged at once, never sent back empty.
    expect(sb.events("again").filter((e) => e.type === "message_queued")).toEqual([]);
    // Listed by two names, each opened by its own.
    const list = (await sb.cli(["status"])).stdout;
    expect(list).toMatch(new RegExp(`^again\\s+completed`, "m"));
    expect(list).toContain(kept!);
    const old = await sb.cli(["report", kept!]);
    expect(old.code).toBe(0);
    expect(old.stdout).toBe(firstReport.trimEnd());
    expect(readFileSync(join(sb.home, "reports", "again.md"), "utf8")).not.toBe(firstReport);
    expect((await sb.cli(["status", kept!])).stdout).toMatch(new RegExp(`^${kept!.replace(/\./g, "\\.")}: completed`));
    // Its own monitor log: the new run's log starts with the new run.
    const logs = readdirSync(join(sb.home, "logs")).sort();
    expect(logs).toEqual(["again-monitor.log", `again-monitor.${kept!.split(".")[1]}.log`].sort());
    expect((await sb.cli(["logs", kept!])).stdout).toContain("orchestration completed");
  });
  it("orchestrate --fresh is refused while the run's monitor or sessions run: exit 2, nothing moved; after a stop it starts over on names of its own", async ({ sb }) => {
    const plan = sb.writePlan("live.md", "## Stage 1: Only\n");
    const agent = JSON.stringify(["sh", "-c", "exec sleep 600", "{stage}", "{worktree}"]);
    expect((await sb.cli(["orchestrate", plan, "--agent-cmd", agent])).code).toBe(0);
    await waitFor("the session", async () => (await sb.tmux("has-session", "-t", "=live_stage-1")).code === 0);
    const before = readdirSync(join(sb.home, "orchestration"));
    const r = await sb.cli(["orchestrate", plan, "--fresh", "--agent-cmd", agent]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^autorun: orchestration live is still running \(its monitor \(pid \d+\) and session live_stage-1\); .*autorun stop live --sessions/);
    const dry = await sb.cli(["orchestrate", plan, "--fresh", "--agent-cmd", agent, "--dry-run"]);
    expect(dry.code).toBe(2);
    expect(dry.stderr.trim()).toMatch(/^autorun: the run would refuse: orchestration live is still running \(its monitor \(pid \d+\) and session live_stage-1\)/);
    expect(readdirSync(join(sb.home, "orchestration"))).toEqual(before);
    expect((await sb.cli(["stop", "live", "--sessions"])).code).toBe(0);
    // The stopped run's stage left work on its branch: --fresh starts over on names of its own
    // and leaves that branch and worktree to the run set aside.
    const old = statusOf(sb, "live")!.stages["1"]!;
    writeFileSync(join(old.worktree, "kept.txt"), "old work\n");
    await sb.git("-C", old.worktree, "add", "kept.txt");
    await sb.git("-C", old.worktree, "commit", "-qm", "old work");
    const again = await sb.cli(["orchestrate", plan, "--fresh", "--agent-cmd", agent, "--no-monitor"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/kept as live\./);
    const fresh = statusOf(sb, "live")!.stages["1"]!;
    expect(fresh.branch).not.toBe(old.branch);
    expect(fresh.worktree).not.toBe(old.worktree);
    expect(await sb.git("log", "-1", "--format=%s", old.branch)).toBe("old work");
    expect(await sb.git("log", "-1", "--format=%s", fresh.branch)).not.toBe("old work");
    // The run set aside keeps its own monitor log, under its own name.
    const kept = /kept as (live\.[\dT-]+)/.exec(again.stdout)![1]!;
    expect(readdirSync(join(sb.home, "logs"))).toContain(`live-monitor.${kept.split(".")[1]}.log`);
    expect((await sb.cli(["logs", kept])).stdout).toContain("monitor started");
    await sb.cli(["stop", "live", "--sessions"]);
  });
});
