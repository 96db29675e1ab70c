/**
 * The passes a run with hosts asks the monitor for: one pending at a time (each pass asking anew
 * used to start a chain of passes per pass), soon when a host's stream must be started or a host
 * is lost, else when a host would count as lost.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { foldEvents } from "../../src/core/fold.js";
import { DEFAULT_CONFIG } from "../../src/state/config.js";
import { LOST_MS, RunHosts } from "../../src/monitor/run-hosts.js";
import type { OrchPaths } from "../../src/state/paths.js";
import type { AutorunEvent } from "../../src/types/schemas.js";
import type { Tmux } from "../../src/adapters/tmux.js";
import { startedEvent } from "../helpers/events.js";

const dir = mkdtempSync(join(tmpdir(), "autorun-wake-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ident = { orch_dir: join(dir, "o"), plan_name: "p", project_slug: "p" };

function hosts() {
  const started = startedEvent([{ id: "1", settings: { host: "box1" } }], { ident, ts: "2026-01-01T00:00:00.000Z" });
  const launched = { ...ident, ts: "2026-01-01T00:00:01.000Z", type: "stage_launched", stage: "1", session: "p_stage-1", session_id: "u1", attempt: 1, host: "box1", events_offset: 10 } as AutorunEvent;
  const status = foldEvents([started as AutorunEvent, launched])!;
  let now = 1_000_000;
  const wakes: number[] = [];
  // Nothing listens on port 1: the host's polls fail at once (no answer is no news).
  const config = { ...DEFAULT_CONFIG, hosts: { box1: { ssh: "box1", slots: 1, sshOptions: ["-F", "/dev/null", "-o", "HostName=127.0.0.1", "-o", "Port=1"] } } };
  const run = new RunHosts({ paths: { home: join(dir, "home"), dir: ident.orch_dir } as OrchPaths, config, clock: { now: () => now, sleep: async () => undefined }, log: () => undefined, tmux: {} as Tmux, wake: (ms) => wakes.push(ms ?? 0) }, () => status);
  run.observe(launched);
  return { run, wakes, tick: (ms: number) => (now += ms) };
}

describe("the passes a run with hosts asks for", () => {
  it("one at a time: passes asking again before it is due ask for nothing more", () => {
    const { run, wakes, tick } = hosts();
    run.check();
    expect(wakes).toHaveLength(1);
    // A stream starting: the pass is due when the host would count as lost.
    expect(wakes[0]).toBe(LOST_MS + 10);
    for (let i = 0; i < 5; i++) {
      tick(500);
      run.check();
    }
    expect(wakes).toHaveLength(1);
  });

  it("once it is due, the next pass asks again; a lost host: every second", () => {
    const { run, wakes, tick } = hosts();
    run.check();
    tick(LOST_MS + 10);
    expect(run.check()).toEqual(["box1"]);
    expect(wakes).toHaveLength(2);
    expect(wakes[1]).toBe(1_000);
    tick(300);
    run.check();
    expect(wakes).toHaveLength(2);
    tick(800);
    run.check();
    expect(wakes).toHaveLength(3);
  });
});
