/** The HOST column: in `status`, the dashboard and the report only for a run that uses other hosts. */
import { describe, expect, it } from "vitest";
import { foldEvents } from "../../src/core/fold.js";
import { buildReport, renderReportMarkdown } from "../../src/core/report.js";
import { renderStatusTable } from "../../src/commands/status.js";
import { dependencyLines, stageTable } from "../../src/tui/views.js";
import type { AutorunEvent } from "../../src/types/schemas.js";
import { startedEvent } from "../helpers/events.js";

const ident = { orch_dir: "/o", plan_name: "p", project_slug: "p" };
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

function run(pinned: boolean): { events: AutorunEvent[] } {
  const started = startedEvent([{ id: "1" }, { id: "2", ...(pinned ? { settings: { host: "box1" } } : {}) }, { id: "3", deps: ["1"], ...(pinned ? { settings: { host: "box1" } } : {}) }], { ident, ts: at(0) });
  const launched = (stage: string, s: number, host?: string) => ({ ...ident, ts: at(s), type: "stage_launched", stage, session: `s${stage}`, session_id: `u${stage}`, attempt: 1, ...(host ? { host, events_offset: 10 } : {}) });
  return { events: [started, launched("1", 1), launched("2", 2, pinned ? "box1" : undefined)] as AutorunEvent[] };
}

const header = (lines: string[]) => lines.find((l) => l.startsWith("STAGE"))!;
const row = (lines: string[], id: string) => lines.find((l) => l.startsWith(`${id} `))!;

describe("the HOST column", () => {
  it("a run with a stage on a host: where each runs, local for this machine, the pinned host before launch", () => {
    const { events } = run(true);
    const status = foldEvents(events)!;
    expect(status.stages["2"]!.host).toBe("box1");
    expect(status.stages["1"]!.host).toBeUndefined();
    const lines = renderStatusTable(status, new Date(at(5)), true);
    expect(header(lines)).toMatch(/^STAGE\s+NAME\s+STATUS\s+ATTENTION\s+HOST\s/);
    expect(row(lines, "1")).toMatch(/\slocal\s/);
    expect(row(lines, "2")).toMatch(/\sbox1\s/);
    expect(row(lines, "3")).toMatch(/\sbox1\s/);
    const dash = stageTable(status, new Date(at(5)), 120);
    expect(dash.header.slice(0, 5)).toEqual(["STAGE", "NAME", "STATUS", "ATTENTION", "HOST"]);
    expect(dash.rows.map((r) => r[4])).toEqual(["local", "box1", "box1"]);
    const md = renderReportMarkdown(buildReport(status, events));
    expect(md).toContain("| Stage | Name | Status | Host | Tries |");
    expect(md).toMatch(/\| 2 \| S2 \| [^|]+ \| box1 \|/);
  });

  it("a run on this machine alone has none (its layout is unchanged)", () => {
    const { events } = run(false);
    const status = foldEvents(events)!;
    expect(header(renderStatusTable(status, new Date(at(5)), true, { width: 80 }))).not.toContain("HOST");
    expect(stageTable(status, new Date(at(5)), 200).header).not.toContain("HOST");
    expect(renderReportMarkdown(buildReport(status, events))).toContain("| Stage | Name | Status | Tries |");
  });

  it("a relaunch here after a host was lost puts the stage back on this machine", () => {
    const { events } = run(true);
    const moved = [...events, { ...ident, ts: at(9), type: "stage_relaunched", stage: "2", session: "s2", session_id: "v2", attempt: 2 }] as AutorunEvent[];
    expect(foldEvents(moved)!.stages["2"]!.host).toBeUndefined();
    expect(row(renderStatusTable(foldEvents(moved)!, new Date(at(10)), true), "2")).toMatch(/\slocal\s/);
  });
});

describe("a host that could not launch", () => {
  const failed = (s: number, reason: string, stages: string[]) => ({ ...ident, ts: at(s), type: "host_launch_failed", host: "box1", reason, stages });
  const refusals = (lines: string[]) => lines.filter((l) => l.startsWith("host box1 "));

  it("is said in status, since when and why, with the stages pinned there that wait, until a launch there works", () => {
    const { events } = run(true);
    // Stage 2 ran there; stage 3, pinned there too, could not be launched.
    const held = [...events, failed(10, "autorun 0.0.9 there, 0.1.0 here; install autorun 0.1.0 on box1.", ["3"]), failed(30, "ssh: connect to host box1: Connection refused", ["3"])] as AutorunEvent[];
    const status = foldEvents(held)!;
    expect(status.host_refusals).toEqual({ box1: { since: at(10), reason: "ssh: connect to host box1: Connection refused" } });
    expect(refusals(renderStatusTable(status, new Date(at(40)), true))).toEqual([
      "host box1 could not launch stages for 30 seconds (ssh: connect to host box1: Connection refused): stage 3, pinned there, waits; autorun tries it again every minute. Check it: autorun doctor",
    ]);
    // The dashboard says it under the stage.
    const deps = dependencyLines(status);
    expect(deps[deps.findIndex((l) => l.includes("· 3 "))! + 1]).toBe("      waits for host box1 (it could not launch there: ssh: connect to host box1: Connection refused)");
    const launched = [...held, { ...ident, ts: at(130), type: "stage_launched", stage: "3", session: "s3", session_id: "u3", attempt: 1, host: "box1", events_offset: 0 }] as AutorunEvent[];
    expect(foldEvents(launched)!.host_refusals).toEqual({});
    expect(refusals(renderStatusTable(foldEvents(launched)!, new Date(at(131)), true))).toEqual([]);
    expect(dependencyLines(foldEvents(launched)!).join("\n")).not.toContain("waits for host");
  });

  it("is not said once the run is over", () => {
    const { events } = run(true);
    const over = [...events, failed(10, "ssh: connect to host box1: Connection refused", ["3"]), { ...ident, ts: at(20), type: "orchestration_complete", status: "failed" }] as AutorunEvent[];
    expect(refusals(renderStatusTable(foldEvents(over)!, new Date(at(30)), true))).toEqual([]);
  });
});

describe("a stage whose host stopped answering", () => {
  const lost = (stage: string, s: number) => ({ ...ident, ts: at(s), type: "session_dead", stage, session: `s${stage}`, reason: "host_lost" });
  const said = (lines: string[], id: string) => lines.filter((l) => l.startsWith(`stage ${id}'s host`));

  it("is not called crashed: status says the host went and what comes next, pinned or not", () => {
    const { events } = run(true);
    const started = startedEvent([{ id: "1" }, { id: "2", settings: { host: "box1" } }], { ident, ts: at(0) });
    const onHost = (stage: string, s: number) => ({ ...ident, ts: at(s), type: "stage_launched", stage, session: `s${stage}`, session_id: `u${stage}`, attempt: 1, host: "box1", events_offset: 0 });
    const status = foldEvents([started, onHost("1", 1), onHost("2", 2), lost("1", 9), lost("2", 9)] as AutorunEvent[])!;
    expect([status.stages["1"]!.attention, status.stages["2"]!.attention]).toEqual(["host_lost", "host_lost"]);
    const lines = renderStatusTable(status, new Date(at(10)), true);
    expect(row(lines, "1")).toMatch(/\shost lost\s/);
    expect(said(lines, "1")).toEqual(["stage 1's host box1 stopped answering: it is relaunched on another machine after the grace period (hostGraceSeconds), from its work last kept here"]);
    expect(said(lines, "2")).toEqual(["stage 2's host box1 stopped answering: pinned there, it waits for box1 to answer again (its session there may still be running)"]);
    // A report from it (the host back) clears it; a relaunch elsewhere does too.
    expect(foldEvents([...events, lost("2", 9), { ...ident, ts: at(12), type: "phase_status", stage: "2", phase: "implement", status: "start" }] as AutorunEvent[])!.stages["2"]!.attention).toBeNull();
    expect(foldEvents([started, onHost("1", 1), lost("1", 9), { ...ident, ts: at(12), type: "stage_relaunched", stage: "1", session: "s1", session_id: "u1", attempt: 2 }] as AutorunEvent[])!.stages["1"]!.attention).toBeNull();
  });
});

describe("the report's tries", () => {
  it("counts the sessions since the last retry, and says how often a person retried it", () => {
    const ident = { orch_dir: "/o", plan_name: "p", project_slug: "p" };
    const at = (n: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();
    const events = [
      startedEvent([{ id: "1" }], { ident, ts: at(0) }),
      ...[
        { type: "stage_launched", stage: "1", session: "s1", session_id: "u1", attempt: 1 },
        { type: "stage_relaunched", stage: "1", session: "s1", session_id: "u1", attempt: 2 },
        { type: "stage_failed", stage: "1", reason: "its session ended 2 times" },
        { type: "stage_retried", stage: "1", fresh_worktree: false },
        { type: "stage_launched", stage: "1", session: "s1", session_id: "u2", attempt: 1 },
        { type: "merge_complete", stage: "1", branch: "b1", commit: "abcdef1234567" },
      ].map((e, i) => ({ ...ident, ts: at(i + 1), ...e })),
    ] as AutorunEvent[];
    const md = renderReportMarkdown(buildReport(foldEvents(events)!, events));
    expect(md).toMatch(/\| 1 \| S1 \| merged \| 1, retried 1× \|/);
  });
});
