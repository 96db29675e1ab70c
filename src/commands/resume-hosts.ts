/**
 * `resume` and the configuration's hosts. A run keeps the configuration it started with
 * (settings.json); a person who fixed a host's entry since (its ssh, its autorun, its slots) resumes
 * to use the fix: when the configuration's hosts differ from the run's, resume takes them, once
 * every host a stage may run on passed a new run's checks. A running monitor keeps the run's hosts
 * (it is said how to restart it); a stage running on, or pinned to, a host the configuration no
 * longer names refuses the change.
 */
import { hostChanges } from "../core/hosts.js";
import { UserError } from "../errors.js";
import { runningMonitor } from "../monitor/monitor-pid.js";
import { loadConfig } from "../state/config.js";
import type { LoadedOrchestration } from "../state/orchestration.js";
import { writeSettings } from "../state/settings.js";
import type { Ctx } from "./ctx.js";
import { hostProblems } from "./preflight.js";

/** The run with the configuration's hosts when they differ and may be taken (written to its settings), else as it was. */
export async function takeConfiguredHosts(ctx: Pick<Ctx, "home" | "env" | "out" | "err">, orch: LoadedOrchestration): Promise<LoadedOrchestration> {
  const name = orch.status.plan_name;
  const now = loadConfig(ctx.home, orch.status.project_root, {}, ctx.env).hosts;
  const stages = Object.entries(orch.status.stages).map(([id, s]) => ({ id, running: s.status === "in_progress" || s.status === "merging", host: s.host, pinned: s.status === "completed" ? undefined : s.settings.host }));
  const change = hostChanges(orch.config.hosts, now, stages);
  if ("changed" in change && change.changed.length === 0) return orch;
  const differ = `the hosts in your configuration differ from those ${name} runs with`;
  const monitor = runningMonitor(orch.paths);
  if (monitor !== undefined) {
    ctx.err(`autorun: warning: ${differ}; its monitor (pid ${monitor}) goes on with the run's. To use yours: autorun stop ${name}, then autorun resume ${name}`);
    return orch;
  }
  if ("refused" in change) throw new UserError(`${differ}, but ${change.refused}; nothing was changed.`);
  const config = { ...orch.config, hosts: now };
  const problems = await hostProblems(config, { home: ctx.home, slug: orch.status.project_slug });
  if (problems.length > 0) throw new UserError(`${differ}, but ${problems[0]!.replace(/\.$/, "")}; nothing was changed.`);
  writeSettings(orch.paths.dir, config);
  ctx.out(`Run ${name} now uses the hosts of your configuration (changed: ${change.changed.join(", ")}).`);
  return { ...orch, config };
}
