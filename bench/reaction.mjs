// reaction: from a stage's merge_complete to its dependant's session existing (stage_launched is
// appended right after `tmux new-session` returns). 6 chains of 6 stages = 30 launches, measured
// twice in one run: with no `validate`, and with a one-command `validate` (the merge queue then
// checks each merge result in its validation worktree before the base moves).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { figure, percentile, sandbox, until, simCmd } from "./lib.mjs";

// 6 × 6 unless BENCH_REACTION_CHAINS / BENCH_REACTION_LENGTH say otherwise (the scale runs).
const chains = Number(process.env.BENCH_REACTION_CHAINS ?? 6);
const length = Number(process.env.BENCH_REACTION_LENGTH ?? 6);

async function measure(label, validate) {
  const sb = await sandbox(`reaction-${label}`);
  try {
    if (validate) writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ validate }));
    let text = "";
    for (let c = 0; c < chains; c++) {
      for (let s = 1; s <= length; s++) {
        const id = c * length + s;
        text += `## Stage ${id}: Chain ${c + 1} step ${s}\n${s > 1 ? `Depends on: ${id - 1}\n` : ""}`;
      }
    }
    const plan = sb.plan("reaction.md", text);
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simCmd, "--max-parallel", String(chains)], { AUTORUN_SIM_DELAY_MS: "20" });
    if (r.exitCode !== 0) throw new Error(r.stderr);
    await until("the run to end", () => sb.events("reaction").some((e) => e.type === "orchestration_complete"), 300_000, 200);
    const events = sb.events("reaction");
    const merged = new Map(events.filter((e) => e.type === "merge_complete").map((e) => [e.stage, Date.parse(e.ts)]));
    // How long each merge took, from the hand-over (implement done) to merge_complete.
    const handed = new Map();
    for (const e of events) if (e.type === "phase_status" && e.phase === "implement" && e.status === "done") handed.set(e.stage, Date.parse(e.ts));
    const reactions = [];
    for (const e of events.filter((e) => e.type === "stage_launched")) {
      const id = Number(e.stage);
      if ((id - 1) % length === 0) continue;
      reactions.push(Date.parse(e.ts) - merged.get(String(id - 1)));
    }
    const merges = [...merged].map(([id, at]) => at - (handed.get(id) ?? at));
    // The merge's own steps (merge_started → merge_complete), apart from its wait in the queue.
    const started = new Map(events.filter((e) => e.type === "merge_started").map((e) => [e.stage, Date.parse(e.ts)]));
    const own = [...merged].map(([id, at]) => at - (started.get(id) ?? at));
    const waits = [...started].map(([id, at]) => at - (handed.get(id) ?? at));
    figure(`reaction_${label}_launches_measured`, reactions.length, "launches");
    figure(`reaction_${label}_p50`, percentile(reactions, 50), "ms");
    figure(`reaction_${label}_p95`, percentile(reactions, 95), `ms${label === "no_validate" ? " (goal ≤ 150)" : ""}`);
    figure(`reaction_${label}_max`, Math.max(...reactions), "ms");
    figure(`merge_${label}_p50`, percentile(merges, 50), "ms (hand-over → merge_complete)");
    figure(`merge_${label}_p95`, percentile(merges, 95), `ms${label === "no_validate" ? " (goal ≤ 300)" : ""}`);
    figure(`merge_${label}_queued_p50`, percentile(waits, 50), "ms (hand-over → merge_started: the queue, up to six hand-overs at once)");
    figure(`merge_${label}_own_p50`, percentile(own, 50), "ms (merge_started → merge_complete)");
    figure(`merge_${label}_own_p95`, percentile(own, 95), "ms");
    return { reactions, merges };
  } finally {
    await sb.cleanup();
  }
}

const bare = await measure("no_validate", undefined);
if (process.env.BENCH_REACTION_VALIDATE !== "0") {
  const checked = await measure("validate_true", [["true"]]);
  figure("validate_added_merge_p50", percentile(checked.merges, 50) - percentile(bare.merges, 50), "ms (one `true` in the validation worktree)");
}
