/** `autorun status [plan]`: what runs, what waits, what needs a person — attention first. */
import { formatDistanceStrict } from "date-fns";
import { compareIds } from "../core/ids.js";
import type { Status, StageStatus } from "../state/schemas.js";
import { loadStatus } from "../state/status.js";
import { orchPaths } from "../state/paths.js";
import { isMonitorOf } from "./monitor-pid.js";
import { listOrchestrations, resolveOrchestration, type Ctx } from "./context.js";

const ORDER: Record<string, number> = { merging: 1, in_progress: 1, pending: 2, blocked: 3, failed: 3, completed: 4 };

export function sortStages(status: Status): [string, StageStatus][] {
  return Object.entries(status.stages).sort(([a, x], [b, y]) => {
    const ax = x.attention ? 0 : (ORDER[x.status] ?? 5);
    const by = y.attention ? 0 : (ORDER[y.status] ?? 5);
    return ax - by || compareIds(a, b);
  });
}

export function elapsed(stage: StageStatus, now: Date): string {
  if (!stage.started_at) return "—";
  const end = stage.completed_at ? new Date(stage.completed_at) : now;
  return formatDistanceStrict(end, new Date(stage.started_at));
}

export function renderStatusTable(status: Status, now: Date, monitorAlive: boolean): string[] {
  const lines: string[] = [];
  const counts = Object.values(status.stages).reduce<Record<string, number>>((acc, s) => ((acc[s.status] = (acc[s.status] ?? 0) + 1), acc), {});
  lines.push(`${status.plan_name}: ${status.status}  (${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ")})  wave ${status.current_wave}/${status.waves.length}  monitor ${monitorAlive ? `running (pid ${status.monitor_pid})` : "not running"}`);
  if (status.paused_until) lines.push(`paused for a usage limit until ${status.paused_until}`);
  const rows = sortStages(status).map(([id, s]) => [
    id,
    s.name.length > 28 ? s.name.slice(0, 27) + "…" : s.name,
    s.status,
    s.attention ?? "",
    String(s.wave),
    s.depends_on.join(",") || "-",
    elapsed(s, now),
    String(s.nudges),
    String(s.attempts),
    s.status === "completed" ? (s.merge_commit?.slice(0, 10) ?? "") : s.branch,
    s.status === "in_progress" || s.status === "merging" ? s.session : "",
  ]);
  const header = ["STAGE", "NAME", "STATUS", "ATTENTION", "WAVE", "DEPS", "ELAPSED", "NUDGES", "TRIES", "BRANCH/MERGE", "SESSION"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  lines.push(fmt(header), ...rows.map(fmt));
  // Why a stage failed, or what a crashed agent said last, in its own words.
  for (const [id, s] of sortStages(status)) {
    if (s.status === "failed" && s.failure_reason) lines.push(`stage ${id} failed: ${s.failure_reason}`);
    else if (s.status === "blocked" && s.failure_reason) lines.push(`stage ${id} is blocked: ${s.failure_reason}`);
    else if (s.attention === "crashed" && s.last_exit) {
      const code = s.last_exit.exit_status !== null ? ` ${s.last_exit.exit_status}` : s.last_exit.signal !== null ? ` on signal ${s.last_exit.signal}` : "";
      lines.push(`stage ${id}'s agent exited${code}${s.last_exit.last_lines.length ? `: ${s.last_exit.last_lines.slice(-3).join(" | ")}` : ""}`);
    }
  }
  return lines;
}

export async function runStatus(ctx: Ctx, plan: string | undefined, opts: { json?: boolean; watch?: boolean }): Promise<number> {
  if (plan === undefined && !opts.watch) {
    const all = listOrchestrations(ctx.home).map((o) => loadStatus(orchPaths(ctx.home, o.name, "plan"))).filter((s): s is Status => s !== undefined);
    if (opts.json) {
      ctx.out(JSON.stringify(all, null, 2));
      return 0;
    }
    if (all.length === 0) {
      ctx.out(`No orchestrations under ${ctx.home}. Start one with: autorun orchestrate <plan>`);
      return 0;
    }
    for (const s of all) {
      const st = Object.values(s.stages);
      const done = st.filter((x) => x.status === "completed").length;
      const attention = st.filter((x) => x.attention).length;
      ctx.out(`${s.plan_name.padEnd(32)} ${s.status.padEnd(10)} ${done}/${st.length} stages merged${attention ? `, ${attention} need attention` : ""}  started ${formatDistanceStrict(new Date(s.created_at), new Date(), { addSuffix: true })}`);
    }
    return 0;
  }
  const show = () => {
    const orch = resolveOrchestration(ctx, plan);
    const alive = orch.status.monitor_pid !== null && isMonitorOf(orch.paths, orch.status.monitor_pid);
    if (opts.json) ctx.out(JSON.stringify(orch.status, null, 2));
    else for (const line of renderStatusTable(orch.status, new Date(), alive)) ctx.out(line);
    return orch.status;
  };
  if (!opts.watch) {
    show();
    return 0;
  }
  for (;;) {
    if (ctx.isTTY) process.stdout.write("\x1b[H\x1b[2J");
    const s = show();
    if (s.status !== "running" && s.status !== "stopped") return 0;
    await new Promise((r) => setTimeout(r, 2000));
  }
}
