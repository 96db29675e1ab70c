/**
 * One orchestration on disk, opened by name: its real paths (the project slug read from its first
 * event, never guessed) and `append(body)`, which adds the identity every event carries. Commands,
 * the monitor and the TUI write events through this instead of assembling identities by hand.
 */
import { basename, dirname, join, resolve } from "node:path";
import { appendEvents, readFirstEvent } from "./events.js";
import { orchPaths, type OrchPaths } from "./paths.js";
import type { AutorunEvent, EventBody } from "./schemas.js";

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
