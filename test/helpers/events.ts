/** Events for tests that fold or render a status without running anything. */
import { computeWaves } from "../../src/core/graph.js";
import type { StageSettings } from "../../src/core/stage-settings.js";
import type { EventOf } from "../../src/types/schemas.js";

export interface StageSpec {
  id: string;
  name?: string;
  deps?: string[];
  settings?: StageSettings;
}

/**
 * An `orchestration_started` event for `stages` (names `S<id>` unless given; branch, worktree and
 * session `b<id>`, `w<id>`, `s<id>`), its waves computed from the dependencies.
 */
export function startedEvent(
  stages: readonly StageSpec[],
  opts: { ident?: { orch_dir: string; plan_name: string; project_slug: string }; ts?: string; maxParallel?: number } = {},
): EventOf<"orchestration_started"> {
  const waves = computeWaves(stages.map((s) => ({ id: s.id, depends_on: s.deps ?? [] })));
  const waveOf = new Map(waves.flatMap((ids, i) => ids.map((id) => [id, i + 1] as const)));
  return {
    ...(opts.ident ?? { orch_dir: "/o", plan_name: "p", project_slug: "p" }),
    ts: opts.ts ?? "2026-01-01T00:00:00.000Z",
    type: "orchestration_started",
    plan_path: "/x/p.md",
    project_root: "/x",
    base_branch: "main",
    stages: stages.map((s) => ({
      id: s.id,
      name: s.name ?? `S${s.id}`,
      depends_on: s.deps ?? [],
      wave: waveOf.get(s.id) ?? 1,
      context_file: `c${s.id}`,
      branch: `b${s.id}`,
      worktree: `w${s.id}`,
      session: `s${s.id}`,
      ...(s.settings ? { settings: s.settings } : {}),
    })),
    waves,
    max_parallel: opts.maxParallel ?? 4,
    schedule: "eager",
  };
}
