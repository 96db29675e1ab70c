/**
 * Which host each ready stage runs on. Pure: the hosts (slots, labels, up or not), what runs where,
 * and the ready stages in the order the scheduler gives them, in; one decision per stage out.
 *
 * - `maxParallel` caps the whole run, every host together.
 * - An exclusive resource held by a running stage holds on every host.
 * - `Host:` pins a stage to one host: it waits for that host, never runs elsewhere.
 * - A relaunched stage stays on the host it ran on while that host is up (its worktree is there).
 * - Otherwise: the host with the most free slots among those up that have every label the stage
 *   needs; on a tie, the host listed first (`local` first).
 */

export interface PlacementHost {
  name: string;
  slots: number;
  labels: readonly string[];
  /** False while the host is lost (its connection failed its keep-alives). */
  up: boolean;
}

export interface PlacementStage {
  id: string;
  /** `Host:` — the only host it may run on. */
  host?: string;
  /** `Needs:` — labels its host must have, every one. */
  needs?: readonly string[];
  exclusive_resources?: readonly string[];
  /** The host its previous session ran on (a relaunch). */
  previousHost?: string;
}

export interface RunningStage {
  stage: string;
  host: string;
  exclusive_resources?: readonly string[];
}

export interface PlacementInput {
  hosts: readonly PlacementHost[];
  running: readonly RunningStage[];
  maxParallel: number;
  /** Ready stages, most urgent first. */
  ready: readonly PlacementStage[];
}

export type WaitReason = "max_parallel" | "resource" | "host_down" | "no_slot" | "no_host";

export type Placement = { stage: string; host: string } | { stage: string; wait: WaitReason; detail: string };

export function placeStages(input: PlacementInput): Placement[] {
  const free = new Map(input.hosts.map((h) => [h.name, h.slots]));
  for (const r of input.running) free.set(r.host, (free.get(r.host) ?? 0) - 1);
  const held = new Map<string, string>();
  for (const r of input.running) for (const res of r.exclusive_resources ?? []) held.set(res, r.stage);
  let total = input.running.length;
  const byName = new Map(input.hosts.map((h) => [h.name, h]));
  const out: Placement[] = [];

  for (const stage of input.ready) {
    const wait = (reason: WaitReason, detail: string) => out.push({ stage: stage.id, wait: reason, detail });
    if (total >= input.maxParallel) {
      wait("max_parallel", `${total} of ${input.maxParallel} stages (maxParallel) run`);
      continue;
    }
    const busy = (stage.exclusive_resources ?? []).find((r) => held.has(r));
    if (busy !== undefined) {
      wait("resource", `${busy} is held by stage ${held.get(busy)}`);
      continue;
    }
    const needs = stage.needs ?? [];
    const fits = (h: PlacementHost) => h.slots > 0 && needs.every((l) => h.labels.includes(l));
    let candidates: PlacementHost[];
    const pinned = stage.host === undefined ? undefined : byName.get(stage.host);
    const previous = stage.previousHost === undefined ? undefined : byName.get(stage.previousHost);
    if (stage.host !== undefined) {
      if (!pinned) {
        wait("no_host", `host ${stage.host} is not configured`);
        continue;
      }
      if (!pinned.up) {
        wait("host_down", `host ${pinned.name} is down`);
        continue;
      }
      candidates = [pinned];
    } else if (previous?.up && fits(previous)) {
      candidates = [previous];
    } else {
      const able = input.hosts.filter(fits);
      if (able.length === 0) {
        wait("no_host", needs.length ? `no host has ${needs.join(", ")} and a slot` : "no host has a slot");
        continue;
      }
      candidates = able.filter((h) => h.up);
      if (candidates.length === 0) {
        wait("host_down", `every host that can run it is down (${able.map((h) => h.name).join(", ")})`);
        continue;
      }
    }
    let best: PlacementHost | undefined;
    for (const h of candidates) if ((free.get(h.name) ?? 0) > 0 && (best === undefined || (free.get(h.name) ?? 0) > (free.get(best.name) ?? 0))) best = h;
    if (!best) {
      wait("no_slot", `every slot of ${candidates.map((h) => h.name).join(", ")} is in use`);
      continue;
    }
    out.push({ stage: stage.id, host: best.name });
    free.set(best.name, (free.get(best.name) ?? 0) - 1);
    total++;
    for (const r of stage.exclusive_resources ?? []) held.set(r, stage.id);
  }
  return out;
}
