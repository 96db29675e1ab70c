import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { allPhases, CLI, holdsFor, waitFor, type Sandbox } from "../helpers/env.js";
import { orchestrate } from "../helpers/orch.js";
import { displayWidth } from "../../src/core/text-width.js";


async function screen(sb: Sandbox): Promise<string> {
  return (await sb.tmux("capture-pane", "-p", "-t", "=dash:")).stdout;
}

/** Runs the dashboard in a pane; its exit code lands in `exitFile` (the wrapper's "$@" is argv, not a string). */
async function startDashboard(sb: Sandbox, plan: string, width: number, height: number, exitFile: string): Promise<void> {
  await sb.tmux("new-session", "-d", "-x", String(width), "-y", String(height), "-s", "dash", "--", "sh", "-c", '"$@"; echo $? > "$0"', exitFile,
    "env", `AUTORUN_HOME=${sb.home}`, `AUTORUN_TMUX_SOCKET=${sb.socket}`, "LANG=C.UTF-8", "TERM=xterm-256color", process.execPath, CLI, "dashboard", plan);
}

describe("dashboard", () => {
  it.for([
    [80, 24],
    [200, 50],
  ] as const)("shows stages, statuses and dependencies at %ix%i, a new event within a second, and quits on q", async ([w, h], { sb }) => {
    const plan = sb.writePlan("dash.md", "## Stage 1: Waiting 🚀 stage\nsim: stall-silent\n## Stage 2: Second\nDepends on: 1\n");
    allPhases(sb);
    await orchestrate(sb, plan, ["--stall-seconds", "600"]);
    await waitFor("stage 1 to be planning", () => sb.events("dash").some((e) => e.type === "phase_status" && e.phase === "create_plan" && e.status === "done"));
    const exitFile = join(sb.dir, "dashboard-exit");
    await startDashboard(sb, "dash", w, h, exitFile);
    const first = await waitFor("the dashboard", async () => ((await screen(sb)).includes("Waits on") ? screen(sb) : undefined), 15_000);
    expect(first).toContain("dash · running");
    // The same words as `status`; every row whole within the screen's width.
    expect(first).toMatch(/STAGE\s+NAME\s+STATUS\s+ATTENTION\s+ELAPSED\s+COST\s+TRIES\s+NUDGES/);
    // The selected row holds an emoji: it is drawn as 〓, two columns like the emoji, so the row
    // stops at the table's right border as every other row does.
    expect(first).toMatch(/1\s+Waiting 〓 stage\s+planned\s+\S+s\s+—\s+1\s+0/);
    const borders = first.split("\n").filter((l) => /^│(STAGE|\d )/.test(l))
      .map((l) => displayWidth(l.slice(0, l.indexOf("│", 1))));
    expect(borders.length).toBe(3);
    expect(new Set(borders).size).toBe(1);
    expect(first).toMatch(/2\s+Second\s+pending\s+—\s+—\s+0\s+0/);
    expect(first).toContain("2 Second  ← 1▶");
    expect(first).toContain("Events");
    expect(first).toMatch(/\d\d:\d\d:\d\d stage 1: (launched|session started|triaged|research|plann)/);
    expect(first).not.toContain("phase_status");
    for (const line of first.split("\n")) expect(line.length).toBeLessThanOrEqual(w);
    if (w >= 200) {
      expect(first).toContain("Monitor log");
      expect(first).toMatch(/BRANCH\/MERGE[\s\S]*worktree-dash-stage-1/);
    } else expect(first).not.toContain("BRANCH");

    const r = await sb.cli(["event", "review_requested", "--orch-dir", `${sb.home}/orchestration/dash`, "--stage", "1", "file=/tmp/r.md", "title=Pick one"]);
    expect(r.code).toBe(0);
    const started = Date.now();
    await waitFor("the new event on screen", async () => (await screen(sb)).includes("stage 1: asks: Pick one"), 3_000, 50);
    expect(Date.now() - started).toBeLessThan(2_000);
    await waitFor("attention in the table", async () => /1\s+Waiting 〓 stage\s+planned\s+review/.test(await screen(sb)), 3_000, 50);

    await sb.tmux("send-keys", "-t", "=dash:", "q");
    const code = await waitFor("the dashboard to exit", () => (existsSync(exitFile) ? readFileSync(exitFile, "utf8").trim() : undefined), 5_000);
    expect(code).toBe("0");
  });

  it("r opens the selected stage's review in $EDITOR, then the dashboard comes back", async ({ sb }) => {
    const plan = sb.writePlan("rev.md", "## Stage 1: Asks\nsim: review\n");
    await orchestrate(sb, plan);
    const requested = await waitFor("the question", () => sb.events("rev").find((e) => e.type === "review_requested"), 30_000);
    const editor = join(sb.dir, "editor.mjs");
    writeFileSync(editor, `import fs from "node:fs"; const f = process.argv[2]; fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace("**Your answer**:\\n", "**Your answer**: from the dashboard\\n"));\n`);
    const exitFile = join(sb.dir, "dashboard-exit");
    await sb.tmux("new-session", "-d", "-x", "100", "-y", "30", "-s", "dash", "--", "sh", "-c", '"$@"; echo $? > "$0"', exitFile,
      "env", `AUTORUN_HOME=${sb.home}`, "LANG=C.UTF-8", "TERM=xterm-256color", `EDITOR=${process.execPath} ${editor}`, process.execPath, CLI, "dashboard", "rev");
    await waitFor("the dashboard", async () => (await screen(sb)).includes("Waits on"), 15_000);
    await sb.tmux("send-keys", "-t", "=dash:", "r");
    await waitFor("the answer saved by the editor", () => readFileSync(requested.file as string, "utf8").includes("from the dashboard"), 10_000);
    await waitFor("the stage to finish", () => sb.events("rev").some((e) => e.type === "orchestration_complete"), 30_000);
    await waitFor("the dashboard back, showing the end", async () => (await screen(sb)).includes("rev · completed"), 10_000);
    await sb.tmux("send-keys", "-t", "=dash:", "q");
    expect(await waitFor("the dashboard to exit", () => (existsSync(exitFile) ? readFileSync(exitFile, "utf8").trim() : undefined), 5_000)).toBe("0");
  });

  it("draws nothing over the program it handed the terminal to, while the run goes on", async ({ sb }) => {
    const plan = sb.writePlan("away.md", "## Stage 1: Asks\nsim: review\n");
    await orchestrate(sb, plan);
    const requested = await waitFor("the question", () => sb.events("away").find((e) => e.type === "review_requested"), 30_000);
    // An editor that holds the terminal for a while, showing only its own words.
    const editor = join(sb.dir, "editor.mjs");
    const release = join(sb.dir, "release");
    writeFileSync(editor, `import fs from "node:fs"; process.stdout.write("\\x1b[2J\\x1b[HEDITOR HERE\\n"); const f = process.argv[2]; const t = setInterval(() => { if (!fs.existsSync(${JSON.stringify(release)})) return; clearInterval(t); fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace("**Your answer**:\\n", "**Your answer**: later\\n")); }, 100);\n`);
    const exitFile = join(sb.dir, "dashboard-exit");
    await sb.tmux("new-session", "-d", "-x", "100", "-y", "30", "-s", "dash", "--", "sh", "-c", '"$@"; echo $? > "$0"', exitFile,
      "env", `AUTORUN_HOME=${sb.home}`, "LANG=C.UTF-8", "TERM=xterm-256color", `EDITOR=${process.execPath} ${editor}`, process.execPath, CLI, "dashboard", "away");
    await waitFor("the dashboard", async () => (await screen(sb)).includes("Waits on"), 15_000);
    await sb.tmux("send-keys", "-t", "=dash:", "r");
    await waitFor("the editor", async () => (await screen(sb)).includes("EDITOR HERE"), 10_000);
    // Events arrive and seconds tick meanwhile: the editor's screen stays its own.
    expect((await sb.cli(["event", "review_requested", "--orch-dir", `${sb.home}/orchestration/away`, "--stage", "1", "file=/tmp/x.md", "title=Another"])).code).toBe(0);
    await holdsFor("the editor's screen untouched", 2_500, async () => {
      const now = await screen(sb);
      return now.trim() === "EDITOR HERE";
    });
    writeFileSync(release, "");
    await waitFor("the answer saved", () => readFileSync(requested.file as string, "utf8").includes("later"), 10_000);
    await waitFor("the dashboard back, with what came meanwhile", async () => (await screen(sb)).includes("stage 1: asks: Another"), 10_000);
    await sb.tmux("send-keys", "-t", "=dash:", "q");
    expect(await waitFor("the dashboard to exit", () => (existsSync(exitFile) ? readFileSync(exitFile, "utf8").trim() : undefined), 5_000)).toBe("0");
  });

  it("n nudges the selected stage and s stops the monitor, each recording what autorun nudge and stop record", async ({ sb }) => {
    const plan = sb.writePlan("keys.md", "## Stage 1: Waits\nsim: stall-silent\n");
    await orchestrate(sb, plan, ["--stall-seconds", "600"]);
    await waitFor("the agent at its prompt", async () => (await sb.tmux("capture-pane", "-p", "-t", "=keys_stage-1:")).stdout.includes("Shall I go on?"), 30_000);
    const exitFile = join(sb.dir, "dashboard-exit");
    await startDashboard(sb, "keys", 120, 30, exitFile);
    await waitFor("the dashboard", async () => (await screen(sb)).includes("Waits on"), 15_000);
    await sb.tmux("send-keys", "-t", "=dash:", "n");
    const nudged = await waitFor("the nudge recorded", () => sb.events("keys").find((e) => e.type === "stall_continue_sent"), 20_000);
    expect(nudged).toMatchObject({ stage: "1", attempt: 1, verified: true });
    expect(String(nudged.evidence)).toMatch(/^manual: /);
    await waitFor("the nudge in the monitor log", () => readFileSync(join(sb.home, "logs", "keys-monitor.log"), "utf8").includes("stage 1: nudged by a person, verified: "), 5_000);
    await sb.tmux("send-keys", "-t", "=dash:", "s");
    await waitFor("the question", async () => (await screen(sb)).includes("stop the monitor of keys?"), 5_000);
    await sb.tmux("send-keys", "-t", "=dash:", "y");
    await waitFor("the stop recorded", () => sb.events("keys").some((e) => e.type === "orchestration_stopped" && e.sessions === false), 20_000);
    expect((await sb.cli(["status", "keys"])).stdout).toContain("monitor not running");
    await sb.tmux("send-keys", "-t", "=dash:", "q");
    expect(await waitFor("the dashboard to exit", () => (existsSync(exitFile) ? readFileSync(exitFile, "utf8").trim() : undefined), 5_000)).toBe("0");
  });

  it("prints a plain summary when stdout is not a terminal", async ({ sb }) => {
    const plan = sb.writePlan("plain.md", "## Stage 1: Only\nsim: stall-silent\n");
    await orchestrate(sb, plan, ["--stall-seconds", "600"]);
    const r = await sb.cli(["dashboard", "plain"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("plain · running");
    expect(r.stdout).toMatch(/^1\s+Only/m);
    expect(r.stdout).toContain("Recent events:");
    expect(r.stdout).not.toContain("\x1b[");
  });
});
