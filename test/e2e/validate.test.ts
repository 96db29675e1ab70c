import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";

import { eventsOf, expectClean, orchestrate, waitForEnd } from "../helpers/orch.js";


describe("validate commands before each merge", () => {
  it("a failing check goes back to the agent with the tail of its output, and the stage merges once it passes", async ({ sb }) => {
    const counter = join(sb.dir, "runs");
    // Fails on its first run (in the stage worktree), passes after. It counts its runs in a file
    // outside its checkout, so it runs unboxed (sandbox off); the box is tested in contain.test.ts.
    const check = `const fs = require("fs"); const n = fs.existsSync(${JSON.stringify(counter)}) ? 1 : 0; fs.writeFileSync(${JSON.stringify(counter)}, "x"); if (!n) { console.log("3 passed"); console.error("FAIL test/app.test.js: expected 2, got 3"); process.exit(1); } console.log("all passed in " + process.cwd());`;
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ validate: [[process.execPath, "-e", check]], sandbox: false }));
    const plan = sb.writePlan("checked.md", "## Stage 1: Checked\n");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "checked")).toBe("completed");
    const failed = eventsOf(sb, "checked", "merge_conflict", "1");
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBe("validate_failed");
    expect(failed[0]!.detail).toContain("FAIL test/app.test.js: expected 2, got 3");
    const queued = eventsOf(sb, "checked", "message_queued", "1");
    expect(queued).toHaveLength(1);
    expect(String(queued[0]!.message)).toContain("expected 2, got 3");
    const told = eventsOf(sb, "checked", "message_delivered", "1");
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ id: queued[0]!.id, verified: true });
    // A waiting message is never replaced by a bare "continue".
    expect(eventsOf(sb, "checked", "stall_continue_sent", "1")).toHaveLength(0);
    await expectClean(sb, "checked");
  });

  it("a check that fails without a word is said to have printed nothing", async ({ sb }) => {
    const counter = join(sb.dir, "runs");
    const check = `const fs = require("fs"); const n = fs.existsSync(${JSON.stringify(counter)}); fs.writeFileSync(${JSON.stringify(counter)}, "x"); process.exit(n ? 0 : 1);`;
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ validate: [[process.execPath, "-e", check]], sandbox: false }));
    const plan = sb.writePlan("quiet.md", "## Stage 1: Quiet\n");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "quiet")).toBe("completed");
    expect(String(eventsOf(sb, "quiet", "merge_conflict", "1")[0]!.detail)).toMatch(/failed on the merge of worktree-quiet-stage-1 into main \(it printed nothing\)$/);
    expect(String(eventsOf(sb, "quiet", "message_queued", "1")[0]!.message)).toContain("merged with the current main. It printed nothing. -- run git rebase main");
    expect(readFileSync(join(sb.home, "logs", "quiet-monitor.log"), "utf8")).toMatch(/not merged: validate .* into main \(it printed nothing\); the agent is told/);
  });

  it("keeps every commit of the base branch green when two stages pass alone but fail together", async ({ sb }) => {
    // The project's check: left and right together need compat.txt.
    const check = `const fs = require("fs"); if (fs.existsSync("sim/stage-2-part2.txt") && fs.existsSync("sim/stage-3-part2.txt") && !fs.existsSync("compat.txt")) { console.error("left and right need compat.txt"); process.exit(1); }`;
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ validate: [[process.execPath, "-e", check]] }));
    const plan = sb.writePlan("green.md", "## Stage 1: Base\n## Stage 2: Left\nDepends on: 1\nsim: fix-on-check\n## Stage 3: Right\nDepends on: 1\nsim: fix-on-check\n## Stage 4: Top\nDepends on: 2, 3\n");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "green", 90_000)).toBe("completed");
    const failed = eventsOf(sb, "green", "merge_conflict");
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBe("validate_failed");
    expect(String(failed[0]!.detail)).toContain("left and right need compat.txt");
    // bors' rule: every first-parent commit of main passes the check.
    const commits = (await sb.git("rev-list", "--first-parent", "main")).split("\n");
    expect(commits.length).toBe(5);
    for (const c of commits) {
      const files = (await sb.git("ls-tree", "-r", "--name-only", c)).split("\n");
      const red = files.includes("sim/stage-2-part2.txt") && files.includes("sim/stage-3-part2.txt") && !files.includes("compat.txt");
      expect(red, `commit ${c} fails the project's check`).toBe(false);
    }
    const merged = eventsOf(sb, "green", "merge_complete");
    expect(merged.every((e) => e.validated === true)).toBe(true);
    await expectClean(sb, "green");
  });

  it("a slow check does not hold up the rest of the monitor: another stage is nudged meanwhile", async ({ sb }) => {
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ validate: [["sleep", "6"]] }));
    const plan = sb.writePlan("slowcheck.md", "## Stage 1: Fast\n## Stage 2: Stalls\nsim: stall, slow\n");
    await orchestrate(sb, plan, ["--stall-seconds", "1"]);
    expect(await waitForEnd(sb, "slowcheck", 90_000)).toBe("completed");
    const events = sb.events("slowcheck");
    const merged1 = events.findIndex((e) => e.type === "merge_complete" && e.stage === "1");
    const nudged2 = events.findIndex((e) => e.type === "stall_continue_sent" && e.stage === "2");
    const done1 = events.findIndex((e) => e.type === "phase_status" && e.stage === "1" && e.phase === "implement" && e.status === "done");
    expect(nudged2).toBeGreaterThan(done1);
    expect(nudged2).toBeLessThan(merged1);
  });
});
