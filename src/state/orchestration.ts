/**
 * The one place an orchestration is found: by name (`openOrchestration`), by its directory (as in
 * AUTORUN_ORCH_DIR: `openOrchestrationDir`), or from a command's plan argument with its status and
 * configuration (`resolveOrchestration`). Each gives the same handle: its real paths (the project
 * slug read from its first event, never guessed), its identity, and `append(body)`, which adds that
 * identity and validates the event. Commands, the monitor and the dashboard write events through
 * this (`appendFor` when they hold a status instead of a handle), never assembling identities by hand.
 */
import { readdirSync, existsSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { appendEvents, readFirstEvent } from "./events.js";
import { orchPaths, type OrchPaths } from "./paths.js";
import { loadStatus } from "./status.js";
import { readSettings } from "./settings.js";
import { loadConfig, type Config } from "./config.js";
import { planNameFromPath } from "../core/slug.js";
import { editDistance } from "../core/printable.js";
import { UserError } from "../errors.js";
import type { AutorunEvent, EventBody, Status } from "../types/schemas.js";

/** What every event of an orchestration says about whose it is. */
export interface Identity {
  orch_dir: string;
  plan_name: string;
  project_slug: string;
}

export interface Orchestration {
  /** The directory name under `$AUTORUN_HOME/orchestration` (a plan name, or `<plan>.<time>` kept by --fresh). */
  name: string;
  paths: OrchPaths;
  identity: Identity;
  append(body: EventBody): AutorunEvent;
}

/** An orchestration as a command acts on it: the handle, its status now, and its configuration. */
export interface LoadedOrchestration extends Orchestration {
  status: Status;
  config: Config;
  /** Named by no argument and of no project here: the latest run of any project, said so. */
  guessed?: string;
}

/** Where a command runs: its home, its directory (to tell same-named plans apart), its environment. */
export interface Where {
  home: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** Appends `body` to the orchestration at `paths`, with the identity of `who` (its status or first event). */
export function appendFor(paths: OrchPaths, who: { plan_name: string; project_slug: string }, body: EventBody): AutorunEvent {
  return appendAllFor(paths, who, [body])[0]!;
}

/** Appends several events in one write (see appendEvents), each with the identity of `who`. */
export function appendAllFor(paths: OrchPaths, who: { plan_name: string; project_slug: string }, bodies: readonly EventBody[]): AutorunEvent[] {
  return appendEvents(paths.events, bodies.map((body) => ({ orch_dir: paths.dir, plan_name: who.plan_name, project_slug: who.project_slug, ...body })));
}

/** The events file of orchestration `name`, for what needs nothing else (is there one? its first line). */
export function eventsFile(home: string, name: string): string {
  return join(home, "orchestration", name, "events.jsonl");
}

/** Orchestration `name` under `home`; undefined when it has no readable first event. */
export function openOrchestration(home: string, name: string): Orchestration | undefined {
  const first = readFirstEvent(eventsFile(home, name));
  if (first?.type !== "orchestration_started") return undefined;
  const paths = orchPaths(home, name, first.project_slug);
  const identity: Identity = { orch_dir: paths.dir, plan_name: first.plan_name, project_slug: first.project_slug };
  return { name, paths, identity, append: (body) => appendFor(paths, identity, body) };
}

/** The orchestration whose directory is `orchDir` (`<home>/orchestration/<name>`, as in AUTORUN_ORCH_DIR). */
export function openOrchestrationDir(orchDir: string): Orchestration | undefined {
  const dir = resolve(orchDir);
  return openOrchestration(dirname(dirname(dir)), basename(dir));
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
function ownOrchestration(ctx: Where, name: string, file: string | undefined): string {
  const same: { name: string; root: string; plan: string }[] = [];
  for (const o of listOrchestrations(ctx.home)) {
    if (o.name !== name && !(o.name.startsWith(`${name}-`) && !o.name.includes("."))) continue;
    const first = readFirstEvent(eventsFile(ctx.home, o.name));
    if (first?.type === "orchestration_started" && planNameFromPath(first.plan_path) === name) same.push({ name: o.name, root: first.project_root, plan: resolve(first.plan_path) });
  }
  // A plan file names its own run, even beside another plan of the same name in the project
  // (`日本語.md` and `中文.md` are both `plan`), and never another project's run of that name.
  if (file !== undefined && same.length > 0) {
    const own = same.find((o) => o.plan === file);
    if (own) return own.name;
    throw new UserError(`no run of ${file} yet (the ${same.length === 1 ? "run" : "runs"} named like it ${same.length === 1 ? "is" : "are"} of ${same.map((o) => o.plan).join(", ")}); start one with \`autorun orchestrate ${file}\`, or name a run: ${same.map((o) => o.name).join(", ")}.`);
  }
  if (same.length <= 1) return same[0]?.name ?? name;
  const root = projectRootOf(ctx.cwd);
  const here = same.filter((o) => o.root === root);
  return (here.find((o) => o.name === name) ?? here[0] ?? same.find((o) => o.name === name) ?? same[0]!).name;
}

/**
 * A plan argument is a plan file or a plan name (`master-plan`, `master-plan.md`); both become a
 * sanitised plan name, so no argument reaches outside the state dir. None: the most recently active
 * run of the project the command runs in (of any project, when it has none).
 */
export function resolveOrchestration(ctx: Where, plan: string | undefined): LoadedOrchestration {
  let name: string | undefined;
  let guessed: string | undefined;
  if (plan === undefined) {
    const all = listOrchestrations(ctx.home);
    if (all.length === 0) throw new UserError(`no orchestrations under ${ctx.home}; start one with \`autorun orchestrate <plan>\`.`);
    // The most recently active run of the project the command runs in, else of any project.
    const root = projectRootOf(ctx.cwd);
    const here = root === undefined ? undefined : all.find((o) => {
      const first = readFirstEvent(eventsFile(ctx.home, o.name));
      return first?.type === "orchestration_started" && first.project_root === root;
    });
    name = (here ?? all[0]!).name;
    if (!here) guessed = `no run of ${root ?? ctx.cwd} here; this is the latest run of any project, ${name} (name one to choose it)`;
  } else if (/\.[^./]+$/.test(plan) && existsSync(join(ctx.home, "orchestration", plan, "events.jsonl"))) {
    // A run kept aside by --fresh, by the name it was given (`master-plan.2026-12-03T16-10-00`).
    name = plan;
  } else {
    const file = resolve(ctx.cwd, plan);
    name = ownOrchestration(ctx, planNameFromPath(plan), existsSync(file) ? file : undefined);
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
    // A name a letter or two off a run's (`masterplan`, `master-pln`) is a typo, not a new run
    // (one letter off for a name shorter than five).
    const bare = (n: string) => n.toLowerCase().replace(/[-_]/g, "");
    const near = plan !== undefined && existsSync(resolve(ctx.cwd, plan)) ? [] : known.filter((k) => editDistance(bare(k), bare(name)) <= (name.length < 5 ? 1 : 2));
    if (near.length > 0) throw new UserError(`no orchestration named "${name}"; did you mean ${near.join(" or ")}? (known: ${known.join(", ")})`);
    throw new UserError(`no orchestration named "${name}" under ${dirname(dir)}${known.length ? ` (known: ${known.join(", ")})` : ""}; start it with \`autorun orchestrate <plan>\`.`);
  }
  const config = readSettings(opened!.paths.dir) ?? loadConfig(ctx.home, status.project_root, {}, ctx.env);
  return { ...opened!, status, config, ...(guessed ? { guessed } : {}) };
}

export function requireStage(orch: Pick<LoadedOrchestration, "status">, stage: string): string {
  const id = stage.replace(/^stage[-\s]*/i, "");
  if (!orch.status.stages[id]) {
    throw new UserError(`plan ${orch.status.plan_name} has no stage ${stage} (stages: ${Object.keys(orch.status.stages).join(", ")}).`);
  }
  return id;
}
