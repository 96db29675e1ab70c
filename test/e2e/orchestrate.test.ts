import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { execa } from "execa";
import { waitFor, type Sandbox } from "../helpers/env.js";
import { eventsOf, expectClean, killMonitor, monitorPid, orchestrate, statusOf, waitForEnd } from "../helpers/orch.js";


function launchOrder(sb: Sandbox, plan: string): string[] {
  return sb.events(plan).filter((e) => e.type === "stage_launched" || e.type === "merge_complete").map((e) => `${e.type === "stage_launched" ? "L" : "M"}${e.stage}`);
}

describe("orchestrate end to end (real tmux, real git, simulated agent)", () => {
  it("runs a diamond plan to the end with every stage merged and nothing left behind", async ({ sb }) => {
    const plan = sb.writePlan("diamond.md", "# Diamond\n## Stage 1: Base\n## Stage 2: Left\nDepends on: 1\n## Stage 3: Right\nDepends on: 1\n## Stage 4: Top\nDepends on: 2, 3\n");
    await sb.git("add", "diamond.md");
    await sb.git("commit", "-qm", "plan");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "diamond")).toBe("completed");
    const merges = (await sb.git("log", "--merges", "--format=%s", "main")).split("\n");
    expect(merges.sort()).toEqual(["autorun: merge stage 1: Base", "autorun: merge stage 2: Left", "autorun: merge stage 3: Right", "autorun: merge stage 4: Top"]);
    for (const id of ["1", "2", "3", "4"]) expect(existsSync(join(sb.repo, "sim", `stage-${id}-part2.txt`))).toBe(true);
    const status = statusOf(sb, "diamond")!;
    expect(status.status).toBe("completed");
    expect(Object.values(status.stages).every((s) => s.status === "completed" && s.attempts === 1)).toBe(true);
    expect(eventsOf(sb, "diamond", "wave_complete").map((e) => e.wave)).toEqual([1, 2, 3]);
    const order = launchOrder(sb, "diamond");
    expect(order.indexOf("L4")).toBeGreaterThan(Math.max(order.indexOf("M2"), order.indexOf("M3")));
    await expectClean(sb, "diamond");
    expect(existsSync(join(sb.home, "reports", "diamond.md"))).toBe(true);
  });

  it("launches a dependant as soon as its last dependency merges, not after the whole wave", async ({ sb }) => {
    // Steps of 300 ms (1.2 s for the slow stage): stage 1 hands over seconds after stage 2's merge
    // and stage 3's launch, not the 0.9 s that 50 ms steps leave, which a loaded machine can undo.
    sb.env.AUTORUN_SIM_DELAY_MS = "300";
    const plan = sb.writePlan("eager.md", "## Stage 1: Slow\nsim: slow\n## Stage 2: Fast\n## Stage 3: After fast\nDepends on: 2\n");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "eager")).toBe("completed");
    const order = launchOrder(sb, "eager");
    expect(order.indexOf("L3")).toBeGreaterThan(order.indexOf("M2"));
    expect(order.indexOf("L3")).toBeLessThan(order.indexOf("M1"));
    await expectClean(sb, "eager");
  });

  it("with --schedule waves keeps the wave barrier", async ({ sb }) => {
    const plan = sb.writePlan("barrier.md", "## Stage 1: Slow\nsim: slow\n## Stage 2: Fast\n## Stage 3: After fast\nDepends on: 2\n");
    await orchestrate(sb, plan, ["--schedule", "waves"]);
    expect(await waitForEnd(sb, "barrier")).toBe("completed");
    const order = launchOrder(sb, "barrier");
    expect(order.indexOf("L3")).toBeGreaterThan(order.indexOf("M1"));
  });

  it("with --max-parallel 1 runs one stage at a time", async ({ sb }) => {
    const plan = sb.writePlan("serial.md", "## Stage 1: A\n## Stage 2: B\n## Stage 3: C\n");
    await orchestrate(sb, plan, ["--max-parallel", "1"]);
    expect(await waitForEnd(sb, "serial")).toBe("completed");
    expect(launchOrder(sb, "serial")).toEqual(["L1", "M1", "L2", "M2", "L3", "M3"]);
    await expectClean(sb, "serial");
  });

  it("a killed and restarted monitor launches nothing twice", async ({ sb }) => {
    const plan = sb.writePlan("restart.md", "## Stage 1: A\nsim: slow\n## Stage 2: B\nDepends on: 1\n## Stage 3: C\nDepends on: 1\n");
    await orchestrate(sb, plan);
    const killed = monitorPid(sb, "restart");
    expect(await killMonitor(sb, "restart")).toBe(true);
    const r = await sb.cli(["resume", "restart"]);
    expect(r.code).toBe(0);
    expect(await waitForEnd(sb, "restart")).toBe("completed");
    // The next monitor's log says that the one before it never stopped.
    expect(readFileSync(join(sb.home, "logs", "restart-monitor.log"), "utf8")).toContain(`the monitor before this one (pid ${killed}) ended without stopping: killed, or its machine went down; this one goes on from the events`);
    for (const id of ["1", "2", "3"]) expect(eventsOf(sb, "restart", "stage_launched", id)).toHaveLength(1);
    await expectClean(sb, "restart");
  });

  it("launches stages with hostile names without any of it reaching a shell", async ({ sb }) => {
    const marker = join(sb.dir, "pwned");
    const names = [`Fix "quotes" & $(touch ${marker})`, `semi; touch ${marker};`, "back`touch " + marker + "`tick", `-leading dash 'single' \\ back\\slash`];
    const plan = sb.writePlan("hostile.md", names.map((n, i) => `## Stage ${i + 1}: ${n}\n`).join(""));
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "hostile")).toBe("completed");
    expect(existsSync(marker)).toBe(false);
    const status = statusOf(sb, "hostile")!;
    expect(Object.values(status.stages).map((s) => (s as unknown as { name: string }).name)).toEqual(names);
    await expectClean(sb, "hostile");
  });

  it("passes the person's environment to the agent even when the tmux server already runs, and records names only", async ({ sb }) => {
    // A server started earlier, from an environment without the variable.
    await execa("tmux", ["-L", sb.socket, "new-session", "-d", "-s", "older", "sleep", "60"], { env: { ...sb.env, MY_API_KEY: undefined }, extendEnv: false });
    const out = join(sb.dir, "agent-env.json");
    const agent = JSON.stringify([process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(out)}, JSON.stringify({ key: process.env.MY_API_KEY ?? null, cc: process.env.CLAUDECODE ?? null }))`, "{stage}"]);
    const plan = sb.writePlan("envpass.md", "## Stage 1: A\n");
    const r = await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", agent], { env: { MY_API_KEY: "sk-test-secret-value", CLAUDECODE: "1" } });
    expect(r.code, r.stderr).toBe(0);
    const got = await waitFor("the agent to write its environment", () => existsSync(out) && (JSON.parse(readFileSync(out, "utf8")) as { key: string | null; cc: string | null }));
    expect(got).toEqual({ key: "sk-test-secret-value", cc: null });
    const settings = readFileSync(join(sb.home, "orchestration", "envpass", "settings.json"), "utf8");
    expect(JSON.parse(settings).agentEnv).toContain("MY_API_KEY");
    for (const file of [settings, readFileSync(join(sb.home, "orchestration", "envpass", "events.jsonl"), "utf8")]) expect(file).not.toContain("sk-test-secret-value");
    const resumed = await sb.cli(["resume", "envpass"]);
    expect(resumed.stderr).toContain("MY_API_KEY was set when envpass started but is not set now");
    await sb.cli(["stop", "envpass"]);
  });

  it("keeps the agent's environment off every command line, even the tmux server's it starts, whatever the values hold", async ({ sb }) => {
    const out = join(sb.dir, "agent-env.json");
    const values = { ANTHROPIC_API_KEY: "sk-ant-SECRETA\\;", AWS_SECRET_ACCESS_KEY: "SECRETB; it's \"q\"\nline2", OTHER: "SECRETC;" };
    const agent = JSON.stringify([process.execPath, "-e", `const e = process.env; require("fs").writeFileSync(${JSON.stringify(out)}, JSON.stringify([e.ANTHROPIC_API_KEY, e.AWS_SECRET_ACCESS_KEY, e.OTHER])); setInterval(() => {}, 1000)`, "{stage}"]);
    const plan = sb.writePlan("secrets.md", "## Stage 1: A\n## Stage 2: B\n");
    // No tmux server runs yet: orchestrate's first new-session starts it, with that call's argv.
    expect((await sb.tmux("list-sessions")).code).not.toBe(0);
    const r = await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", agent], { env: values });
    expect(r.code, r.stderr).toBe(0);
    expect(await waitFor("the agent to write its environment", () => existsSync(out) && JSON.parse(readFileSync(out, "utf8")))).toEqual(Object.values(values));
    const ps = process.getuid?.() === 0 ? (await execa("runuser", ["-u", "nobody", "--", "ps", "-eo", "args"])).stdout : (await execa("ps", ["-eo", "args"])).stdout;
    expect(ps).toContain(`tmux -L ${sb.socket} new-session`);
    const started = (await sb.tmux("list-panes", "-a", "-F", "#{pane_start_command}")).stdout;
    expect(started).toContain("autorun-session");
    const orchDir = join(sb.home, "orchestration", "secrets");
    const files = [join(orchDir, "settings.json"), join(orchDir, "events.jsonl")].map((f) => readFileSync(f, "utf8"));
    for (const text of [ps, started, r.stdout, r.stderr, ...files]) for (const s of ["SECRETA", "SECRETB", "SECRETC"]) expect(text).not.toContain(s);
    // Each session loaded its file and removed it.
    await waitFor("the environment files to be removed", () => readdirSync(join(orchDir, "session-env")).length === 0);
    await sb.cli(["stop", "secrets", "--sessions"]);
  });
});
