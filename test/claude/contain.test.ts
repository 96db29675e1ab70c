/**
 * The real Claude Code contained. With the Bash sandbox on, a stage's workflow runs unprompted, but
 * its Bash cannot write outside its worktree (not even through a program `git rebase --exec` runs)
 * and cannot stop its own run, with the variables or without. With the sandbox off, a command
 * outside the workflow's allow-list (`git rebase --exec`) is a dialog for a person: a review,
 * nothing done until someone answers.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { waitFor } from "../helpers/env.js";
import { eventsOf, expectClean, waitForEnd } from "../helpers/orch.js";
import { stageSteps, type Block } from "../helpers/claude-api.js";
import { describeClaude, nextStep, orchestrateWithClaude, it } from "./harness.js";

describeClaude("the real Claude Code, contained", (cc) => {
  it("with the sandbox: a stage cannot write outside its worktree, run a program that does, or stop its run; the other stage runs unprompted", async ({ sb, claude }) => {
    const outside = join(sb.dir, "outside.txt");
    const rebased = join(sb.dir, "rebased.txt");
    const g = join(sb.repo, ".git");
    // Claude Code opens the whole git directory to a worktree session; what a commit never writes is closed again.
    // So is the stage's own worktree configuration, which git outside the sandbox would obey.
    const gitWrites = `echo 'ref: refs/heads/evil' > ${g}/HEAD; echo ${sb.dir} > ${g}/objects/info/alternates; echo '*' >> ${g}/info/exclude; echo '[filter "x"]' >> ${g}/worktrees/box-stage-2/config.worktree`;
    const lastTry = "env -u AUTORUN_STAGE -u AUTORUN_ORCH_DIR autorun stop box --sessions";
    const api = await claude((call) => {
      const steps = stageSteps(call);
      if (call.stage === "2") {
        const tries: Block[] = [
          { bash: `echo pwned > ${outside}`, description: "Write outside" },
          { bash: gitWrites, description: "Write the git directory" },
          { bash: `git rebase --exec "touch ${rebased}" HEAD~1`, description: "Rebase" },
          { bash: "git rebase --abort", description: "Abort" },
          { bash: "autorun stop box --sessions", description: "Stop the run" },
          { bash: lastTry, description: "Stop the run" },
        ];
        steps.splice(4, 0, ...tries);
      } else if (!api.calls.some((c) => c.stage === "2" && c.tools.some((t) => t.input.command === lastTry && t.result !== undefined))) {
        // Stage 1 hands over only after stage 2's tries: Claude Code's sandbox closes every
        // worktree's admin files, and stage 1's, removed after its merge while one of stage 2's
        // commands starts, would fail that command in bubblewrap before it ran.
        steps.splice(4, 0, { bash: `sleep 1 # waits for stage 2 (${call.tools.length})`, description: "Wait" });
      }
      return nextStep(call, steps);
    });
    const plan = sb.writePlan("box.md", "## Stage 1: Plain\n## Stage 2: Tries\n");
    await orchestrateWithClaude(sb, cc, plan, ["--stall-seconds", "30"]);
    expect(await waitForEnd(sb, "box", 150_000)).toBe("completed");
    const tools = api.calls.flatMap((c) => c.tools).filter((t) => t.name === "Bash" && t.result !== undefined);
    const result = (cmd: string) => [...tools].reverse().find((t) => t.input.command === cmd)?.result ?? "";
    expect(existsSync(outside)).toBe(false);
    expect(result(`echo pwned > ${outside}`)).toMatch(/Read-only file system/);
    expect(result(gitWrites).match(/Read-only file system/g)).toHaveLength(4);
    expect(readFileSync(join(g, "HEAD"), "utf8")).toBe("ref: refs/heads/main\n");
    const alternates = join(g, "objects", "info", "alternates");
    // (2.1.332 may leave an empty placeholder there: no other object store is named.)
    expect(existsSync(alternates) ? readFileSync(alternates, "utf8") : "").toBe("");
    expect(existsSync(rebased)).toBe(false);
    expect(result(`git rebase --exec "touch ${rebased}" HEAD~1`)).toMatch(/Read-only file system|Execution failed|Refusing to run it/);
    expect(result("autorun stop box --sessions")).toMatch(/run this from your own terminal, not from a stage's session/);
    expect(result("env -u AUTORUN_STAGE -u AUTORUN_ORCH_DIR autorun stop box --sessions")).toMatch(/run this from your own terminal|not permitted|Operation not permitted|EROFS|Read-only/);
    // Nothing asked of a person, the run went on, and both stages merged their work.
    expect(eventsOf(sb, "box", "stage_needs_permission")).toEqual([]);
    expect(eventsOf(sb, "box", "review_requested")).toEqual([]);
    expect(eventsOf(sb, "box", "orchestration_stopped")).toEqual([]);
    for (const id of ["1", "2"]) expect(await sb.git("show", `main:stage-${id}.txt`)).toBe(`work of stage ${id}`);
    await expectClean(sb, "box");
  }, 200_000);

  it("without the sandbox: git rebase --exec is not allowed unasked; a review names it and nothing runs until a person answers", async ({ sb, claude }) => {
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ sandbox: false }));
    const ran = join(sb.dir, "exec-ran.txt");
    const rebase = `git rebase --exec "touch ${ran}" HEAD~1`;
    const api = await claude((call) => {
      const steps = stageSteps(call);
      steps.splice(4, 0, { bash: rebase, description: "Rebase" });
      return nextStep(call, steps);
    });
    const plan = sb.writePlan("open.md", "## Stage 1: Asks\n");
    // Refused, claude waits at its prompt: the stall's nudge is what sets it going again, after
    // stallSeconds (never while the dialog is up).
    await orchestrateWithClaude(sb, cc, plan, ["--stall-seconds", "5"]);
    const review = await waitFor("the rebase's review", () => eventsOf(sb, "open", "review_requested", "1")[0], 60_000);
    expect(String(review.title ?? "") + JSON.stringify(eventsOf(sb, "open", "stage_needs_permission", "1"))).toMatch(/rebase --exec/);
    expect(existsSync(ran)).toBe(false);
    // A person says no (Esc); the agent carries on without it.
    await sb.tmux("send-keys", "-t", `=${String(eventsOf(sb, "open", "stage_launched", "1")[0]!.session)}:`, "Escape");
    expect(await waitForEnd(sb, "open", 120_000)).toBe("completed");
    expect(existsSync(ran)).toBe(false);
    expect(api.calls.flatMap((c) => c.tools).find((t) => t.input.command === rebase)?.result).toMatch(/doesn't want to proceed|rejected|denied/i);
    await expectClean(sb, "open");
  }, 200_000);
});
