/** What every command gets injected: where it runs, the home, and where it writes. */
import { readdirSync, existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { OrchPaths } from "../state/paths.js";
import { planNameFromPath } from "../core/slug.js";
import { loadStatus } from "../state/status.js";
import { readFirstEvent } from "../state/events.js";
import { readSettings } from "../state/settings.js";
import { loadConfig, type Config } from "../state/config.js";
import type { Status } from "../state/schemas.js";
import { UserError } from "../errors.js";

export { defaultCtx, type Ctx } from "./ctx.js";
import type { Ctx } from "./ctx.js";
import { eventsFile, openOrchestration } from "../state/orchestration.js";

export interface Orchestration {
  paths: OrchPaths;
  status: Status;
  config: Config;
}

export function listOrchestrations(home: string): { name: string; mtime: number }[] {
  const dir = join(home, "orchestration");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, "events.jsonl")))
    .map((d) => ({ name: d.name, mtime: statSync(join(dir, d.name, "events.jsonl")).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
}

/** Every orchestration under `home` whose status can be read: its directory name, real paths and status. */
export function loadOrchestrations(home: string): { name: string; paths: OrchPaths; status: Status }[] {
  const out: { name: string; paths: OrchPaths; status: Status }[] = [];
  for (const o of listOrchestrations(home)) {
    const opened = openOrchestration(home, o.name);
    const status = opened ? loadStatus(opened.paths) : undefined;
    if (opened && status) out.push({ name: o.name, paths: opened.paths, status });
  }
  return out;
}

/** The project root (the nearest directory with `.git`) of `dir`, found without running git. */
function projectRootOf(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, ".git"))) return d;
    if (dirname(d) === d) return undefined;
  }
}

/**
 * Plans of the same name in different projects get different orchestrations (`master-plan`,
 * `master-plan-proj3`): of those, the one of the project the command runs in.
 */
function ownOrchestration(ctx: Ctx, name: string): string {
  const same: { name: string; root: string }[] = [];
  for (const o of listOrchestrations(ctx.home)) {
    if (o.name !== name && !(o.name.startsWith(`${name}-`) && !o.name.includes("."))) continue;
    const first = readFirstEvent(eventsFile(ctx.home, o.name));
    if (first?.type === "orchestration_started" && planNameFromPath(first.plan_path) === name) same.push({ name: o.name, root: first.project_root });
  }
  if (same.length <= 1) return same[0]?.name ?? name;
  const root = projectRootOf(ctx.cwd);
  return same.find((o) => o.root === root)?.name ?? (same.some((o) => o.name === name) ? name : same[0]!.name);
}

/**
 * A plan argument is a plan file or a plan name (`master-plan`, `master-plan.md`); both become a
 * sanitised plan name, so no argument reaches outside the state dir. None: the most recently active.
 */
export function resolveOrchestration(ctx: Ctx, plan: string | undefined): Orchestration {
  let name: string | undefined;
  if (plan === undefined) {
    const all = listOrchestrations(ctx.home);
    if (all.length === 0) throw new UserError(`no orchestrations under ${ctx.home}; start one with \`autorun orchestrate <plan>\`.`);
    name = all[0]!.name;
  } else if (/\.[^./]+$/.test(plan) && existsSync(join(ctx.home, "orchestration", plan, "events.jsonl"))) {
    // A run kept aside by --fresh, by the name it was given (`master-plan.2026-12-03T16-10-00`).
    name = plan;
  } else {
    name = ownOrchestration(ctx, planNameFromPath(plan));
  }
  const dir = join(ctx.home, "orchestration", name);
  const events = eventsFile(ctx.home, name);
  const opened = openOrchestration(ctx.home, name);
  const status = opened ? loadStatus(opened.paths) : undefined;
  if (!status && existsSync(events)) {
    throw new UserError(`orchestration "${name}" is damaged: the first line of ${events} is not a valid orchestration_started event; restore it, or start over with \`autorun orchestrate <plan> --fresh\`.`);
  }
  if (!status) {
    const known = listOrchestrations(ctx.home).map((o) => o.name);
    throw new UserError(`no orchestration named "${name}" in ${dir}${known.length ? ` (known: ${known.join(", ")})` : ""}; start it with \`autorun orchestrate <plan>\`.`);
  }
  const paths = opened!.paths;
  const config = readSettings(paths.dir) ?? loadConfig(ctx.home, status.project_root, {}, ctx.env);
  return { paths, status, config };
}

export function requireStage(orch: Orchestration, stage: string): string {
  const id = stage.replace(/^stage[-\s]*/i, "");
  if (!orch.status.stages[id]) {
    throw new UserError(`plan ${orch.status.plan_name} has no stage ${stage} (stages: ${Object.keys(orch.status.stages).join(", ")}).`);
  }
  return id;
}
