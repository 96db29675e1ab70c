/** `autorun status [plan]`: what runs, what waits, what needs a person — attention first. */
import { basename, join } from "node:path";
import { formatDistanceStrict } from "date-fns/formatDistanceStrict";
import { STAGE_CELLS, sortStages, usesHosts, type StageColumn } from "../core/stage-cells.js";
import type { StageStatus, Status, Usage } from "../types/schemas.js";
import { printable, stagesList } from "../core/printable.js";
import { clipDisplay, displayWidth, padDisplay } from "../core/text-width.js";
import { addUsage, dollars, formatCost } from "../core/usage.js";
import { waitingForHosts, waitingForResources } from "../core/scheduler.js";
import { lastWords, liftHoldCommand, needAttention, phaseOf } from "../core/words.js";
import { reviewEntries } from "../state/review.js";
import { eventsUnwritable } from "../state/writable.js";
import { isMonitorOf } from "../monitor/monitor-pid.js";
import type { Ctx } from "./ctx.js";
import { loadOrchestrations, resolveOrchestration } from "../state/orchestration.js";
import { UserError } from "../errors.js";

const WORD: Record<string, string> = { in_progress: "running" };

const COLOURS: Record<string, number> = { completed: 32, failed: 31, blocked: 31, in_progress: 36, merging: 36, pending: 2 };

function paint(text: string, code: number | undefined, on: boolean): string {
  return on && code !== undefined && text.trim() !== "" ? `\x1b[${code}m${text}\x1b[0m` : text;
}

export interface StatusView {
  /** ANSI colour (a terminal, and NO_COLOR not set). */
  color?: boolean;
  /** Open review files, to show with the command that answers them. */
  reviews?: { file: string; title: string; stage: string | null; plan_name: string | null; state: string }[];
  /** The name the orchestration is opened by (a run kept by --fresh: `<plan>.<time>`). */
  name?: string;
  /** Terminal columns the stage table must fit in (columns dropped by priority); none: every column. */
  width?: number;
}

/** Every column, in the order shown; and the order they are given room in (the rest are dropped). */
const SHOWN: StageColumn[] = ["STAGE", "NAME", "STATUS", "ATTENTION", "HOST", "WAVE", "DEPS", "ELAPSED", "NUDGES", "TRIES", "COST", "BRANCH/MERGE", "SESSION"];
const PRIORITY: StageColumn[] = ["STAGE", "NAME", "STATUS", "ATTENTION", "HOST", "ELAPSED", "COST", "TRIES", "DEPS", "NUDGES", "WAVE", "SESSION", "BRANCH/MERGE"];
const MIN_NAME = 10;
/** A name of up to 20 columns is worth more than the columns after ATTENTION. */
const NAME_FIRST = 20;
const MAX_NAME = 28;

/**
 * The stage table in `width` columns: STAGE, NAME, STATUS and ATTENTION always, the others by
 * priority while they fit (each as wide as its widest cell, measured in terminal columns), and
 * the name cut to what is left (at most 28; whole when the width is unbounded).
 */
export function fitStageTable(sorted: [string, StageStatus][], now: Date, width: number): { header: StageColumn[]; rows: string[][]; hidden: StageColumn[] } {
  // HOST only for a run that uses other hosts: a run on this machine keeps its 80-column layout.
  const hosts = usesHosts(Object.fromEntries(sorted));
  const shown = SHOWN.filter((c) => c !== "HOST" || hosts);
  const priority = PRIORITY.filter((c) => c !== "HOST" || hosts);
  const cells = new Map(shown.map((c) => [c, sorted.map(([id, s]) => (c === "NAME" ? printable(s.name) : STAGE_CELLS[c](id, s, now)))]));
  const wide = new Map(shown.map((c) => [c, Math.max(c.length, ...cells.get(c)!.map(displayWidth))]));
  const nameWidth = (c: StageColumn): number => (c === "NAME" ? Math.min(wide.get(c)!, NAME_FIRST) : wide.get(c)!);
  const chosen = new Set<StageColumn>(priority.slice(0, 4));
  const used = (): number => [...chosen].reduce((sum, c) => sum + nameWidth(c) + 2, -2);
  for (const c of priority.slice(4)) if (used() + 2 + wide.get(c)! <= width) chosen.add(c);
  // Without a width (--wide) every name is whole.
  const room = Math.max(MIN_NAME, Math.min(Number.isFinite(width) ? MAX_NAME : Infinity, wide.get("NAME")!, width - used() + nameWidth("NAME")));
  const header = shown.filter((c) => chosen.has(c));
  return {
    header,
    rows: sorted.map((_, r) => header.map((c) => (c === "NAME" ? clipDisplay(cells.get(c)![r]!, room) : cells.get(c)![r]!))),
    hidden: shown.filter((c) => !chosen.has(c)),
  };
}

export function renderStatusTable(status: Status, now: Date, monitorAlive: boolean, view: StatusView = {}): string[] {
  const lines: string[] = [];
  // Counted in the table's words (merged, skipped, done by hand, running, stopped), not status.json's (completed, in_progress).
  const counts = Object.values(status.stages).reduce<Record<string, number>>((acc, s) => {
    const phase = phaseOf(s);
    const word = s.status === "completed" || phase === "stopped" ? phase : (WORD[s.status] ?? s.status);
    acc[word] = (acc[word] ?? 0) + 1;
    return acc;
  }, {});
  const name = view.name ?? status.plan_name;
  lines.push(`${name}: ${status.status}  (${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ")})  wave ${status.current_wave}/${status.waves.length}  monitor ${monitorAlive ? `running (pid ${status.monitor_pid})` : "not running"}`);
  // The next step where one is needed: a run nobody is driving, stages that failed.
  if (!monitorAlive && (status.status === "running" || status.status === "stopped")) lines.push(`nothing moves this run while no monitor runs; to go on: autorun resume ${name}`);
  if (status.paused_until) lines.push(`paused for a usage limit until ${status.paused_until}`);
  if (status.hold) {
    const name = view.name ?? status.plan_name;
    const command = liftHoldCommand(status.hold, name);
    const lift = status.hold.kind === "budget" ? `to go on: ${command}` : `once you have looked: ${command} (or answer its review)`;
    lines.push(`on hold: ${status.hold.reason}; nothing new is launched. ${lift}`);
  }
  const used = Object.values(status.stages).map((s) => s.usage).filter((u): u is Usage => u !== null);
  if (used.length > 0) lines.push(`${status.status === "running" || status.status === "stopped" ? "cost so far" : "cost"}: ${formatCost(used.reduce((a, b) => addUsage(a, b)))} (${used.length} of ${Object.keys(status.stages).length} stages report usage)`);
  const sorted = sortStages(status);
  const { header, rows, hidden } = fitStageTable(sorted, now, view.width ?? Infinity);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => displayWidth(r[i]!))));
  const on = view.color === true;
  // Padded first, then coloured, so the escape codes never break the columns.
  const fmt = (r: string[], row?: number) =>
    r
      .map((c, i) => {
        const cell = padDisplay(c, widths[i]!);
        if (row === undefined) return cell;
        if (header[i] === "STATUS") return paint(cell, COLOURS[sorted[row]![1].status], on);
        if (header[i] === "ATTENTION") return paint(cell, c === "crashed" || c === "host lost" || c === "login" ? 31 : 33, on);
        return cell;
      })
      .join("  ")
      .trimEnd();
  lines.push(fmt(header), ...rows.map((r, i) => fmt(r, i)));
  if (hidden.length > 0) lines.push(`(${hidden.join(", ").toLowerCase()} not shown at this width: autorun status ${name} --wide)`);
  // Why a stage failed, or what a crashed agent said last, in its own words.
  for (const [id, s] of sorted) {
    if (s.status === "failed" && s.failure_reason) lines.push(`stage ${id} failed: ${s.failure_reason}`);
    else if (s.status === "blocked" && s.failure_reason) lines.push(`stage ${id} is blocked: ${s.failure_reason}`);
    else if (s.attention === "host_lost") lines.push(hostLostLine(id, s));
    else if (s.attention === "crashed" && s.last_exit) {
      const code = s.last_exit.exit_status !== null ? ` ${s.last_exit.exit_status}` : s.last_exit.signal !== null ? ` on signal ${s.last_exit.signal}` : "";
      const said = lastWords(s.last_exit.last_lines, 3);
      lines.push(`stage ${id}'s agent exited${code}${said ? `: ${said}` : ""}`);
    }
  }
  // Over its budget, said whether or not it is still running (a fast stage may finish first).
  for (const [id, s] of sorted) {
    if (!s.over_budget || s.usage?.usd == null) continue;
    const limit = status.stage_budget_usd ?? s.settings.budget_usd;
    const active = s.status === "in_progress" || s.status === "merging";
    lines.push(`stage ${id} is over budget: spent ${dollars(s.usage.usd)}${limit !== undefined ? ` of its ${dollars(limit)}` : ""}${active ? `; not nudged. To let it go on: autorun resume ${name} --stage-budget <dollars>` : ""}`);
  }
  const failed = sorted.filter(([, s]) => s.status === "failed").map(([id]) => id);
  if (failed.length > 0) lines.push(`to run ${failed.length === 1 ? "it" : "them"} again: autorun retry ${view.name ?? status.plan_name} ${failed.join(" ")} (or let what waits go on without: autorun skip ${view.name ?? status.plan_name} ${failed.length === 1 ? failed[0] : "<stage>"})`);
  for (const [id, w] of waitingForResources(status)) lines.push(`stage ${id} waits for ${w.resource} (held by stage ${w.holder})`);
  lines.push(...hostRefusalLines(status, now));
  // What waits on a person, with the command that answers it.
  for (const r of view.reviews ?? []) {
    if (r.state !== "open" || r.plan_name !== status.plan_name) continue;
    lines.push(`${r.stage ? `stage ${r.stage} asks` : "asks"}: ${r.title}`, `  answer it: autorun review open ${r.file}`);
  }
  return lines;
}

/** A stage whose host stopped answering: what autorun does about it. */
function hostLostLine(id: string, s: StageStatus): string {
  const host = printable(s.host ?? "its host");
  const next = s.settings.host !== undefined ? `pinned there, it waits for ${host} to answer again (its session there may still be running)` : "it is relaunched on another machine after the grace period (hostGraceSeconds), from its work last kept here";
  return `stage ${id}'s host ${host} stopped answering: ${next}`;
}

/** While the run goes on: each host whose last launch failed, why, and the stages pinned there that wait for it. */
function hostRefusalLines(status: Status, now: Date): string[] {
  if (status.status !== "running" && status.status !== "stopped") return [];
  const pinned = [...waitingForHosts(status)];
  return Object.entries(status.host_refusals).map(([host, r]) => {
    const waiting = pinned.filter(([, w]) => w.host === host).map(([id]) => id);
    const held = waiting.length > 0 ? `${stagesList(waiting)}, pinned there, ${waiting.length === 1 ? "waits" : "wait"}` : "no stage pinned there waits, and others go elsewhere";
    return `host ${printable(host)} could not launch stages for ${formatDistanceStrict(new Date(r.since), now)} (${printable(r.reason)}): ${held}; autorun tries it again every minute. Check it: autorun doctor`;
  });
}

export async function runStatus(ctx: Ctx, plan: string | undefined, opts: { json?: boolean; watch?: boolean; wide?: boolean }): Promise<number> {
  // The terminal's width; 80 when not a terminal (a pipe, a log), so what is pasted fits too.
  const width = opts.wide ? undefined : ctx.isTTY ? (ctx.columns?.() ?? 80) : 80;
  // A redrawn screen is for eyes; JSON is read once by a program (which would get it over and over).
  if (opts.watch && opts.json) throw new UserError("--watch redraws the table for a person and --json prints status.json once for a program; use one of them.");
  if (plan === undefined && !opts.watch) {
    const all = loadOrchestrations(ctx.home);
    if (opts.json) {
      ctx.out(JSON.stringify(all.map((o) => o.status), null, 2));
      return 0;
    }
    if (all.length === 0) {
      ctx.out(`No orchestrations under ${ctx.home}. Start one with: autorun orchestrate <plan>`);
      return 0;
    }
    // By directory name: a run kept aside by --fresh is listed (and reachable) as `<plan>.<time>`.
    for (const { name, paths, status: s } of all) {
      const st = Object.values(s.stages);
      const done = st.filter((x) => x.status === "completed").length;
      const attention = st.filter((x) => x.attention).length;
      // Running with nothing moving it (its monitor killed, or the machine restarted): said on its line.
      const unmoved = s.status === "running" && !(s.monitor_pid !== null && isMonitorOf(paths, s.monitor_pid)) ? `, no monitor (to go on: autorun resume ${name})` : "";
      const unwritable = eventsUnwritable(join(ctx.home, "orchestration", name, "events.jsonl")) ? ", its events.jsonl cannot be written" : "";
      ctx.out(`${name.padEnd(32)} ${s.status.padEnd(10)} ${basename(s.project_root).padEnd(20)} ${done}/${st.length} stages finished${attention ? `, ${needAttention(attention)}` : ""}${unmoved}${unwritable}  started ${formatDistanceStrict(new Date(s.created_at), new Date(ctx.clock.now()), { addSuffix: true })}`);
    }
    return 0;
  }
  const show = () => {
    const orch = resolveOrchestration(ctx, plan);
    const alive = orch.status.monitor_pid !== null && isMonitorOf(orch.paths, orch.status.monitor_pid);
    if (opts.json) ctx.out(JSON.stringify(orch.status, null, 2));
    else {
      const view = { color: ctx.isTTY && !ctx.env.NO_COLOR, reviews: reviewEntries(ctx.home), name: basename(orch.paths.dir), ...(width ? { width } : {}) };
      for (const line of renderStatusTable(orch.status, new Date(ctx.clock.now()), alive, view)) ctx.out(line);
      const unwritable = eventsUnwritable(orch.paths.events);
      if (unwritable) ctx.out(`${orch.paths.events} cannot be written: ${unwritable}; nothing the monitor or the agents do is recorded until it can be.`);
    }
    return orch.status;
  };
  if (!opts.watch) {
    show();
    return 0;
  }
  for (;;) {
    ctx.clearScreen?.();
    const s = show();
    if (s.status !== "running" && s.status !== "stopped") return 0;
    await ctx.clock.sleep(2000);
  }
}
