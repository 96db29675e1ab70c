/**
 * autorun driving the real Claude Code TUI (the pinned devDependency) in tmux, answered by the
 * scripted Messages API stand-in of test/helpers/claude-api.ts. Nothing here is simulated on
 * Claude Code's side: its own hooks, permission checks, --worktree, --resume and screen.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execa } from "execa";
import { makeSandbox, waitFor, type Sandbox } from "../helpers/env.js";
import { eventsOf, expectClean, statusOf, waitForEnd } from "../helpers/orch.js";
import { claudeBin, claudeEnv, claudeHome, startApi, stageSteps, stepDone, type Api, type Block, type Call, type Script } from "../helpers/claude-api.js";

const CLAUDE = claudeBin();
let sb: Sandbox;
let api: Api | undefined;

beforeEach(async () => {
  sb = await makeSandbox();
});
afterEach(async () => {
  await sb.cleanup();
  await api?.close();
  api = undefined;
});

async function withClaude(script: Script): Promise<void> {
  api = await startApi(script);
  const home = claudeHome(sb.dir, [sb.repo]);
  Object.assign(sb.env, claudeEnv(home, api));
}

function nextStep(call: Call, steps: Block[]): { blocks: Block[]; done?: boolean } {
  const next = steps.find((s) => !stepDone(call, s));
  return next ? { blocks: [next] } : { blocks: [{ text: "Stage handed over." }], done: true };
}

async function orchestrateWithClaude(plan: string, extra: string[] = []): Promise<void> {
  const r = await sb.cli(["orchestrate", plan, "--agent-cmd", CLAUDE!, ...extra]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}

/** How the run ended; on a timeout, the monitor log and every stage's screen go to the test output. */
async function endOf(plan: string, timeoutMs: number): Promise<string> {
  try {
    return await waitForEnd(sb, plan, timeoutMs);
  } catch (error) {
    console.log((await sb.cli(["logs", plan])).stdout);
    for (const e of eventsOf(sb, plan, "stage_launched")) console.log(`--- ${String(e.session)}\n${(await sb.tmux("capture-pane", "-p", "-t", `=${String(e.session)}:`)).stdout}`);
    throw error;
  }
}

/** The pid of the program in a stage's pane (claude itself: env(1) execs it). */
async function panePid(session: string): Promise<number> {
  const r = await sb.tmux("list-panes", "-t", `=${session}`, "-F", "#{pane_pid}");
  return Number(r.stdout.trim());
}

describe.skipIf(!CLAUDE)("the real Claude Code", () => {
  it("runs a diamond to the end unattended: a stall nudged, a SIGKILLed claude resumed, a merge sent back and acted on", async () => {
    let killed = false;
    let stalled = false;
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    await withClaude(async (call) => {
      const all = stageSteps(call);
      const [start, write, add, commit, done] = all as [Block, Block, Block, Block, Block];
      if (call.stage === "2" && stepDone(call, start) && !stalled) {
        // Stage 2 stops at its prompt once, mid-stage, without saying why.
        stalled = true;
        return { blocks: [{ text: "Let me think about the next step." }], done: true };
      }
      if (call.stage === "3" && stepDone(call, start) && !killed) {
        // Stage 3's claude is SIGKILLed while it waits for this answer.
        await held;
        return { blocks: [{ text: "…" }], done: true };
      }
      if (call.stage === "4" && !/commit/i.test(call.userTexts.slice(1).join("\n"))) {
        // Stage 4 hands over without committing; the monitor's message tells it to commit.
        return nextStep(call, [start, write, done]);
      }
      if (call.stage === "4") return nextStep({ ...call, tools: call.toolsSinceLastText }, [add, commit, done]);
      return nextStep(call, all);
    });
    const plan = sb.writePlan("diamond.md", "# Diamond\n## Stage 1: Base\n## Stage 2: Left\nDepends on: 1\n## Stage 3: Right\nDepends on: 1\n## Stage 4: Top\nDepends on: 2, 3\n");
    await sb.git("add", "diamond.md");
    await sb.git("commit", "-qm", "plan");
    await orchestrateWithClaude(plan, ["--stall-seconds", "2"]);

    await waitFor("stage 3 to report its phase", () => eventsOf(sb, "diamond", "phase_status", "3").length > 0, 60_000);
    const session3 = String(eventsOf(sb, "diamond", "stage_launched", "3")[0]!.session);
    const pid = await panePid(session3);
    expect((await execa("cat", [`/proc/${pid}/comm`])).stdout).toMatch(/claude/);
    process.kill(pid, "SIGKILL");
    killed = true;
    release();

    expect(await endOf("diamond", 150_000)).toBe("completed");
    const status = statusOf(sb, "diamond")!;
    expect(Object.values(status.stages).map((s) => s.status)).toEqual(["completed", "completed", "completed", "completed"]);
    for (const id of ["1", "2", "3", "4"]) expect(await sb.git("show", `main:stage-${id}.txt`)).toBe(`work of stage ${id}`);
    // Nobody answered anything: no permission prompt, no review.
    expect(eventsOf(sb, "diamond", "stage_needs_permission")).toEqual([]);
    expect(eventsOf(sb, "diamond", "review_requested")).toEqual([]);
    // The stall was nudged and stage 2 carried on.
    expect(eventsOf(sb, "diamond", "stall_continue_sent", "2").length).toBeGreaterThan(0);
    // The killed claude came back with its conversation.
    expect(eventsOf(sb, "diamond", "stage_relaunched", "3")).toHaveLength(1);
    const resumed = api!.calls.filter((c) => c.stage === "3" && c.userTexts.some((t) => t.includes("you were restarted")));
    expect(resumed.length).toBeGreaterThan(0);
    // (--resume, not a new session: the first prompt is still in it. Claude Code may lose the last
    // tool turn to a SIGKILL; the stage's steps are safe to redo.)
    expect(resumed[0]!.userTexts[0]).toContain("/autorun:start");
    // Stage 4's send-back reached claude as a message, and no bare "continue" went while it waited.
    const queued = eventsOf(sb, "diamond", "message_queued", "4");
    expect(queued).toHaveLength(1);
    expect(eventsOf(sb, "diamond", "message_delivered", "4").map((e) => e.id)).toEqual([queued[0]!.id]);
    expect(api!.calls.some((c) => c.stage === "4" && c.lastText === queued[0]!.message)).toBe(true);
    expect(eventsOf(sb, "diamond", "stall_continue_sent", "4")).toEqual([]);
    await expectClean(sb, "diamond");
  }, 180_000);

  it("sends a failing check and a conflict back to claude as messages, which it acts on; every base commit passes the check", async () => {
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ validate: [["test", "-f", "checked.txt"]] }));
    await withClaude(async (call) => {
      const told = call.userTexts.slice(1).join("\n");
      const since = { ...call, tools: call.toolsSinceLastText };
      if (call.stage === "1") {
        if (/the check .* failed/.test(call.lastText)) {
          return nextStep(since, [{ write: join(call.cwd, "checked.txt"), content: "ok\n" }, { bash: "git add checked.txt" }, { bash: 'git commit -m "stage 1: pass the check"' }, { bash: "autorun phase implement done" }]);
        }
        return nextStep(call, stageSteps(call, { file: "shared.txt" }));
      }
      if (/conflicts in shared\.txt/.test(call.lastText)) return nextStep(since, [{ bash: "git rebase -X theirs main" }, { bash: "autorun phase implement done" }]);
      if (told === "") {
        const steps = stageSteps(call, { file: "shared.txt" });
        // Stage 2 hands over only once stage 1 is merged, so its merge conflicts.
        if (stepDone(call, steps[3]!) && !stepDone(call, steps[4]!)) await waitFor("stage 1 to merge", () => eventsOf(sb, "queue", "merge_complete", "1").length > 0, 60_000);
        return nextStep(call, steps);
      }
      return { blocks: [{ text: "Nothing to do." }], done: true };
    });
    const plan = sb.writePlan("queue.md", "## Stage 1: One\n## Stage 2: Two\n");
    await orchestrateWithClaude(plan, ["--stall-seconds", "30"]);
    expect(await endOf("queue", 150_000)).toBe("completed");
    expect(eventsOf(sb, "queue", "merge_conflict").map((e) => [e.stage, e.reason])).toEqual([["1", "validate_failed"], ["2", "conflict"]]);
    for (const q of eventsOf(sb, "queue", "message_queued")) {
      expect(eventsOf(sb, "queue", "message_delivered", String(q.stage)).map((e) => e.id)).toContain(q.id);
      expect(api!.calls.some((c) => c.stage === q.stage && c.lastText === q.message)).toBe(true);
    }
    expect(await sb.git("show", "main:shared.txt")).toBe("work of stage 2");
    // The check ran on each merged result, so no first-parent commit of the base lacks checked.txt.
    const firstParents = (await sb.git("rev-list", "--first-parent", "main")).split("\n");
    const merges = (await sb.git("rev-list", "--first-parent", "--merges", "main")).split("\n");
    expect(merges).toHaveLength(2);
    for (const c of firstParents.filter((c) => merges.includes(c))) expect(await sb.git("cat-file", "-t", `${c}:checked.txt`)).toBe("blob");
    expect(eventsOf(sb, "queue", "stall_continue_sent")).toEqual([]);
    await expectClean(sb, "queue");
  }, 180_000);

  it("names the command of a prompt outside the allow-list in a review; permissionAnswers answers a matching one; a person's \"don't ask again\" holds for later stages", async () => {
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ permissionAnswers: { "make --version": "1" } }));
    await withClaude((call) => {
      const steps = stageSteps(call);
      steps.splice(1, 0, { bash: call.stage === "1" ? "make --version" : "gcc --version", description: "Check the toolchain" });
      return nextStep(call, steps);
    });
    const plan = sb.writePlan("asks.md", "## Stage 1: Make\n## Stage 2: Gcc\n## Stage 3: Gcc again\nDepends on: 2\n");
    await orchestrateWithClaude(plan, ["--stall-seconds", "30"]);
    // Stage 2's prompt becomes a review that says which command is asked about.
    const review = await waitFor("stage 2's review", () => eventsOf(sb, "asks", "review_requested", "2")[0], 60_000);
    expect(readFileSync(String(review.file), "utf8")).toContain("gcc --version");
    expect(eventsOf(sb, "asks", "stage_needs_permission", "2").map((e) => String(e.message)).join("\n")).toContain("gcc --version");
    // A person answers it in the pane, "Yes, and don't ask again"; the review is marked resolved.
    await sb.tmux("send-keys", "-t", `=${String(eventsOf(sb, "asks", "stage_launched", "2")[0]!.session)}:`, "2");
    expect(await endOf("asks", 120_000)).toBe("completed");
    expect(eventsOf(sb, "asks", "review_resolved", "2").map((e) => e.file)).toContain(review.file);
    // The answer outlived stage 2's worktree: stage 3 ran the same command without asking.
    expect(eventsOf(sb, "asks", "permissions_learned", "2").flatMap((e) => e.rules as string[]).join(" ")).toMatch(/gcc/);
    expect(eventsOf(sb, "asks", "stage_needs_permission", "3")).toEqual([]);
    expect(api!.calls.some((c) => c.stage === "3" && c.tools.some((t) => t.input.command === "gcc --version" && /gcc/.test(t.result ?? "")))).toBe(true);
    // Stage 1's prompt matched permissionAnswers: answered, no review, and make really ran.
    expect(eventsOf(sb, "asks", "review_requested", "1")).toEqual([]);
    const make = api!.calls.flatMap((c) => c.tools).find((t) => t.input.command === "make --version" && t.result !== undefined);
    expect(make?.result).toMatch(/GNU Make/);
    await expectClean(sb, "asks");
  }, 180_000);

  it("raises question attention for claude's AskUserQuestion menu, with a review; a person's answer clears it", async () => {
    const ask = { tool: "AskUserQuestion", input: { questions: [{ question: "Which database should the cache use?", header: "Database", multiSelect: false, options: [{ label: "Redis", description: "In-memory" }, { label: "PostgreSQL", description: "Already deployed" }] }] } };
    await withClaude((call) => {
      const steps = stageSteps(call);
      steps.splice(1, 0, ask);
      return nextStep(call, steps);
    });
    const plan = sb.writePlan("menu.md", "## Stage 1: Asks\n");
    await orchestrateWithClaude(plan, ["--stall-seconds", "2"]);
    await waitFor("question attention", () => statusOf(sb, "menu")?.stages["1"]?.attention === "question", 60_000);
    const review = await waitFor("the question's review", () => eventsOf(sb, "menu", "review_requested", "1")[0], 30_000);
    expect(readFileSync(String(review.file), "utf8")).toContain("Which database should the cache use?");
    // Nothing typed into the menu by autorun, however long it waits.
    expect(eventsOf(sb, "menu", "stall_continue_sent")).toEqual([]);
    await sb.tmux("send-keys", "-t", `=${String(eventsOf(sb, "menu", "stage_launched", "1")[0]!.session)}:`, "2");
    expect(await endOf("menu", 60_000)).toBe("completed");
    const answered = api!.calls.flatMap((c) => c.tools).find((t) => t.name === "AskUserQuestion" && t.result !== undefined);
    expect(answered?.result).toContain("PostgreSQL");
    expect(eventsOf(sb, "menu", "review_resolved", "1").map((e) => e.file)).toContain(review.file);
    await expectClean(sb, "menu");
  }, 120_000);

  it("pauses the run on the API's usage limit and raises login attention for a refused key", async () => {
    Object.assign(sb.env, { CLAUDE_CODE_MAX_RETRIES: "0" });
    await withClaude((call) =>
      call.stage === "1"
        ? { status: 429, error: { type: "rate_limit_error", message: "This request would exceed your account's rate limit. Please try again later." }, headers: { "retry-after": "60" } }
        : { status: 401, error: { type: "authentication_error", message: "invalid x-api-key" } },
    );
    const plan = sb.writePlan("limits.md", "## Stage 1: Limited\n## Stage 2: Locked out\n");
    await orchestrateWithClaude(plan, ["--stall-seconds", "2"]);
    const limited = await waitFor("the usage limit", () => eventsOf(sb, "limits", "rate_limited")[0], 60_000);
    expect(String(limited.raw)).toContain("429");
    expect(statusOf(sb, "limits")!.status).toBe("running");
    await waitFor("login attention", () => statusOf(sb, "limits")?.stages["2"]?.attention === "login", 60_000);
    const review = await waitFor("the login review", () => eventsOf(sb, "limits", "review_requested", "2")[0], 30_000);
    expect(readFileSync(String(review.file), "utf8")).toContain("Invalid API key");
    // Nothing is typed at a stage that cannot work: no nudges while paused or locked out.
    expect(eventsOf(sb, "limits", "stall_continue_sent")).toEqual([]);
    const status = await sb.cli(["status", "limits"]);
    expect(status.stdout).toMatch(/login/);
    expect((await sb.cli(["stop", "limits", "--sessions"])).code).toBe(0);
  }, 180_000);

  it("shows claude's own words when it exits at once, and fails the stage instead of relaunching it forever", async () => {
    await withClaude((call) => nextStep(call, stageSteps(call)));
    const plan = sb.writePlan("bogus.md", "## Stage 1: Never starts\n");
    await orchestrateWithClaude(plan, ["--permission-mode", "bogus"]);
    expect(await endOf("bogus", 60_000)).toBe("failed");
    expect(eventsOf(sb, "bogus", "stage_launched").length + eventsOf(sb, "bogus", "stage_relaunched").length).toBeLessThanOrEqual(3);
    const words = "argument 'bogus' is invalid";
    expect((await sb.cli(["status", "bogus"])).stdout).toContain(words);
    expect((await sb.cli(["report", "bogus"])).stdout).toContain(words);
    expect(api!.calls).toEqual([]);
  }, 120_000);

  it("refuses before writing anything when claude cannot start: bypassPermissions as root, an untrusted project", async () => {
    await withClaude(() => ({ blocks: [{ text: "unused" }], done: true }));
    const plan = sb.writePlan("refused.md", "## Stage 1: Never\n");
    if (process.getuid?.() === 0) {
      const r = await sb.cli(["orchestrate", plan, "--agent-cmd", CLAUDE!, "--permission-mode", "bypassPermissions"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/refuses bypassPermissions as root/);
    }
    writeFileSync(join(String(sb.env.HOME), ".claude.json"), JSON.stringify({ hasCompletedOnboarding: true, projects: {} }));
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", CLAUDE!]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has not been trusted in .*run claude there once and accept "Yes, I trust this folder"/);
    expect(existsSync(join(sb.home, "orchestration", "refused"))).toBe(false);
    expect(await sb.git("status", "--porcelain")).toBe("?? refused.md");
    expect(readFileSync(join(sb.repo, ".git", "info", "exclude"), "utf8")).not.toContain(".claude/worktrees");
  }, 60_000);
});
