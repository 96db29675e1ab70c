import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { execa } from "execa";
import { holdsFor, waitFor } from "../helpers/env.js";
import { eventsOf, expectClean, orchestrate, statusOf, waitForEnd } from "../helpers/orch.js";
import { foldEvents } from "../../src/core/fold.js";
import type { AutorunEvent } from "../../src/types/schemas.js";


describe("keeping agents moving", () => {
  it("nudges a stage that stalls at its prompt (hook path), verified, and it finishes", async ({ sb }) => {
    const plan = sb.writePlan("stall.md", "## Stage 1: Stalls\nsim: stall\n");
    await orchestrate(sb, plan, ["--stall-seconds", "3"]);
    expect(await waitForEnd(sb, "stall")).toBe("completed");
    const detected = eventsOf(sb, "stall", "stall_detected", "1");
    expect(detected[0]!.source).toBe("hook");
    // The hook path waits stallSeconds too (a person attached to the pane is not typed over).
    const stopped = eventsOf(sb, "stall", "agent_stopped", "1")[0]!;
    expect(Date.parse(String(detected[0]!.ts)) - Date.parse(String(stopped.ts))).toBeGreaterThanOrEqual(3000);
    const sent = eventsOf(sb, "stall", "stall_continue_sent", "1");
    expect(sent).toHaveLength(1);
    expect(sent[0]!.verified).toBe(true);
    expect(statusOf(sb, "stall")!.stages["1"]).toMatchObject({ status: "completed" });
    await expectClean(sb, "stall");
  });

  it("a merge's message that finds the pane busy is delivered once the agent is idle, and no bare nudge takes its place", async ({ sb }) => {
    const plan = sb.writePlan("busymsg.md", "## Stage 1: One\nsim: conflict\n## Stage 2: Two\nsim: conflict, slow, busy-after-done\n");
    await orchestrate(sb, plan, ["--stall-seconds", "1"]);
    expect(await waitForEnd(sb, "busymsg", 90_000)).toBe("completed");
    const queued = eventsOf(sb, "busymsg", "message_queued", "2");
    expect(queued).toHaveLength(1);
    const delivered = eventsOf(sb, "busymsg", "message_delivered", "2");
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ id: queued[0]!.id, verified: true });
    const handedOver = eventsOf(sb, "busymsg", "phase_status", "2").find((e) => e.phase === "implement" && e.status === "done")!;
    // The agent was busy for 3 s after handing over: the message waited for it.
    expect(Date.parse(String(delivered[0]!.ts)) - Date.parse(String(handedOver.ts))).toBeGreaterThanOrEqual(2500);
    const events = sb.events("busymsg");
    const q = events.indexOf(events.find((e) => e.type === "message_queued")!);
    const d = events.indexOf(events.find((e) => e.type === "message_delivered")!);
    expect(events.slice(q, d).filter((e) => e.type === "stall_continue_sent" && e.stage === "2")).toHaveLength(0);
    await expectClean(sb, "busymsg");
  });

  it("notices a silent stall from the screen alone, through an input box that drops a fast Enter", async ({ sb }) => {
    const plan = sb.writePlan("silent.md", "## Stage 1: Silent\nsim: stall-silent, drop-enter\n");
    await orchestrate(sb, plan, ["--stall-seconds", "2"]);
    expect(await waitForEnd(sb, "silent")).toBe("completed");
    expect(eventsOf(sb, "silent", "stall_detected", "1")[0]!.source).toBe("screen");
    const sent = eventsOf(sb, "silent", "stall_continue_sent", "1");
    expect(sent.at(-1)!.verified).toBe(true);
  });

  it("never types into a busy pane", async ({ sb }) => {
    const got = join(sb.dir, "typed.txt");
    const script = `process.stdout.write("✶ Frolicking… (12s · esc to interrupt)\\n❯ \\n"); process.stdin.setRawMode(true); process.stdin.on("data", d => require("fs").appendFileSync(${JSON.stringify(got)}, d)); setInterval(() => {}, 1000);`;
    await sb.tmux("new-session", "-d", "-s", "busy", "--", process.execPath, "-e", script);
    await waitFor("the busy screen", async () => (await sb.tmux("capture-pane", "-p", "-t", "=busy:")).stdout.includes("esc to interrupt"));
    const { createTmux } = await import("../../src/adapters/tmux.js");
    const { verifiedNudge } = await import("../../src/monitor/nudge.js");
    const { realClock } = await import("../../src/core/clock.js");
    const result = await verifiedNudge(createTmux(sb.socket), "busy", "continue", { clock: realClock });
    expect(result).toMatchObject({ sent: false, verified: false });
    expect(result.evidence).toContain("busy");
    expect(existsSync(got)).toBe(false);
  });
});

describe("doctor", () => {
  it("finds and fixes a leaked worktree, and leaves an unmerged branch alone", async ({ sb }) => {
    // A finished run whose cleanup is then undone: its worktrees and branches are autorun's, recorded.
    await orchestrate(sb, sb.writePlan("old.md", "## Stage 1: A\n## Stage 2: B\n## Stage 3: C\n"));
    expect(await waitForEnd(sb, "old")).toBe("completed");
    const wt = (n: string) => join(sb.repo, ".claude", "worktrees", n);
    mkdirSync(join(sb.repo, ".claude", "worktrees"), { recursive: true });
    await sb.git("worktree", "add", "-q", "-b", "worktree-old-stage-1", wt("old-stage-1"), "HEAD");
    await sb.git("worktree", "add", "-q", "-b", "worktree-old-stage-2", wt("old-stage-2"), "HEAD");
    writeFileSync(join(wt("old-stage-2"), "work.txt"), "unmerged\n");
    await execa("git", ["-C", wt("old-stage-2"), "add", "work.txt"], { env: sb.env });
    await execa("git", ["-C", wt("old-stage-2"), "commit", "-qm", "unmerged work"], { env: sb.env });
    await sb.git("branch", "worktree-old-stage-3");

    let r = await sb.cli(["doctor"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`leaked worktree ${wt("old-stage-1")}`);
    expect(r.stdout).toMatch(/old-stage-2.*1 unmerged commit.*left alone/);
    expect(r.stdout).toContain(`merged branch worktree-old-stage-3 of ${sb.repo} is left over`);

    r = await sb.cli(["doctor", "--fix"]);
    expect(r.stdout).toContain("fixed: removed worktree");
    // The summary counts what was fixed, then what is left.
    expect(r.stdout.trim().split("\n").at(-1)).toMatch(/^Fixed \d+ problems?; (no problems left\.|nothing left to fix; \d+ warnings? \(!\) above\.)$/);
    expect(existsSync(wt("old-stage-1"))).toBe(false);
    expect(existsSync(join(wt("old-stage-2"), "work.txt"))).toBe(true);
    const branches = await sb.git("branch", "--list", "worktree-*", "--format=%(refname:short)");
    expect(branches.split("\n").sort()).toEqual(["worktree-old-stage-2"]);
    r = await sb.cli(["doctor"]);
    expect(r.stdout).not.toContain("leaked worktree");
  });

  it("names a stage's earlier attempt kept by retry --fresh-worktree: deletes it once merged, else says how", async ({ sb }) => {
    await orchestrate(sb, sb.writePlan("old.md", "## Stage 1: A\n"));
    expect(await waitForEnd(sb, "old")).toBe("completed");
    // Attempt 1 has a commit the base lacks; attempt 2 is at the base (merged).
    const tree = (await sb.git("rev-parse", "HEAD^{tree}")).trim();
    const commit = (await execa("git", ["-C", sb.repo, "commit-tree", tree, "-p", "HEAD", "-m", "first try"], { env: sb.env })).stdout.trim();
    await sb.git("update-ref", "refs/heads/worktree-old-stage-1-attempt-1", commit);
    await sb.git("branch", "worktree-old-stage-1-attempt-2");
    let r = await sb.cli(["doctor"]);
    expect(r.stdout).toContain(`! branch worktree-old-stage-1-attempt-1 of ${sb.repo} is an earlier attempt of worktree-old-stage-1, kept by autorun retry --fresh-worktree, with 1 commit(s) the base lacks; left alone (when you no longer need it: git -C ${sb.repo} branch -D worktree-old-stage-1-attempt-1)`);
    expect(r.stdout).toContain(`✗ branch worktree-old-stage-1-attempt-2 of ${sb.repo} (an earlier attempt of worktree-old-stage-1, kept by autorun retry --fresh-worktree) is merged and left over`);
    r = await sb.cli(["doctor", "--fix"]);
    expect(r.stdout).toContain(`fixed: deleted worktree-old-stage-1-attempt-2 in ${sb.repo}`);
    expect((await sb.git("branch", "--list", "worktree-*", "--format=%(refname:short)")).trim()).toBe("worktree-old-stage-1-attempt-1");
  });
});

describe("a stage's worktree removed by hand", () => {
  it("the monitor ends its session and runs it again in a new one; with a plain folder left there, doctor says how to do it by hand, which works", async ({ sb }) => {
    const agent = JSON.stringify(["sleep", "600", "{stage}"]);
    expect((await sb.cli(["orchestrate", sb.writePlan("lost.md", "## Stage 1: A\n"), "--agent-cmd", agent])).code).toBe(0);
    const worktree = await waitFor("the worktree", () => statusOf(sb, "lost")?.stages["1"]?.worktree as string | undefined);
    await waitFor("the session", async () => (await sb.tmux("has-session", "-t", "=lost_stage-1")).code === 0);
    // Removed while the agent runs: the monitor ends that session and relaunches the stage in a
    // worktree made again from its branch.
    await sb.git("worktree", "remove", "--force", worktree);
    await waitFor("the relaunch", () => eventsOf(sb, "lost", "stage_relaunched", "1").length === 1, 30_000);
    expect(eventsOf(sb, "lost", "session_dead", "1")).toEqual([expect.objectContaining({ reason: "worktree_gone" })]);
    expect(existsSync(join(worktree, ".git"))).toBe(true);
    expect(foldEvents(sb.events("lost") as unknown as AutorunEvent[])!.stages["1"]).toMatchObject({ status: "in_progress", sessions: 2 });
    // Its .git gone but the folder left (an agent's doing, say): files there are someone's, so the
    // monitor leaves it to a person, and doctor says what to do.
    rmSync(join(worktree, ".git"));
    const r = await sb.cli(["doctor"]);
    const hint = `lost: stage 1's worktree ${worktree} is gone (removed by hand?), so its work cannot be committed there; to relaunch it in a fresh worktree from its branch: autorun stop lost --sessions, move the folder ${worktree} aside (it is no git worktree now), then autorun resume lost`;
    expect(r.stdout).toContain(`! ${hint}`);
    expect(eventsOf(sb, "lost", "stage_relaunched")).toHaveLength(1);
    // The hint, followed.
    expect((await sb.cli(["stop", "lost", "--sessions"])).code).toBe(0);
    await execa("mv", [worktree, `${worktree}.aside`]);
    expect((await sb.cli(["resume", "lost"])).code).toBe(0);
    await waitFor("the relaunch", () => eventsOf(sb, "lost", "stage_relaunched", "1").length === 2, 30_000);
    await waitFor("a worktree again", () => existsSync(join(worktree, ".git")), 30_000);
    expect((await sb.cli(["doctor"])).stdout).not.toContain("is gone (removed by hand?)");
    expect((await sb.cli(["stop", "lost", "--sessions"])).code).toBe(0);
  });
});

describe("permission prompts", () => {
  it("flags the stage, files a review naming the question, and never answers blindly", async ({ sb }) => {
    const plan = sb.writePlan("perm.md", "## Stage 1: Asks permission\nsim: permission\n");
    await orchestrate(sb, plan, ["--stall-seconds", "1"]);
    await waitFor("attention permission", () => statusOf(sb, "perm")?.stages["1"]?.attention === "permission", 30_000);
    const review = await waitFor("a review file", () => eventsOf(sb, "perm", "review_requested", "1")[0], 30_000);
    expect(readFileSync(review.file as string, "utf8")).toContain("Do you want to proceed?");
    expect(readFileSync(review.file as string, "utf8")).toContain("Stage 1 (Asks permission)");
    // Even well past stallSeconds (1 s), nothing is typed into the dialog.
    await holdsFor("no nudge, the dialog still shown", 2500, async () =>
      eventsOf(sb, "perm", "stall_continue_sent").length === 0 && (await sb.tmux("capture-pane", "-p", "-t", "=perm_stage-1:")).stdout.includes("Do you want to proceed?"));
    // A nudge by hand types nothing into it either, and says how the question gets its answer.
    const nudge = await sb.cli(["nudge", "perm", "1"]);
    expect(nudge.code).toBe(1);
    expect(nudge.stderr.trim()).toBe("autorun: did not type into stage 1: pane shows a permission screen; answer the question in the stage's session (autorun attach perm 1), or give such commands an answer with permissionAnswers in autorun.config.json");
    expect(readFileSync(join(sb.home, "logs", "perm-monitor.log"), "utf8")).toContain("stage 1: a person's nudge was not typed: pane shows a permission screen");
    // A person answers in the session (the answer shown in the input, then Enter); the stage carries on.
    await sb.tmux("send-keys", "-t", "=perm_stage-1:", "-l", "1");
    await waitFor("the typed answer on screen", async () => /❯ 1\b/.test((await sb.tmux("capture-pane", "-p", "-t", "=perm_stage-1:")).stdout), 5_000, 50);
    await sb.tmux("send-keys", "-t", "=perm_stage-1:", "Enter");
    expect(await waitForEnd(sb, "perm")).toBe("completed");
  });

  it("does not answer a dialog whose command it cannot find among the agent's pending calls, even with a key for it", async ({ sb }) => {
    // The simulated agent keeps no transcript: the command on screen cannot be told from a description.
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ permissionAnswers: { "rm -rf build/": "yes" } }));
    const plan = sb.writePlan("allowed.md", "## Stage 1: Allowed\nsim: permission\n");
    await orchestrate(sb, plan);
    const review = await waitFor("a review file", () => eventsOf(sb, "allowed", "review_requested", "1")[0], 30_000);
    expect(readFileSync(review.file as string, "utf8")).toContain("Not answered from permissionAnswers: the dialog's command is not a pending Bash call in the agent's transcript");
    expect(eventsOf(sb, "allowed", "permission_answered")).toEqual([]);
    await sb.tmux("send-keys", "-t", "=allowed_stage-1:", "-l", "1");
    await sb.tmux("send-keys", "-t", "=allowed_stage-1:", "Enter");
    expect(await waitForEnd(sb, "allowed")).toBe("completed");
  });
});

describe("an agent that is not the bundled one (line-mode, no hooks)", () => {
  it("one stage stalls at its prompt, another dies once: the run still completes", async ({ sb }) => {
    const agent = join(import.meta.dirname, "..", "fixtures", "agents", "line-agent.mjs");
    const plan = sb.writePlan("foreign.md", "## Stage 1: Stalls\nline-agent: stall\n## Stage 2: Dies once\nline-agent: die\n## Stage 3: After both\nDepends on: 1, 2\n");
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", `${process.execPath} ${agent}`, "--stall-seconds", "2"]);
    expect(r.code).toBe(0);
    expect(await waitForEnd(sb, "foreign", 90_000)).toBe("completed");
    const nudges = eventsOf(sb, "foreign", "stall_continue_sent", "1");
    expect(nudges.length).toBeGreaterThanOrEqual(1);
    expect(nudges[0]!.verified).toBe(true);
    expect(eventsOf(sb, "foreign", "session_dead", "2")).toHaveLength(1);
    expect(eventsOf(sb, "foreign", "stage_relaunched", "2")).toHaveLength(1);
    for (const id of ["1", "2", "3"]) expect(eventsOf(sb, "foreign", "stage_launched", id)).toHaveLength(1);
    await expectClean(sb, "foreign");
  });
});
