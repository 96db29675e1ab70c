/**
 * autorun running whole plans on the real Claude Code TUI (the pinned devDependency) in tmux, answered by
 * the scripted Messages API stand-in: unattended runs, merges sent back, permission prompts. Nothing
 * is simulated on Claude Code's side: its own hooks, permission checks, --worktree, --resume, screen.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { execa } from "execa";
import { waitFor } from "../helpers/env.js";
import { answerReview, eventsOf, expectClean, statusOf, waitForEnd } from "../helpers/orch.js";
import { stageSteps, stepDone, type Block } from "../helpers/claude-api.js";
import type { Status } from "../../src/types/schemas.js";
import { describeClaude, nextStep, orchestrateWithClaude, panePid, it } from "./harness.js";


describeClaude("the real Claude Code", (cc) => {
  it("runs a diamond to the end unattended: a stall nudged, a SIGKILLed claude resumed, a merge sent back and acted on", async ({ sb, claude }) => {
    let killed = false;
    let stalled = false;
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const api = await claude(async (call) => {
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
    await orchestrateWithClaude(sb, cc, plan, ["--stall-seconds", "2"]);

    await waitFor("stage 3 to report its phase", () => eventsOf(sb, "diamond", "phase_status", "3").length > 0, 60_000);
    const session3 = String(eventsOf(sb, "diamond", "stage_launched", "3")[0]!.session);
    const pid = await panePid(sb, session3);
    expect((await execa("cat", [`/proc/${pid}/comm`])).stdout).toMatch(/claude/);
    process.kill(pid, "SIGKILL");
    killed = true;
    release();

    expect(await waitForEnd(sb, "diamond", 150_000)).toBe("completed");
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
    const resumed = api.calls.filter((c) => c.stage === "3" && c.userTexts.some((t) => t.includes("you were restarted")));
    expect(resumed.length).toBeGreaterThan(0);
    // (--resume, not a new session: the first prompt is still in it. Claude Code may lose the last
    // tool turn to a SIGKILL; the stage's steps are safe to redo.)
    expect(resumed[0]!.userTexts[0]).toContain("/autorun:start");
    // Stage 4's send-back reached claude as a message, and no bare "continue" went while it waited.
    const queued = eventsOf(sb, "diamond", "message_queued", "4");
    expect(queued).toHaveLength(1);
    expect(eventsOf(sb, "diamond", "message_delivered", "4").map((e) => e.id)).toEqual([queued[0]!.id]);
    expect(api.calls.some((c) => c.stage === "4" && c.lastText === queued[0]!.message)).toBe(true);
    expect(eventsOf(sb, "diamond", "stall_continue_sent", "4")).toEqual([]);
    // What each stage cost, read from claude's own transcripts: per call the stand-in reports 1200
    // input, 40 output and 800 cache-read tokens; at opus prices ($5 / $25 / $0.50 per million)
    // that is $0.0074. Stage 3's call in flight when it was SIGKILLed is lost with its process.
    const { stages } = statusOf(sb, "diamond") as unknown as Status;
    for (const [id, st] of Object.entries(stages)) {
      const calls = api.calls.filter((c) => c.stage === id).length;
      const counted = st.usage!.input_tokens / 1200;
      expect(counted, `stage ${id}: ${JSON.stringify(st.usage)} for ${calls} calls`).toBe(id === "3" ? Math.min(calls, Math.max(counted, calls - 1)) : calls);
      expect(st.usage).toMatchObject({ output_tokens: 40 * counted, cache_read_tokens: 800 * counted });
      expect(st.usage!.usd).toBeCloseTo(0.0074 * counted, 6);
    }
    expect((await sb.cli(["report", "diamond"])).stdout).toMatch(/Cost: \$\d+\.\d\d/);
    expect((await sb.cli(["status", "diamond"])).stdout).toMatch(/cost: \$\d+\.\d\d \(4 of 4 stages report usage\)/);
    await expectClean(sb, "diamond");
  }, 180_000);

  it("sends a failing check and a conflict back to claude as messages, which it acts on; every base commit passes the check", async ({ sb, claude }) => {
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ validate: [["test", "-f", "checked.txt"]] }));
    const api = await claude(async (call) => {
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
        if (stepDone(call, steps[3]!) && !stepDone(call, steps[4]!)) await waitFor("stage 1 to merge", () => eventsOf(sb, "queue", "merge_complete", "1").length > 0, 150_000);
        return nextStep(call, steps);
      }
      return { blocks: [{ text: "Nothing to do." }], done: true };
    });
    const plan = sb.writePlan("queue.md", "## Stage 1: One\n## Stage 2: Two\n");
    await orchestrateWithClaude(sb, cc, plan, ["--stall-seconds", "30"]);
    expect(await waitForEnd(sb, "queue", 240_000)).toBe("completed");
    expect(eventsOf(sb, "queue", "merge_conflict").map((e) => [e.stage, e.reason])).toEqual([["1", "validate_failed"], ["2", "conflict"]]);
    for (const q of eventsOf(sb, "queue", "message_queued")) {
      expect(eventsOf(sb, "queue", "message_delivered", String(q.stage)).map((e) => e.id)).toContain(q.id);
      expect(api.calls.some((c) => c.stage === q.stage && c.lastText === q.message)).toBe(true);
    }
    expect(await sb.git("show", "main:shared.txt")).toBe("work of stage 2");
    // The check ran on each merged result, so no first-parent commit of the base lacks checked.txt.
    const firstParents = (await sb.git("rev-list", "--first-parent", "main")).split("\n");
    const merges = (await sb.git("rev-list", "--first-parent", "--merges", "main")).split("\n");
    expect(merges).toHaveLength(2);
    for (const c of firstParents.filter((c) => merges.includes(c))) expect(await sb.git("cat-file", "-t", `${c}:checked.txt`)).toBe("blob");
    expect(eventsOf(sb, "queue", "stall_continue_sent")).toEqual([]);
    await expectClean(sb, "queue");
  }, 300_000);

  it("names the command of a prompt outside the allow-list in a review; permissionAnswers answers a matching one; a person's \"don't ask again\", kept by their review answer, holds for the stages launched after", async ({ sb, claude }) => {
    // Without the sandbox, which would run these commands unasked (test/claude/contain.test.ts).
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ permissionAnswers: { "make --version": "1" }, sandbox: false }));
    const api = await claude((call) => {
      const steps = stageSteps(call);
      steps.splice(1, 0, { bash: call.stage === "1" ? "make --version" : "gcc --version", description: "Check the toolchain" });
      return nextStep(call, steps);
    });
    const plan = sb.writePlan("asks.md", "## Stage 1: Make\n## Stage 2: Gcc\n## Stage 3: Gcc again\nDepends on: 2\n## Stage 4: Gcc later\nDepends on: 3\n");
    await orchestrateWithClaude(sb, cc, plan, ["--stall-seconds", "30"]);
    const sessionOf = (id: string) => `=${String(eventsOf(sb, "asks", "stage_launched", id)[0]!.session)}:`;
    const permissionReview = (id: string) => eventsOf(sb, "asks", "review_requested", id).find((e) => e.key !== "permissions");
    // Stage 2's prompt becomes a review that says which command is asked about.
    const review = await waitFor("stage 2's review", () => permissionReview("2"), 60_000);
    expect(readFileSync(String(review.file), "utf8")).toContain("gcc --version");
    expect(eventsOf(sb, "asks", "stage_needs_permission", "2").map((e) => String(e.message)).join("\n")).toContain("gcc --version");
    // A person answers it in the pane, "Yes, and don't ask again"; the review is marked resolved.
    await sb.tmux("send-keys", "-t", sessionOf("2"), "2");
    // Its merge proposes the rule; the person keeps it by answering the review about it.
    const keep = await waitFor("the review about its rule", () => eventsOf(sb, "asks", "review_requested", "2").find((e) => e.key === "permissions"), 90_000);
    answerReview(String(keep.file), "keep");
    await waitFor("the rule kept", () => eventsOf(sb, "asks", "permissions_learned", "2").length === 1, 20_000);
    expect(eventsOf(sb, "asks", "permissions_learned", "2").flatMap((e) => e.rules as string[]).join(" ")).toMatch(/gcc/);
    // Stage 3 was launched at the merge, before the answer: autorun gave it no rule, so it asks and
    // the person answers once (unless this Claude Code reads the rule it wrote to the main
    // checkout's settings itself, as 2.1.332 does).
    const asked = await waitFor("stage 3 to ask or merge", () => permissionReview("3") ?? eventsOf(sb, "asks", "merge_complete", "3")[0], 120_000);
    if (asked.type === "review_requested") await sb.tmux("send-keys", "-t", sessionOf("3"), "1");
    expect(await waitForEnd(sb, "asks", 150_000)).toBe("completed");
    expect(eventsOf(sb, "asks", "review_resolved", "2").map((e) => e.file)).toContain(review.file);
    // Stage 4, launched after the answer, ran the same command without asking.
    expect(eventsOf(sb, "asks", "stage_needs_permission", "4")).toEqual([]);
    expect(api.calls.some((c) => c.stage === "4" && c.tools.some((t) => t.input.command === "gcc --version" && /gcc/.test(t.result ?? "")))).toBe(true);
    // Stage 1's prompt matched permissionAnswers: answered, no review, and make really ran.
    expect(eventsOf(sb, "asks", "review_requested", "1")).toEqual([]);
    const make = api.calls.flatMap((c) => c.tools).find((t) => t.input.command === "make --version" && t.result !== undefined);
    expect(make?.result).toMatch(/GNU Make/);
    await expectClean(sb, "asks");
  }, 300_000);
});
