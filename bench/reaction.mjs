// reaction: from a stage's merge_complete to its dependant's session existing (stage_launched is
// appended right after `tmux new-session` returns). 6 chains of 6 stages = 30 launches.
import { figure, percentile, sandbox, until, simCmd } from "./lib.mjs";

const chains = 6;
const length = 6;
const sb = await sandbox("reaction");
try {
  let text = "";
  for (let c = 0; c < chains; c++) {
    for (let s = 1; s <= length; s++) {
      const id = c * length + s;
      text += `## Stage ${id}: c${c}s${s}\n${s > 1 ? `Depends on: ${id - 1}\n` : ""}`;
    }
  }
  const plan = sb.plan("reaction.md", text);
  const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simCmd, "--max-parallel", String(chains)], { AUTORUN_SIM_DELAY_MS: "20" });
  if (r.exitCode !== 0) throw new Error(r.stderr);
  await until("the run to end", () => sb.events("reaction").some((e) => e.type === "orchestration_complete"), 300_000, 200);
  const events = sb.events("reaction");
  const merged = new Map(events.filter((e) => e.type === "merge_complete").map((e) => [e.stage, Date.parse(e.ts)]));
  const reactions = [];
  for (const e of events.filter((e) => e.type === "stage_launched")) {
    const id = Number(e.stage);
    if ((id - 1) % length === 0) continue;
    reactions.push(Date.parse(e.ts) - merged.get(String(id - 1)));
  }
  figure("reaction_launches_measured", reactions.length, "launches");
  figure("reaction_p50", percentile(reactions, 50), "ms");
  figure("reaction_p95", percentile(reactions, 95), "ms");
  figure("reaction_max", Math.max(...reactions), "ms");
} finally {
  await sb.cleanup();
}
