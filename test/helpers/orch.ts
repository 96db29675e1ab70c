/** Helpers for tests that run whole orchestrations with the simulated agent. */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { simAgentCmd, waitFor, type Sandbox } from "./env.js";
import { eventSchema, type Status } from "../../src/types/schemas.js";
import { isAlive } from "../../src/adapters/process.js";

/** Writes `text` as the answer of a review file, as a person does in their editor. */
export function answerReview(file: string, text: string): void {
  const body = readFileSync(file, "utf8");
  const at = body.lastIndexOf("**Your answer**:");
  writeFileSync(file, `${body.slice(0, at)}**Your answer**: ${text}${body.slice(at + "**Your answer**:".length)}`);
}

export async function orchestrate(sb: Sandbox, plan: string, extra: string[] = []): Promise<void> {
  const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simAgentCmd, ...extra]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}

export function statusOf(sb: Sandbox, plan: string): Status | undefined {
  const file = join(sb.home, "orchestration", plan, "status.json");
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
}

export async function waitForEnd(sb: Sandbox, plan: string, timeoutMs = 60_000): Promise<string> {
  return waitFor(`orchestration ${plan} to end`, () => {
    const end = sb.events(plan).find((e) => e.type === "orchestration_complete");
    const stopped = sb.events(plan).some((e) => e.type === "monitor_stopped");
    return end && stopped ? (end.status as string) : undefined;
  }, timeoutMs);
}

export function eventsOf(sb: Sandbox, plan: string, type: string, stage?: string) {
  return sb.events(plan).filter((e) => e.type === type && (stage === undefined || e.stage === stage));
}

/** Nothing left behind: no sessions, no worktrees, no stage branches, no monitor pid file; every event valid. */
export async function expectClean(sb: Sandbox, plan: string): Promise<void> {
  // Agents' phase and hook events are written without the schema (for speed): they must still match it.
  for (const event of sb.events(plan)) expect(eventSchema.safeParse(event).error?.issues, JSON.stringify(event)).toBeUndefined();
  const ls = await sb.tmux("list-sessions", "-F", "#{session_name}");
  expect(ls.code === 0 ? ls.stdout.trim() : "").toBe("");
  // When something was kept, the monitor's log and the history say why.
  const worktrees = (await sb.git("worktree", "list")).split("\n");
  const branches = (await sb.git("branch", "--list", "worktree-*")).trim();
  let why = "";
  if (worktrees.length !== 1 || branches !== "") {
    const log = join(sb.home, "logs", `${plan}-monitor.log`);
    const lines = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter((l) => /\bkept\b|could not|lifted/.test(l)) : ["no monitor log"];
    why = [...lines, await sb.git("log", "--oneline", "--graph", "--all", "-n", "30")].join("\n");
  }
  expect(worktrees, why).toHaveLength(1);
  expect(branches, why).toBe("");
  // The monitor removes its pid file just after writing monitor_stopped.
  await waitFor("the monitor to release its pid file", () => !existsSync(join(sb.home, "orchestration", plan, "monitor.pid")), 5_000);
}

/** The pid in an orchestration's monitor.pid, if any. */
export function monitorPid(sb: Sandbox, plan: string): number | undefined {
  const file = join(sb.home, "orchestration", plan, "monitor.pid");
  // "<pid> <start time>"
  return existsSync(file) ? Number(readFileSync(file, "utf8").trim().split(" ")[0]) : undefined;
}

/** SIGKILLs the orchestration's monitor and waits until it is gone. False when no monitor was running. */
export async function killMonitor(sb: Sandbox, plan: string): Promise<boolean> {
  const pid = monitorPid(sb, plan);
  if (pid === undefined) return false;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return false;
  }
  await waitForExit(pid, "the monitor to die");
  return true;
}

/** Waits until process `pid` is gone. */
export async function waitForExit(pid: number, what: string, timeoutMs?: number): Promise<void> {
  await waitFor(what, () => !isAlive(pid), timeoutMs);
}

// A stage agent that just waits (placeholders keep autorun from appending the claude arguments).
export const sleepAgent = JSON.stringify([process.execPath, "-e", "setTimeout(() => {}, 120000)", "{stage}", "{worktree}"]);

/** An orchestration whose stages just sleep, with no monitor: state to poke at. Its directory. */
export async function idleRun(sb: Sandbox, plan: string, text = "## Stage 1: A\n## Stage 2: B\n"): Promise<string> {
  const file = sb.writePlan(`${plan}.md`, text);
  const r = await sb.cli(["orchestrate", file, "--no-monitor", "--agent-cmd", sleepAgent]);
  expect(r.code, r.stderr).toBe(0);
  return join(sb.home, "orchestration", plan);
}
