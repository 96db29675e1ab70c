/** The dependency graph: topological waves and cycle detection. Pure. */
import { compareIds } from "./ids.js";

interface Node {
  id: string;
  depends_on: readonly string[];
}

/** Wave 1 = stages with no deps; wave N = stages whose deps all lie in waves < N. */
export function computeWaves(stages: readonly Node[]): string[][] {
  const waveOf = new Map<string, number>();
  const byId = new Map(stages.map((s) => [s.id, s]));
  const visit = (id: string, stack: Set<string>): number => {
    const known = waveOf.get(id);
    if (known !== undefined) return known;
    if (stack.has(id)) throw new Error(`cycle through ${id}`);
    stack.add(id);
    const node = byId.get(id);
    let wave = 1;
    for (const dep of node?.depends_on ?? []) {
      if (byId.has(dep)) wave = Math.max(wave, visit(dep, stack) + 1);
    }
    stack.delete(id);
    waveOf.set(id, wave);
    return wave;
  };
  for (const s of stages) visit(s.id, new Set());
  const waves: string[][] = [];
  for (const [id, wave] of waveOf) (waves[wave - 1] ??= []).push(id);
  return waves.map((w) => w.sort(compareIds));
}

/** The first cycle found, as a closed path (`1 → 3 → 5 → 1`), or undefined. */
export function findCycle(stages: readonly Node[]): string[] | undefined {
  const byId = new Map(stages.map((s) => [s.id, s]));
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const dfs = (id: string): string[] | undefined => {
    state.set(id, "visiting");
    path.push(id);
    for (const dep of [...(byId.get(id)?.depends_on ?? [])].sort(compareIds)) {
      if (!byId.has(dep)) continue;
      const st = state.get(dep);
      if (st === "visiting") {
        const start = path.indexOf(dep);
        // Present the cycle in dependency order: a depends on b means b must run before a.
        return [...path.slice(start), dep].reverse();
      }
      if (st === undefined) {
        const found = dfs(dep);
        if (found) return found;
      }
    }
    path.pop();
    state.set(id, "done");
    return undefined;
  };
  for (const s of [...stages].sort((a, b) => compareIds(a.id, b.id))) {
    if (state.get(s.id) === undefined) {
      const found = dfs(s.id);
      if (found) return rotateToMin(found);
    }
  }
  return undefined;
}

function rotateToMin(cycle: string[]): string[] {
  const ring = cycle.slice(0, -1);
  let min = 0;
  for (let i = 1; i < ring.length; i++) if (compareIds(ring[i]!, ring[min]!) < 0) min = i;
  const rotated = [...ring.slice(min), ...ring.slice(0, min)];
  return [...rotated, rotated[0]!];
}
