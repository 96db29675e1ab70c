/** What the dashboard shows, as plain text from the store's data. Pure (no blessed), so tested alone. */
import { printable } from "../core/printable.js";
import { formatDistanceStrict } from "date-fns/formatDistanceStrict";
import { format } from "date-fns/format";
import type { AutorunEvent, Status } from "../types/schemas.js";
import { STAGE_CELLS, sortStages, usesHosts, type StageColumn } from "../core/stage-cells.js";
import { eventText, liftHoldCommand, needAttention } from "../core/words.js";
import { waitingForHosts, waitingForResources } from "../core/scheduler.js";
import { clipDisplay, displayWidth, padDisplay } from "../core/text-width.js";

/** The stage table's columns, most needed first; the name takes what is left. */
const ALL_COLUMNS: StageColumn[] = ["STAGE", "NAME", "STATUS", "ATTENTION", "HOST", "ELAPSED", "COST", "TRIES", "NUDGES", "WAVE", "BRANCH/MERGE"];
const REQUIRED = 4;
const GAP = 2;
const MIN_NAME = 8;

/**
 * The stage table for `width` columns of text: the first four columns always, the others while
 * they fit (each as wide as its widest cell), and the name clipped to what remains.
 */
export function stageTable(status: Status, now: Date, width: number): { header: string[]; rows: string[][] } {
  const stages = sortStages(status);
  // HOST only for a run that uses other hosts.
  const COLUMNS = ALL_COLUMNS.filter((c) => c !== "HOST" || usesHosts(status.stages));
  const cells = COLUMNS.map((c) => stages.map(([id, s]) => (c === "NAME" ? printable(s.name) : STAGE_CELLS[c](id, s, now))));
  const wide = COLUMNS.map((c, i) => Math.max(c.length, ...cells[i]!.map(displayWidth)));
  // A name of up to 16 characters is worth more than the columns after ATTENTION.
  const nameMin = Math.max(MIN_NAME, Math.min(wide[1]!, 16));
  const chosen = [0, 1, 2, 3];
  const used = () => chosen.reduce((sum, i) => sum + (i === 1 ? nameMin : wide[i]!) + GAP, 0);
  for (let i = REQUIRED; i < COLUMNS.length; i++) if (used() + wide[i]! + GAP <= width) chosen.push(i);
  const nameWidth = Math.max(MIN_NAME, Math.min(wide[1]!, width - used() + nameMin));
  return {
    header: chosen.map((i) => COLUMNS[i]!),
    rows: stages.map((_, r) => chosen.map((i) => (i === 1 ? clip(cells[1]![r]!, nameWidth) : cells[i]![r]!))),
  };
}

const MARK: Record<string, string> = { completed: "✓", in_progress: "▶", merging: "⇢", pending: "·", failed: "✗", blocked: "⊘" };

/** A stage's mark: a skipped one is finished, not merged (its work is not in the base). */
function markOf(stage: Status["stages"][string] | undefined): string {
  return stage?.finished_by === "skipped" ? "↷" : (MARK[stage?.status ?? ""] ?? "?");
}

/**
 * "4 ▶ Top  ← 2✓ 3▶": who waits on whom, with each side's state; a stage that waits for an
 * exclusive resource says which and who holds it, one pinned to a host that could not launch
 * stages says why; a run on hold says why first.
 */
export function dependencyLines(status: Status): string[] {
  const lines: string[] = [];
  if (status.hold) lines.push(`ON HOLD: ${status.hold.reason}`, `  ${liftHoldCommand(status.hold, status.plan_name)}`);
  const resources = waitingForResources(status);
  const hosts = waitingForHosts(status);
  status.waves.forEach((ids, i) => {
    lines.push(`Wave ${i + 1}${status.current_wave === i + 1 && (status.status === "running" || status.status === "stopped") ? " (current)" : ""}`);
    for (const id of ids) {
      const s = status.stages[id];
      if (!s) continue;
      const deps = s.depends_on.map((d) => `${d}${markOf(status.stages[d])}`).join(" ");
      lines.push(`  ${markOf(s)} ${id} ${clip(s.name, 16)}${deps ? `  ← ${deps}` : ""}`);
      const r = resources.get(id);
      if (r) lines.push(`      waits for ${r.resource} (stage ${r.holder} has it)`);
      const h = hosts.get(id);
      if (h) lines.push(printable(`      waits for host ${h.host} (it could not launch there: ${h.reason})`));
    }
  });
  return lines;
}

export function eventLine(e: AutorunEvent): string {
  const t = format(new Date(e.ts), "HH:mm:ss");
  return printable(`${t} ${e.stage !== undefined ? `stage ${e.stage}: ` : ""}${eventText(e)}`);
}

/** A run that is over: nothing more runs in it, and it has no monitor to stop. */
export function runOver(status: Status): boolean {
  return status.status === "completed" || status.status === "failed";
}

/** The dashboard's keys that do something for a run in this state: a run that is over has no monitor to stop. */
export function keysLine(status: Status): string {
  return ` a attach  n nudge  r review${runOver(status) ? "" : "  s stop"}  q quit`;
}

export function headerLine(status: Status, monitorAlive: boolean, now: Date): string {
  const all = Object.values(status.stages);
  const done = all.filter((s) => s.status === "completed").length;
  const attention = all.filter((s) => s.attention).length;
  // A run that is over has taken what it took: its time stops at its end.
  const age = formatDistanceStrict(new Date(status.created_at), status.completed_at ? new Date(status.completed_at) : now);
  return `${status.plan_name} · ${status.status} · ${done}/${all.length} finished${attention ? ` · ${needAttention(attention)}` : ""} · ${age}${monitorAlive ? " · monitor up" : status.status === "running" || status.status === "stopped" ? " · monitor down" : ""}${status.paused_until ? ` · paused until ${format(new Date(status.paused_until), "HH:mm")}` : ""}${status.hold ? ` · on hold (${status.hold.kind})` : ""}`;
}

/** The whole dashboard as text, for a non-TTY stdout. */
export function plainSummary(status: Status, events: AutorunEvent[], monitorAlive: boolean, now: Date): string {
  const table = stageTable(status, now, 200);
  const rows = [table.header, ...table.rows];
  const widths = table.header.map((_, i) => Math.max(...rows.map((r) => displayWidth(r[i]!))));
  return [
    headerLine(status, monitorAlive, now),
    "",
    ...rows.map((r) => r.map((c, i) => padDisplay(c, widths[i]!)).join("  ").trimEnd()),
    "",
    ...dependencyLines(status),
    "",
    "Recent events:",
    ...events.slice(-10).map(eventLine),
  ].join("\n");
}

function clip(raw: string, width: number): string {
  return clipDisplay(printable(raw), width);
}

/**
 * `text` as blessed's table can draw it. blessed keeps an emoji in one cell where terminals draw
 * two, so a selected row, painted to the table's edge, ran one column into the border. Each such
 * character becomes 〓 (the customary stand-in for a character that cannot be shown, two columns
 * like the emoji), joiners and presentation selectors go, so the row is as wide as `status`
 * measured it. Only the table: the other panes show names as they are.
 */
export function tableCell(text: string): string {
  let out = "";
  for (const ch of text) {
    if (/[\u200d\ufe0e\ufe0f]/u.test(ch)) continue;
    out += ch.length === 1 ? ch : displayWidth(ch) === 2 ? "〓" : "?";
  }
  return out;
}
