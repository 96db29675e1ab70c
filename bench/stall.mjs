// stall detection: from the agent going idle to the verified nudge. Hook path: the Stop hook's
// event marks the idle moment, and the monitor waits stallSeconds (2 s here) before nudging, so a
// person typing in the pane is not typed over. Screen path (no hooks): the agent goes idle right
// after reporting create_plan done; stallSeconds 1 s. Both print the time beyond stallSeconds.
// BENCH_STALL_STAGES: how many stages stall at once (5).
import { figure, sandbox, until, simCmd } from "./lib.mjs";

async function run(kind, behaviour, stallSeconds) {
  const sb = await sandbox(`stall-${kind}`);
  try {
    const n = Number(process.env.BENCH_STALL_STAGES ?? 5);
    const plan = sb.plan("stall.md", Array.from({ length: n }, (_, i) => `## Stage ${i + 1}: S\nsim: ${behaviour}\n`).join(""));
    const r = await sb.cli(["orchestrate", plan, "--agent-cmd", simCmd, "--max-parallel", String(n), "--stall-seconds", String(stallSeconds)], { AUTORUN_SIM_DELAY_MS: "50" });
    if (r.exitCode !== 0) throw new Error(r.stderr);
    await until("the run to end", () => sb.events("stall").some((e) => e.type === "orchestration_complete"), 180_000, 200);
    const events = sb.events("stall");
    const out = [];
    // Apart: idle → stall_detected (when the monitor saw the stall) and stall_detected → verified
    // (the nudge: its look before typing, the text, the pause, Enter, the look that confirms it).
    const seen = [];
    const typing = [];
    for (let id = 1; id <= n; id++) {
      const mine = events.filter((e) => e.stage === String(id));
      const idle = kind === "hook"
        ? mine.find((e) => e.type === "agent_stopped")
        : mine.find((e) => e.type === "phase_status" && e.phase === "create_plan" && e.status === "done");
      const nudge = mine.find((e) => e.type === "stall_continue_sent" && e.verified);
      const detected = mine.find((e) => e.type === "stall_detected");
      if (idle && nudge) out.push(Date.parse(nudge.ts) - Date.parse(idle.ts));
      if (idle && detected) seen.push(Date.parse(detected.ts) - Date.parse(idle.ts));
      if (detected && nudge) typing.push(Date.parse(nudge.ts) - Date.parse(detected.ts));
    }
    return Object.assign(out, { seen, typing });
  } finally {
    await sb.cleanup();
  }
}

const hook = await run("hook", "stall", 2);
figure("stall_hook_stall_seconds", 2000, "ms");
figure("stall_hook_idle_to_verified_nudge_mean", hook.reduce((a, b) => a + b, 0) / hook.length, "ms");
figure("stall_hook_idle_to_verified_nudge_max", Math.max(...hook), "ms");
figure("stall_hook_beyond_stall_seconds_max", Math.max(...hook) - 2000, "ms (goal ≤ 1000)");
figure("stall_hook_detected_beyond_stall_seconds_max", Math.max(...hook.seen) - 2000, "ms (idle → stall_detected)");
figure("stall_hook_nudge_max", Math.max(...hook.typing), "ms (stall_detected → verified nudge)");
const screen = await run("screen", "stall-silent", 1);
figure("stall_screen_stall_seconds", 1000, "ms");
figure("stall_screen_idle_to_verified_nudge_mean", screen.reduce((a, b) => a + b, 0) / screen.length, "ms");
figure("stall_screen_idle_to_verified_nudge_max", Math.max(...screen), "ms");
figure("stall_screen_beyond_stall_seconds_max", Math.max(...screen) - 1000, "ms (goal ≤ 1000)");
figure("stall_screen_detected_beyond_stall_seconds_max", Math.max(...screen.seen) - 1000, "ms (idle → stall_detected)");
figure("stall_screen_nudge_max", Math.max(...screen.typing), "ms (stall_detected → verified nudge)");
