/** What the dashboard shows, as plain text from the store's data. Pure (no blessed), so tested alone. */
import { printable } from "../core/printable.js";
import { formatDistanceStrict } from "date-fns/formatDistanceStrict";
import { format } from "date-fns/format";
import type { AutorunEvent, Status, StageStatus } from "../state/schemas.js";
import { sortStages, elapsed } from "../commands/status.js";

export const STAGE_HEADER = ["ID", "NAME", "W", "STATUS", "ATTN", "ELAPSED", "N", "T", "BRANCH"];

export function stageRows(status: Status, now: Date, nameWidth = 18): string[][] {
  return sortStages(status).map(([id, s]) => [
    id,
    clip(s.name, nameWidth),
    String(s.wave),
    s.status === "in_progress" ? phaseLabel(s) : s.status,
    s.attention ?? "",
    elapsed(s, now),
    String(s.nudges),
    String(s.attempts),
    s.branch.replace(/^worktree-/, ""),
  ]);
}

export function phaseLabel(s: StageStatus): string {
  const impl = s.phases.implement;
  if (impl?.started_at) return `impl ${impl.current_phase ?? "?"}/${impl.total_phases ?? "?"}`;
  if (s.phases.create_plan?.started_at) return "planning";
  if (s.phases.research?.started_at) return "research";
  return "starting";
}

const MARK: Record<string, string> = { completed: "✓", in_progress: "▶", merging: "⇢", pending: "·", failed: "✗", blocked: "⊘" };

/** "4 ▶ Top  ← 2 ✓, 3 ▶": who waits on whom, with each side's state. */
export function dependencyLines(status: Status): string[] {
  const lines: string[] = [];
  status.waves.forEach((ids, i) => {
    lines.push(`Wave ${i + 1}${status.current_wave === i + 1 ? " (current)" : ""}`);
    for (const id of ids) {
      const s = status.stages[id];
      if (!s) continue;
      const deps = s.depends_on.map((d) => `${d}${MARK[status.stages[d]?.status ?? ""] ?? "?"}`).join(" ");
      lines.push(`  ${MARK[s.status] ?? "?"} ${id} ${clip(s.name, 16)}${deps ? `  ← ${deps}` : ""}`);
    }
  });
  return lines;
}

export function eventLine(e: AutorunEvent): string {
  const t = format(new Date(e.ts), "HH:mm:ss");
  const who = e.stage !== undefined ? ` [${e.stage}]` : "";
  const extra = describe(e);
  return printable(`${t}${who} ${e.type}${extra ? `: ${extra}` : ""}`);
}

function describe(e: AutorunEvent): string {
  switch (e.type) {
    case "phase_status":
      return `${e.phase} ${e.status}${e.current_phase !== undefined ? ` ${e.current_phase}/${e.total_phases ?? "?"}` : ""}`;
    case "merge_complete":
      return e.commit.slice(0, 10);
    case "merge_conflict":
      return `${e.reason}${e.files.length ? ` (${e.files.join(", ")})` : ""}`;
    case "stall_continue_sent":
      return `${JSON.stringify(e.message.slice(0, 30))} verified=${e.verified}`;
    case "rate_limited":
      return `until ${e.resets_at}`;
    case "stage_failed":
      return e.reason;
    case "review_requested":
      return e.title;
    case "orchestration_complete":
      return e.status;
    case "wave_started":
    case "wave_complete":
      return String(e.wave);
    default:
      return "";
  }
}

export function headerLine(status: Status, monitorAlive: boolean, now: Date): string {
  const all = Object.values(status.stages);
  const done = all.filter((s) => s.status === "completed").length;
  const attention = all.filter((s) => s.attention).length;
  const age = formatDistanceStrict(new Date(status.created_at), now);
  return `${status.plan_name} · ${status.status} · ${done}/${all.length} merged${attention ? ` · ${attention} need attention` : ""} · ${age} · monitor ${monitorAlive ? "up" : "down"}${status.paused_until ? ` · paused until ${format(new Date(status.paused_until), "HH:mm")}` : ""}`;
}

/** The whole dashboard as text, for a non-TTY stdout. */
export function plainSummary(status: Status, events: AutorunEvent[], monitorAlive: boolean, now: Date): string {
  const rows = [STAGE_HEADER, ...stageRows(status, now, 28)];
  const widths = STAGE_HEADER.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return [
    headerLine(status, monitorAlive, now),
    "",
    ...rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()),
    "",
    ...dependencyLines(status),
    "",
    "Recent events:",
    ...events.slice(-10).map(eventLine),
  ].join("\n");
}

function clip(raw: string, width: number): string {
  const text = printable(raw);
  return text.length > width ? text.slice(0, width - 1) + "…" : text;
}
