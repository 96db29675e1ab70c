/**
 * A plan's run that already exists, at `orchestrate`: refused (completed, or still running under
 * `--fresh`), or moved aside by `--fresh` under a name of its own.
 */
import { existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import { orchPaths, reportsDir, type OrchPaths } from "../state/paths.js";
import { createTmux } from "../adapters/tmux.js";
import type { ConfigFile, Status } from "../types/schemas.js";
import type { Ctx } from "./ctx.js";
import type { PreparedPlan } from "./prepared-plan.js";

/**
 * Why the plan's orchestration as it stands refuses a new start (the dry run says it, the run
 * throws it): a completed one without `--fresh`, a live one with it, and one going on with the
 * settings it started with when flags given now say otherwise.
 */
export async function existingRunRefusal(prep: PreparedPlan, status: Status | undefined, run: { fresh: boolean; flags: ConfigFile }): Promise<string | undefined> {
  if (!status) return undefined;
  if (run.fresh) return freshWhileLive(prep.paths, prep.planName, status, prep.config.tmuxSocket);
  if (status.status === "completed") return `orchestration ${prep.planName} already completed (${prep.paths.dir}); pass --fresh to start it again (the old one is kept beside it).`;
  const ignored = await ignoredFlags(prep.paths, run.flags);
  if (ignored.length > 0) {
    return `orchestration ${prep.planName} exists (${status.status}) and goes on with the settings it started with, so ${ignored.join(", ")} would be ignored; leave ${ignored.length === 1 ? "it" : "them"} out to continue it (a budget is raised with autorun resume ${prep.planName} --budget <dollars>), or start it over with ${ignored.length === 1 ? "it" : "them"}: --fresh.`;
  }
  return undefined;
}

/** The flags of `orchestrate` by their configuration key. */
const FLAGS: [keyof ConfigFile, string][] = [
  ["maxParallel", "--max-parallel"],
  ["schedule", "--schedule"],
  ["model", "--model"],
  ["permissionMode", "--permission-mode"],
  ["tmuxSocket", "--tmux-socket"],
  ["stallSeconds", "--stall-seconds"],
  ["budgetUsd", "--budget"],
  ["stageBudgetUsd", "--stage-budget"],
  ["agentCommand", "--agent-cmd"],
];

/** Flags given to a run that exists which differ from the settings it started with (and would be ignored). */
async function ignoredFlags(paths: OrchPaths, flags: ConfigFile): Promise<string[]> {
  const { readSettings } = await import("../state/settings.js");
  let recorded: ConfigFile | undefined;
  try {
    recorded = readSettings(paths.dir);
  } catch {
    return [];
  }
  if (!recorded) return [];
  // `manual` is recorded as `default` where the installed claude names it so: one mode.
  const same = (key: keyof ConfigFile, a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b) || (key === "permissionMode" && [a, b].every((m) => m === "manual" || m === "default"));
  return FLAGS.filter(([key]) => flags[key] !== undefined && !same(key, flags[key], recorded[key])).map(([key, flag]) => `${flag} ${Array.isArray(flags[key]) ? JSON.stringify(flags[key]) : String(flags[key])}`);
}

/**
 * `--fresh` moves a run aside; while its monitor or any of its sessions still runs, the new run
 * would adopt those sessions (same names) and work in their worktrees. The person stops it first.
 */
async function freshWhileLive(paths: OrchPaths, name: string, status: Status, socket: string | undefined): Promise<string | undefined> {
  const { runningMonitor } = await import("../monitor/monitor-pid.js");
  const { readSettings } = await import("../state/settings.js");
  const monitor = runningMonitor(paths);
  const recorded = (() => {
    try {
      return readSettings(paths.dir)?.tmuxSocket;
    } catch {
      return undefined;
    }
  })();
  const running = new Set(await createTmux(recorded ?? socket).listSessions());
  const sessions = Object.values(status.stages).map((s) => s.session).filter((s) => running.has(s));
  if (monitor === undefined && sessions.length === 0) return undefined;
  const what = [monitor !== undefined ? `its monitor (pid ${monitor})` : "", sessions.length ? `${sessions.length === 1 ? "session" : "sessions"} ${sessions.join(", ")}` : ""].filter(Boolean).join(" and ");
  return `orchestration ${name} is still running (${what}); --fresh would take over its sessions and worktrees. Stop it first: autorun stop ${name} --sessions, then orchestrate --fresh again.`;
}

/**
 * `--fresh`: the previous run is kept as `<name>.<time>` — its directory, monitor log and report —
 * reachable by that name (`autorun report <name>.<time>`), and the new run starts clean.
 */
export function keepAside(ctx: Ctx, paths: OrchPaths, name: string, slug: string): void {
  const kept = `${name}.${new Date().toISOString().replace(/\.\d+Z$/, "").replace(/:/g, "-")}`;
  const to = orchPaths(ctx.home, kept, slug);
  renameSync(paths.dir, to.dir);
  if (existsSync(paths.monitorLog)) renameSync(paths.monitorLog, to.monitorLog);
  for (const ext of ["md", "json"]) {
    const report = join(reportsDir(ctx.home), `${name}.${ext}`);
    if (existsSync(report)) renameSync(report, join(reportsDir(ctx.home), `${kept}.${ext}`));
  }
  ctx.out(`The previous run is kept as ${kept} (autorun status ${kept}, autorun report ${kept}).`);
}
