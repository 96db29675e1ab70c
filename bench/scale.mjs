// scale: parse + waves of generated plans; status fold of 10k / 100k events; the monitor's reaction
// to one new event at the end of a 100k-line events file (it reads only the new bytes).
import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { watch } from "chokidar";
import { figure, ROOT } from "./lib.mjs";

const { parsePlan } = await import(join(ROOT, "dist/src/core/parse-plan.js"));
const { foldEvents } = await import(join(ROOT, "dist/src/core/fold.js"));
const { readEventsFrom, readAllEvents } = await import(join(ROOT, "dist/src/state/events.js"));

function time(fn, repeat = 1) {
  const t = performance.now();
  let out;
  for (let i = 0; i < repeat; i++) out = fn();
  return [(performance.now() - t) / repeat, out];
}

for (const n of [100, 1000, 10000]) {
  const text = Array.from({ length: n }, (_, i) => `## Stage ${i + 1}: Stage number ${i + 1}\nSome scope text for stage ${i + 1}.\n${i ? `Depends on: ${Math.max(1, i - (i % 7))}${i > 3 ? `, ${i - 3}` : ""}\n` : ""}`).join("\n");
  const [ms, plan] = time(() => parsePlan("gen.md", text), n <= 1000 ? 5 : 1);
  figure(`parse_waves_${n}_stages`, ms, `ms (${plan.waves.length} waves)${n === 10000 ? "; goal ≤ 300" : ""}`);
}

const dir = mkdtempSync(join(tmpdir(), "autorun-bench-scale-"));
try {
  const file = join(dir, "events.jsonl");
  const ident = { orch_dir: dir, plan_name: "p", project_slug: "p" };
  const started = { ts: new Date().toISOString(), type: "orchestration_started", ...ident, plan_path: "/p.md", project_root: "/r", base_branch: "main",
    stages: Array.from({ length: 10 }, (_, i) => ({ id: String(i + 1), name: `S${i}`, depends_on: [], wave: 1, context_file: "c", branch: "b", worktree: "w", session: "s" })),
    waves: [Array.from({ length: 10 }, (_, i) => String(i + 1))], max_parallel: 4, schedule: "eager" };
  const filler = (i) => JSON.stringify({ ts: new Date(Date.now() + i).toISOString(), ...ident, stage: String((i % 10) + 1), type: i % 3 ? "phase_status" : "stage_attention", ...(i % 3 ? { phase: "implement", status: "start", current_phase: 1, total_phases: 3 } : { attention: null, reason: "bench" }) });
  for (const n of [10_000, 100_000]) {
    writeFileSync(file, JSON.stringify(started) + "\n" + Array.from({ length: n - 1 }, (_, i) => filler(i)).join("\n") + "\n");
    const [readMs, events] = time(() => readAllEvents(file));
    const [foldMs] = time(() => foldEvents(events));
    figure(`status_fold_${n}_events_read`, readMs, "ms");
    figure(`status_fold_${n}_events_fold`, foldMs, "ms");
  }
  // The monitor's path: it holds the byte offset; one new line costs one small read.
  const { offset } = readEventsFrom(file, 0);
  const watcher = watch(file, { ignoreInitial: true });
  await new Promise((r) => watcher.on("ready", r));
  const reacted = new Promise((resolve) => watcher.on("change", () => {
    const t = performance.now();
    const chunk = readEventsFrom(file, offset);
    resolve({ at: performance.now(), readMs: performance.now() - t, count: chunk.events.length });
  }));
  const t0 = performance.now();
  appendFileSync(file, filler(1) + "\n");
  const { at, readMs, count } = await reacted;
  await watcher.close();
  figure("monitor_react_one_event_after_100k_watch_latency", at - t0, "ms");
  figure("monitor_react_one_event_after_100k_incremental_read", readMs, `ms (${count} event read)`);
  const [fullMs] = time(() => readAllEvents(file));
  figure("monitor_full_reread_100k_for_comparison", fullMs, "ms");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
