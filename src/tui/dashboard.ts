/**
 * `autorun dashboard [plan]`: the stages table, who waits on whom, a live event tail and the monitor
 * log, redrawn within a second of each new event (blessed renders only what changed, so no
 * flicker). Keys: a attach, n nudge, r review, s stop (while the run is not over), q quit. The only
 * module that loads blessed.
 */
import blessed from "blessed";
import { existsSync, openSync, readSync, closeSync, statSync } from "node:fs";
import { watch } from "chokidar";
import { applyEvent } from "../core/fold.js";
import { readEventsFrom } from "../state/events.js";
import { listReviewFiles, readReview } from "../state/review.js";
import type { AutorunEvent, Status } from "../types/schemas.js";
import { createTmux, onOurServer, type Tmux } from "../adapters/tmux.js";
import { runInteractive } from "../adapters/process.js";
import { isMonitorOf } from "../monitor/monitor-pid.js";
import { parseAgentCmd } from "../adapters/agent.js";
import { nudgeStage, stopRun } from "../monitor/person-actions.js";
import type { Clock } from "../core/clock.js";
import { resolveOrchestration, type LoadedOrchestration, type Where } from "../state/orchestration.js";
import { dependencyLines, eventLine, headerLine, keysLine, plainSummary, runOver, stageTable, tableCell } from "./views.js";

/** What the dashboard is given: where it runs, and where it prints when there is no terminal. */
export interface DashboardCtx extends Where {
  out: (line: string) => void;
  clock: Clock;
}


export async function runDashboard(ctx: DashboardCtx, plan: string | undefined): Promise<number> {
  const orch = resolveOrchestration(ctx, plan);
  const chunk = readEventsFrom(orch.paths.events, 0);
  const recent: AutorunEvent[] = chunk.events.slice(-200);
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    const alive = orch.status.monitor_pid !== null && isMonitorOf(orch.paths, orch.status.monitor_pid);
    ctx.out(plainSummary(orch.status, recent, alive, new Date()));
    return 0;
  }
  // In a UTF-8 locale draw lines and dots as Unicode rather than the VT100 alternate charset, so
  // the screen reads the same when copied or captured (ncurses' own switch, honoured by blessed).
  const locale = `${ctx.env.LC_ALL ?? ""}${ctx.env.LC_CTYPE ?? ""}${ctx.env.LANG ?? ""}`;
  if (/utf-?8/i.test(locale)) process.env.NCURSES_NO_UTF8_ACS ??= "1";
  const dashboard = new Dashboard(ctx, orch, chunk.offset);
  for (const e of recent.slice(-40)) dashboard.w.events.log(eventLine(e));
  return dashboard.run();
}

interface Widgets {
  screen: blessed.Widgets.Screen;
  header: blessed.Widgets.BoxElement;
  table: blessed.Widgets.ListTableElement;
  deps: blessed.Widgets.BoxElement;
  events: blessed.Widgets.Log;
  logBox: blessed.Widgets.Log | undefined;
  footer: blessed.Widgets.BoxElement;
}

/** The screen and its panes. Narrow terminals (80 columns) give the stage table the whole width and drop the monitor log (`autorun logs -f` has it); wide ones show all four panes. */
function layout(title: string): Widgets {
  const screen = blessed.screen({ smartCSR: true, title, fullUnicode: true, dockBorders: true });
  const header = blessed.box({ parent: screen, top: 0, left: 0, width: "100%", height: 1, style: { fg: "black", bg: "cyan" } });
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
  const footer = blessed.box({ parent: screen, bottom: 0, left: 0, width: "100%", height: 1, content: "", style: { fg: "black", bg: "white" } });
  return { screen, header, table, deps, events, logBox, footer };
}

/** One dashboard on a terminal: the run's status folded from its events as they come, and the keys. */
class Dashboard {
  readonly w: Widgets;
  private status: Status;
  private rowIds: string[] = [];
  private logOffset: number;
  private pending: NodeJS.Timeout | undefined;
  /** A line `say` put in the footer, until the keys come back. */
  private saying: NodeJS.Timeout | undefined;
  private closed = false;
  /** Another program (tmux attach, $EDITOR) has the terminal: nothing is drawn. */
  private away = false;
  private readonly tmux: Tmux;

  constructor(
    private readonly ctx: DashboardCtx,
    private readonly orch: LoadedOrchestration,
    private offset: number,
  ) {
    this.status = orch.status;
    this.tmux = createTmux(orch.config.tmuxSocket);
    this.w = layout(`autorun ${this.status.plan_name}`);
    // The monitor log: its tail first, then new bytes as they come.
    const log = orch.paths.monitorLog;
    this.logOffset = existsSync(log) ? Math.max(0, statSync(log).size - 4000) : 0;
  }

  private monitorAlive(): boolean {
    return this.status.monitor_pid !== null && isMonitorOf(this.orch.paths, this.status.monitor_pid);
  }

  private draw(): void {
    if (this.away) return;
    const { header, table, deps, screen } = this.w;
    const now = new Date();
    header.setContent(` ${headerLine(this.status, this.monitorAlive(), now)}`);
    // The table's inner width (less its borders and a column to spare).
    const { header: head, rows } = stageTable(this.status, now, (table.width as number) - 3);
    const ids = rows.map((r) => r[0]!);
    const selected = this.rowIds[table.selected - 1];
    this.rowIds = ids;
    table.setData([head, ...rows].map((row) => row.map(tableCell)));
    const keep = selected !== undefined ? ids.indexOf(selected) : -1;
    table.select(keep >= 0 ? keep + 1 : Math.min(Math.max(table.selected, 1), ids.length));
    deps.setContent(dependencyLines(this.status).join("\n"));
    if (!this.saying) this.w.footer.setContent(keysLine(this.status));
    screen.render();
  }

  /** A line in the footer for four seconds. */
  private say(text: string): void {
    if (this.closed || this.away) return;
    this.w.footer.setContent(` ${text}`);
    this.w.screen.render();
    if (this.saying) clearTimeout(this.saying);
    this.saying = setTimeout(() => {
      this.saying = undefined;
      if (this.closed) return;
      this.w.footer.setContent(keysLine(this.status));
      if (!this.away) this.w.screen.render();
    }, 4000).unref();
  }

  private readLog(): void {
    const file = this.orch.paths.monitorLog;
    if (!this.w.logBox || !existsSync(file)) return;
    const size = statSync(file).size;
    if (size <= this.logOffset) return;
    const fd = openSync(file, "r");
    const buf = Buffer.alloc(size - this.logOffset);
    readSync(fd, buf, 0, buf.length, this.logOffset);
    closeSync(fd);
    this.logOffset = size;
    for (const line of buf.toString("utf8").split("\n").filter(Boolean)) this.w.logBox.log(line.replace(/^\d{4}-\d{2}-\d{2} /, "").replace(/ \[[^\]]+\] /, " "));
  }

  private readEvents(): void {
    const next = readEventsFrom(this.orch.paths.events, this.offset);
    this.offset = next.offset;
    for (const e of next.events) {
      this.status = applyEvent(this.status, e) ?? this.status;
      this.w.events.log(eventLine(e));
    }
  }

  /** Reads and redraws at most every 100 ms, however many changes come. */
  private refresh(): void {
    if (this.pending || this.closed || this.away) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.readEvents();
      this.readLog();
      this.draw();
    }, 100);
  }

  /** Hands the terminal to another program (tmux attach, $EDITOR) and takes it back. */
  private async suspend(run: () => Promise<unknown>): Promise<void> {
    const program = this.w.screen.program;
    // blessed reads keys from process.stdin (the screen is made with its defaults).
    const input = process.stdin;
    program.normalBuffer();
    program.showCursor();
    input.setRawMode?.(false);
    input.pause();
    // Nothing is drawn over the other program meanwhile; what changed is read when it is back.
    this.away = true;
    try {
      await run();
    } finally {
      this.away = false;
      input.setRawMode?.(true);
      input.resume();
      program.alternateBuffer();
      program.hideCursor();
      this.w.screen.alloc();
      this.readEvents();
      this.readLog();
      this.draw();
    }
  }

  private current(): string | undefined {
    return this.rowIds[this.w.table.selected - 1];
  }

  async run(): Promise<number> {
    this.readLog();
    this.draw();
    const paths = this.orch.paths;
    const watcher = watch([paths.events, paths.monitorLog], { ignoreInitial: true, persistent: true });
    watcher.on("change", () => this.refresh()).on("add", () => this.refresh());
    const tick = setInterval(() => this.refresh(), 1000);
    return await new Promise<number>((resolveRun) => {
      this.w.screen.key(["q", "C-c"], () => {
        if (this.closed) return;
        this.closed = true;
        clearInterval(tick);
        if (this.pending) clearTimeout(this.pending);
        this.w.screen.destroy();
        process.stdin.pause();
        void watcher.close().then(() => resolveRun(0));
      });
      this.bindKeys();
      this.w.table.focus();
    });
  }

  private bindKeys(): void {
    const { screen } = this.w;
    const { ctx, orch } = this;
    const config = orch.config;
    screen.key(["a"], () => {
      const id = this.current();
      const s = id ? this.status.stages[id] : undefined;
      if (!id || !s || (s.status !== "in_progress" && s.status !== "merging")) return this.say(`stage ${id ?? "?"} has no running session`);
      void this.suspend(() => this.tmux.attach(s.session, onOurServer(config.tmuxSocket, ctx.env.TMUX)));
    });
    screen.key(["n"], () => {
      const id = this.current();
      const s = id ? this.status.stages[id] : undefined;
      if (!id || !s || s.status !== "in_progress") return this.say(`stage ${id ?? "?"} is not running; nothing to nudge`);
      this.say(`nudging stage ${id}…`);
      void nudgeStage({ ...orch, status: this.status }, id, config.nudgeMessage, ctx.clock).then((r) => this.say(r.sent ? `stage ${id}: ${r.verified ? "nudge verified" : "nudge not verified"} (${r.evidence})` : `stage ${id}: not nudged (${r.evidence})`));
    });
    screen.key(["r"], () => {
      const id = this.current();
      const file = listReviewFiles(ctx.home).find((f) => {
        const r = readReview(f);
        return !r.complete && r.meta?.stage === id && r.meta?.plan_name === this.status.plan_name;
      });
      const editor = ctx.env.VISUAL || ctx.env.EDITOR;
      if (!file) return this.say(`stage ${id ?? "?"} has no open review`);
      if (!editor) return this.say(`set $EDITOR to open ${file}`);
      void this.suspend(() => runInteractive([...parseAgentCmd(editor), file]));
    });
    screen.key(["s"], () => {
      if (runOver(this.status)) return this.say(`${this.status.plan_name} is over (${this.status.status}); nothing to stop`);
      this.say(`stop the monitor of ${this.status.plan_name}? y / n`);
      screen.onceKey(["y", "n", "escape"], (_ch, key) => {
        if (key.name !== "y") return this.say("not stopped");
        void stopRun({ ...orch, status: this.status }, {}, ctx.clock).then(() => this.say("monitor stopped; `autorun resume` continues"), (e: Error) => this.say(e.message));
      });
    });
  }
}
