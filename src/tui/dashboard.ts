/**
 * `autorun dashboard [plan]`: the stages table, who waits on whom, a live event tail and the monitor
 * log, redrawn within a second of each new event (blessed renders only what changed, so no
 * flicker). Keys: a attach, n nudge, r review, s stop, q quit. The only module that loads blessed.
 */
import blessed from "blessed";
import { existsSync, openSync, readSync, closeSync, statSync } from "node:fs";
import { watch } from "chokidar";
import { applyEvent } from "../core/fold.js";
import { readEventsFrom } from "../state/events.js";
import { listReviewFiles, readReview } from "../state/review.js";
import type { AutorunEvent, Status } from "../types/schemas.js";
import { createTmux, onOurServer } from "../adapters/tmux.js";
import { runInteractive } from "../adapters/process.js";
import { isMonitorOf } from "../monitor/monitor-pid.js";
import { parseAgentCmd } from "../adapters/agent.js";
import { nudgeStage, stopRun } from "../monitor/person-actions.js";
import type { Clock } from "../core/clock.js";
import { resolveOrchestration, type Where } from "../state/orchestration.js";
import { dependencyLines, eventLine, headerLine, plainSummary, stageTable, tableCell } from "./views.js";

/** What the dashboard is given: where it runs, and where it prints when there is no terminal. */
export interface DashboardCtx extends Where {
  out: (line: string) => void;
  clock: Clock;
}

export async function runDashboard(ctx: DashboardCtx, plan: string | undefined): Promise<number> {
  const orch = resolveOrchestration(ctx, plan);
  const { paths, config } = orch;
  const chunk = readEventsFrom(paths.events, 0);
  let offset = chunk.offset;
  let status: Status = orch.status;
  const recent: AutorunEvent[] = chunk.events.slice(-200);
  const monitorAlive = () => status.monitor_pid !== null && isMonitorOf(paths, status.monitor_pid);

  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    ctx.out(plainSummary(status, recent, monitorAlive(), new Date()));
    return 0;
  }

  const tmux = createTmux(config.tmuxSocket);
  // In a UTF-8 locale draw lines and dots as Unicode rather than the VT100 alternate charset, so
  // the screen reads the same when copied or captured (ncurses' own switch, honoured by blessed).
  const locale = `${ctx.env.LC_ALL ?? ""}${ctx.env.LC_CTYPE ?? ""}${ctx.env.LANG ?? ""}`;
  if (/utf-?8/i.test(locale)) process.env.NCURSES_NO_UTF8_ACS ??= "1";
  const screen = blessed.screen({ smartCSR: true, title: `autorun ${status.plan_name}`, fullUnicode: true, dockBorders: true });
  const header = blessed.box({ parent: screen, top: 0, left: 0, width: "100%", height: 1, style: { fg: "black", bg: "cyan" } });
  // Narrow terminals (80 columns) give the stage table the whole width and drop the monitor log
  // (`autorun logs -f` has it); wide ones show all four panes.
  const narrow = (screen.width as number) < 100;
  const border = { fg: "gray" };
  const table = blessed.listtable({
    parent: screen, top: 1, left: 0, width: narrow ? "100%" : "62%", height: narrow ? "50%-1" : "55%-1", border: "line", label: " Stages ",
    keys: true, vi: true, mouse: true, noCellBorders: true, align: "left", tags: false, pad: 2,
    style: { header: { bold: true }, cell: { selected: { bg: "blue", fg: "white" } }, border },
  } as blessed.Widgets.ListTableOptions);
  const deps = narrow
    ? blessed.box({ parent: screen, top: "50%", left: "60%", width: "40%", height: "50%-1", border: "line", label: " Waits on ", scrollable: true, alwaysScroll: true, style: { border } })
    : blessed.box({ parent: screen, top: 1, left: "62%", width: "38%", height: "55%-1", border: "line", label: " Waits on ", scrollable: true, alwaysScroll: true, style: { border } });
  const events = narrow
    ? blessed.log({ parent: screen, top: "50%", left: 0, width: "60%", height: "50%-1", border: "line", label: " Events ", scrollback: 500, style: { border } })
    : blessed.log({ parent: screen, top: "55%", left: 0, width: "62%", height: "45%-1", border: "line", label: " Events ", scrollback: 500, style: { border } });
  const logBox = narrow ? undefined : blessed.log({ parent: screen, top: "55%", left: "62%", width: "38%", height: "45%-1", border: "line", label: " Monitor log ", scrollback: 500, style: { border } });
  const footer = blessed.box({ parent: screen, bottom: 0, left: 0, width: "100%", height: 1, content: " a attach  n nudge  r review  s stop  q quit", style: { fg: "black", bg: "white" } });

  let rowIds: string[] = [];
  const draw = () => {
    const now = new Date();
    header.setContent(` ${headerLine(status, monitorAlive(), now)}`);
    // The table's inner width (less its borders and a column to spare).
    const { header: head, rows } = stageTable(status, now, (table.width as number) - 3);
    const ids = rows.map((r) => r[0]!);
    const selected = rowIds[table.selected - 1];
    rowIds = ids;
    table.setData([head, ...rows].map((row) => row.map(tableCell)));
    const keep = selected !== undefined ? ids.indexOf(selected) : -1;
    table.select(keep >= 0 ? keep + 1 : Math.min(Math.max(table.selected, 1), ids.length));
    deps.setContent(dependencyLines(status).join("\n"));
    screen.render();
  };
  const say = (text: string) => {
    if (closed) return;
    footer.setContent(` ${text}`);
    screen.render();
    setTimeout(() => {
      if (closed) return;
      footer.setContent(" a attach  n nudge  r review  s stop  q quit");
      screen.render();
    }, 4000).unref();
  };

  // The monitor log: print its tail, then new bytes as they come.
  let logOffset = existsSync(paths.monitorLog) ? Math.max(0, statSync(paths.monitorLog).size - 4000) : 0;
  const readLog = () => {
    if (!logBox || !existsSync(paths.monitorLog)) return;
    const size = statSync(paths.monitorLog).size;
    if (size <= logOffset) return;
    const fd = openSync(paths.monitorLog, "r");
    const buf = Buffer.alloc(size - logOffset);
    readSync(fd, buf, 0, buf.length, logOffset);
    closeSync(fd);
    logOffset = size;
    for (const line of buf.toString("utf8").split("\n").filter(Boolean)) logBox.log(line.replace(/^\d{4}-\d{2}-\d{2} /, "").replace(/ \[[^\]]+\] /, " "));
  };
  const readEvents = () => {
    const next = readEventsFrom(paths.events, offset);
    offset = next.offset;
    for (const e of next.events) {
      status = applyEvent(status, e) ?? status;
      events.log(eventLine(e));
    }
  };
  for (const e of recent.slice(-40)) events.log(eventLine(e));
  readLog();
  draw();

  let pending: NodeJS.Timeout | undefined;
  let closed = false;
  const refresh = () => {
    if (pending || closed) return;
    pending = setTimeout(() => {
      pending = undefined;
      readEvents();
      readLog();
      draw();
    }, 100);
  };
  const watcher = watch([paths.events, paths.monitorLog], { ignoreInitial: true, persistent: true });
  watcher.on("change", refresh).on("add", refresh);
  const tick = setInterval(refresh, 1000);

  const current = () => rowIds[table.selected - 1];
  const program = screen.program;
  // blessed reads keys from process.stdin (the screen is made with its defaults).
  const input = process.stdin;
  /** Hands the terminal to another program (tmux attach, $EDITOR) and takes it back. */
  const suspend = async (run: () => Promise<unknown>) => {
    program.normalBuffer();
    program.showCursor();
    input.setRawMode?.(false);
    input.pause();
    try {
      await run();
    } finally {
      input.setRawMode?.(true);
      input.resume();
      program.alternateBuffer();
      program.hideCursor();
      screen.alloc();
      draw();
    }
  };

  return await new Promise<number>((resolveRun) => {
    const quit = () => {
      if (closed) return;
      closed = true;
      clearInterval(tick);
      if (pending) clearTimeout(pending);
      screen.destroy();
      input.pause();
      void watcher.close().then(() => resolveRun(0));
    };
    screen.key(["q", "C-c"], quit);
    screen.key(["a"], () => {
      const id = current();
      const s = id ? status.stages[id] : undefined;
      if (!id || !s || (s.status !== "in_progress" && s.status !== "merging")) return say(`stage ${id ?? "?"} has no running session`);
      void suspend(() => tmux.attach(s.session, onOurServer(config.tmuxSocket, ctx.env.TMUX)));
    });
    screen.key(["n"], () => {
      const id = current();
      const s = id ? status.stages[id] : undefined;
      if (!id || !s || s.status !== "in_progress") return say(`stage ${id ?? "?"} is not running; nothing to nudge`);
      say(`nudging stage ${id}…`);
      void nudgeStage({ ...orch, status }, id, config.nudgeMessage, ctx.clock).then((r) => say(r.sent ? `stage ${id}: ${r.verified ? "nudge verified" : "nudge not verified"} (${r.evidence})` : `stage ${id}: not nudged (${r.evidence})`));
    });
    screen.key(["r"], () => {
      const id = current();
      const file = listReviewFiles(ctx.home).find((f) => {
        const r = readReview(f);
        return !r.complete && r.meta?.stage === id && r.meta?.plan_name === status.plan_name;
      });
      const editor = ctx.env.VISUAL || ctx.env.EDITOR;
      if (!file) return say(`stage ${id ?? "?"} has no open review`);
      if (!editor) return say(`set $EDITOR to open ${file}`);
      void suspend(() => runInteractive([...parseAgentCmd(editor), file]));
    });
    screen.key(["s"], () => {
      say(`stop the monitor of ${status.plan_name}? y / n`);
      screen.onceKey(["y", "n", "escape"], (_ch, key) => {
        if (key.name !== "y") return say("not stopped");
        void stopRun({ ...orch, status }, {}, ctx.clock).then(() => say("monitor stopped; `autorun resume` continues"), (e: Error) => say(e.message));
      });
    });
    table.focus();
  });
}
