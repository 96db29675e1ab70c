/**
 * What a stage's hooks can tell the monitor, through the built CLI (`autorun hook <Name>` with a
 * payload on stdin, as Claude Code calls it) while a real monitor runs: a turn that ended on an API
 * error (StopFailure), and transcript paths an agent chose — a FIFO that must not block the monitor,
 * files that are not the stage's own session's transcript, which must not be read.
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect } from "vitest";
import { it } from "../helpers/fixture.js";
import { holdsFor, waitFor, type Sandbox } from "../helpers/env.js";
import { eventsOf, sleepAgent, statusOf } from "../helpers/orch.js";

/** A run whose stages just sleep (their screens say nothing), with its monitor. */
async function sleepingRun(sb: Sandbox, plan: string, text: string): Promise<string> {
  writeFileSync(join(sb.home, "config.json"), JSON.stringify({ pollSeconds: 0.5, stallSeconds: 2 }));
  // Claude Code's config dir for the run's agents (and so for its monitor): the test's own.
  sb.env.CLAUDE_CONFIG_DIR = join(sb.dir, "claude-config");
  const r = await sb.cli(["orchestrate", sb.writePlan(`${plan}.md`, text), "--agent-cmd", sleepAgent]);
  expect(r.code, r.stderr).toBe(0);
  await waitFor("the monitor", () => eventsOf(sb, plan, "monitor_started")[0]);
  return join(sb.home, "orchestration", plan);
}

/** `autorun hook <name>` as stage `stage`'s Claude Code calls it. */
async function hook(sb: Sandbox, orchDir: string, stage: string, name: string, payload: unknown): Promise<void> {
  const r = await sb.cli(["hook", name], { input: JSON.stringify(payload), env: { AUTORUN_ORCH_DIR: orchDir, AUTORUN_STAGE: stage } });
  expect(r.code, r.stderr).toBe(0);
}

/** A transcript line: one assistant message of claude-sonnet-4-5 with a million input tokens ($3). */
const threeDollars = (id: string) => JSON.stringify({ type: "assistant", message: { id, model: "claude-sonnet-4-5", role: "assistant", usage: { input_tokens: 1_000_000, output_tokens: 0 } } }) + "\n";
/** Where Claude Code keeps stage `stage`'s transcript: its session's, under a project directory `dir`. */
function transcriptOf(sb: Sandbox, plan: string, stage: string, dir = "-repo"): string {
  const sid = String(eventsOf(sb, plan, "stage_launched", stage)[0]!.session_id);
  const path = join(String(sb.env.CLAUDE_CONFIG_DIR), "projects", dir, `${sid}.jsonl`);
  mkdirSync(join(path, ".."), { recursive: true });
  return path;
}

const usd = (sb: Sandbox, plan: string, stage: string) => (statusOf(sb, plan)?.stages[stage] as { usage?: { usd: number } } | undefined)?.usage?.usd;

describe("hooks (built CLI, real monitor)", () => {
  it("StopFailure: a rate limit pauses the run with nothing typed; a refused login asks a person; another error files a review with its text", async ({ sb }) => {
    const dir = await sleepingRun(sb, "fails", "## Stage 1: A\n## Stage 2: B\n## Stage 3: C\n");
    await hook(sb, dir, "1", "StopFailure", { hook_event_name: "StopFailure", error: "rate_limit", last_assistant_message: "API Error: Request rejected (429) · This request would exceed your account's rate limit. Please try again later.", error_details: "429" });
    const limited = await waitFor("the pause", () => eventsOf(sb, "fails", "rate_limited")[0]);
    expect(String(limited.raw)).toContain("(429)");
    expect(Date.parse(String(limited.resets_at)) - Date.now()).toBeGreaterThan(240_000);
    await hook(sb, dir, "2", "StopFailure", { hook_event_name: "StopFailure", error: "authentication_failed", last_assistant_message: "Invalid API key · Fix external API key" });
    await waitFor("login attention", () => statusOf(sb, "fails")?.stages["2"]?.attention === "login");
    const login = await waitFor("the login review", () => eventsOf(sb, "fails", "review_requested", "2")[0]);
    expect(readFileSync(String(login.file), "utf8")).toContain("Invalid API key · Fix external API key");
    await hook(sb, dir, "3", "StopFailure", { hook_event_name: "StopFailure", error: "server_error", last_assistant_message: "API Error: 500 \u001b[31minternal\u001b[0m" });
    const review = await waitFor("the error's review", () => eventsOf(sb, "fails", "review_requested", "3")[0]);
    expect(readFileSync(String(review.file), "utf8")).toContain("API Error: 500 internal");
    // Beyond stallSeconds, nothing typed anywhere, one pause, one review each.
    await holdsFor("nothing typed", 4_000, () => eventsOf(sb, "fails", "stall_continue_sent").length === 0 && eventsOf(sb, "fails", "stall_detected").length === 0);
    expect(eventsOf(sb, "fails", "rate_limited")).toHaveLength(1);
    expect(eventsOf(sb, "fails", "review_requested")).toHaveLength(2);
    // An unknown hook name or a payload that is not an object records nothing and never exits 2.
    const bad = await sb.cli(["hook", "StopFailure"], { input: "[1,2]", env: { AUTORUN_ORCH_DIR: dir, AUTORUN_STAGE: "1" } });
    expect(bad.code).toBe(1);
    expect((await sb.cli(["stop", "fails", "--sessions"])).code).toBe(0);
  }, 60_000);

  it("PermissionRequest: a plain yes or no of permissionAnswers answers the exact Bash call; anything else is left to the dialog", async ({ sb }) => {
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ permissionAnswers: { "make --version": "yes", "git push:*": "no", "npm test": "yes, don't ask again", "ls": "1" } }));
    const dir = await sleepingRun(sb, "asks", "## Stage 1: A\n");
    const ask = async (tool: string, command: string) => {
      const r = await sb.cli(["hook", "PermissionRequest"], { input: JSON.stringify({ hook_event_name: "PermissionRequest", tool_name: tool, tool_input: { command, description: "make --version" } }), env: { AUTORUN_ORCH_DIR: dir, AUTORUN_STAGE: "1" } });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim() === "" ? undefined : (JSON.parse(r.stdout) as { hookSpecificOutput: { hookEventName: string; decision: { behavior: string; message?: string } } }).hookSpecificOutput;
    };
    expect(await ask("Bash", "make --version")).toEqual({ hookEventName: "PermissionRequest", decision: { behavior: "allow" } });
    const no = await ask("Bash", "git push origin main");
    expect(no?.decision.behavior).toBe("deny");
    expect(no?.decision.message).toContain("do not run it");
    // Not named (a description naming another command counts for nothing), chained after a
    // prefix, the dialog's own options, another tool: nothing printed, the dialog shows.
    for (const [tool, command] of [["Bash", "python3 -c 'print(42)'"], ["Bash", "git push origin main; rm -rf ."], ["Bash", "npm test"], ["Bash", "ls"], ["Write", "make --version"]] as const) expect(await ask(tool, command)).toBeUndefined();
    expect(eventsOf(sb, "asks", "permission_hook_answered").map((e) => [e.command, e.key, e.answer])).toEqual([
      ["make --version", "make --version", "yes"],
      ["git push origin main", "git push:*", "no"],
    ]);
    const log = await waitFor("the log lines", async () => {
      const text = (await sb.cli(["logs", "asks"])).stdout;
      return text.includes("git push origin main") ? text : undefined;
    });
    expect(log).toContain(`stage 1: answered "yes" to the permission request for "make --version" through its PermissionRequest hook (permissionAnswers "make --version")`);
    // The event is the agent side's word: one that permissionAnswers does not give is logged as such.
    const forged = await sb.cli(["event", "permission_hook_answered", "command=rm -rf /", "key=rm -rf /", "answer=yes"], { env: { AUTORUN_ORCH_DIR: dir, AUTORUN_STAGE: "1" } });
    expect(forged.code, forged.stderr).toBe(0);
    await waitFor("the forged answer's line", async () => (await sb.cli(["logs", "asks"])).stdout.includes(`a permission answer for "rm -rf /" was reported that permissionAnswers does not give`));
    expect((await sb.cli(["stop", "asks", "--sessions"])).code).toBe(0);
  }, 60_000);

  it("a transcript path naming a FIFO never blocks the monitor: it carries on, stops, and resumes", async ({ sb }) => {
    const dir = await sleepingRun(sb, "fifo", "## Stage 1: A\n");
    const fifo = transcriptOf(sb, "fifo", "1", "trap");
    execFileSync("mkfifo", [fifo]);
    const real = transcriptOf(sb, "fifo", "1");
    writeFileSync(real, threeDollars("m1"));
    await hook(sb, dir, "1", "Stop", { hook_event_name: "Stop", transcript_path: fifo });
    await hook(sb, dir, "1", "Stop", { hook_event_name: "Stop", transcript_path: real });
    // The monitor read on past the FIFO: the real transcript's usage is counted.
    await waitFor("usage from the real transcript", () => usd(sb, "fifo", "1") === 3, 15_000);
    const stop = await sb.cli(["stop", "fifo"]);
    expect(stop.code, stop.stderr).toBe(0);
    // A wedged monitor would never stop; a busy machine can make a sound one take a while. If it
    // does not, what stop said, the monitor's log and the events say why.
    await waitFor("the monitor to stop", () => eventsOf(sb, "fifo", "monitor_stopped")[0], 60_000).catch((error: Error) => {
      const logs = join(sb.home, "logs");
      const log = existsSync(logs) ? readdirSync(logs).map((f) => readFileSync(join(logs, f), "utf8")).join("\n") : "(no logs)";
      throw new Error(`${error.message}\nstop printed: ${stop.stdout} ${stop.stderr}\nmonitor log:\n${log}\nevents: ${sb.events("fifo").map((e) => `${e.type as string}${e.pid !== undefined ? `(${e.pid as number})` : ""}`).join(" ")}`);
    });
    // A resumed monitor replays the FIFO's hook (refused at once) and goes on.
    await hook(sb, dir, "1", "Stop", { hook_event_name: "Stop", transcript_path: fifo });
    const resume = await sb.cli(["resume", "fifo"]);
    expect(resume.code, resume.stderr).toBe(0);
    await waitFor("a second monitor", () => eventsOf(sb, "fifo", "monitor_started").length === 2);
    appendFileSync(real, threeDollars("m2"));
    await hook(sb, dir, "1", "Stop", { hook_event_name: "Stop", transcript_path: real });
    await waitFor("the new usage", () => usd(sb, "fifo", "1") === 6, 15_000);
    expect((await sb.cli(["stop", "fifo", "--sessions"])).code).toBe(0);
    await waitFor("the monitor to stop", () => eventsOf(sb, "fifo", "monitor_stopped").length === 2, 60_000);
  }, 180_000);

  it("a transcript a hook names is read only when it is the stage's own session's, where Claude Code keeps it", async ({ sb }) => {
    const dir = await sleepingRun(sb, "forged", "## Stage 1: A\n## Stage 2: B\n");
    // What an agent could write and name: a file of its own, and another stage's session's name.
    const own = join(sb.dir, "worktree-file.jsonl");
    const others = transcriptOf(sb, "forged", "2");
    const mine = transcriptOf(sb, "forged", "1");
    for (const path of [own, others, mine]) writeFileSync(path, threeDollars(path));
    for (const path of [own, others, join(sb.dir, basename(mine))]) await hook(sb, dir, "1", "Stop", { hook_event_name: "Stop", transcript_path: path });
    await hook(sb, dir, "1", "Stop", { hook_event_name: "Stop", transcript_path: mine });
    await waitFor("its own transcript counted", () => usd(sb, "forged", "1") === 3, 15_000);
    await holdsFor("nothing else counted", 2_000, () => usd(sb, "forged", "1") === 3 && usd(sb, "forged", "2") === undefined);
    const log = readFileSync(join(sb.home, "logs", "forged-monitor.log"), "utf8");
    expect(log).toContain(`stage 1: not reading the transcript its hook named (${own}): it is no session of this stage`);
    expect(log).toContain(`stage 1: not reading the transcript its hook named (${join(sb.dir, basename(mine))}): it is not in ${join(String(sb.env.CLAUDE_CONFIG_DIR), "projects")}`);
    expect((await sb.cli(["stop", "forged", "--sessions"])).code).toBe(0);
  }, 60_000);
});
