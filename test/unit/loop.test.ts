/** The monitor's process loop over a fake watcher, timer and monitor: passes, coalescing, every way out. */
import { describe, expect, it } from "vitest";
import { MonitorLoop, type LoopDeps } from "../../src/monitor/loop.js";

function harness(opts: { passes?: { done: boolean; code: number }[]; owned?: () => boolean } = {}) {
  const calls: string[] = [];
  let change: () => void = () => undefined;
  let tick: () => void = () => undefined;
  let release: () => void = () => undefined;
  const gate = () => new Promise<void>((r) => (release = r));
  let pending = gate();
  const results = [...(opts.passes ?? [])];
  const deps: LoopDeps = {
    monitor: {
      pass: async () => {
        calls.push("pass");
        await pending;
        pending = gate();
        return results.shift() ?? { done: false, code: 0 };
      },
      settle: async () => void calls.push("settle"),
    },
    watch: (onChange) => {
      change = onChange;
      return { close: async () => void calls.push("unwatch") };
    },
    every: (_ms, fn) => {
      tick = fn;
      return () => calls.push("untick");
    },
    pollMs: 1000,
    owned: opts.owned ?? (() => true),
    finished: async () => void calls.push("finished"),
    release: async (reason) => void calls.push(`release: ${reason}`),
    log: (m) => calls.push(`log: ${m}`),
  };
  const loop = new MonitorLoop(deps);
  const flush = () => new Promise((r) => setTimeout(r, 0));
  return { loop, calls, change: () => change(), tick: () => tick(), finishPass: async () => (release(), await flush()), flush };
}

describe("the monitor loop", () => {
  it("runs one pass at a time; changes during a pass make exactly one more", async () => {
    const h = harness();
    void h.loop.run();
    await h.flush();
    expect(h.calls).toEqual(["pass"]);
    h.change();
    h.tick();
    h.change();
    await h.finishPass();
    expect(h.calls).toEqual(["pass", "pass"]);
    await h.finishPass();
    expect(h.calls).toEqual(["pass", "pass"]);
  });

  it("ends when a pass says the run is over: the report, the merges in flight, then its last words", async () => {
    const h = harness({ passes: [{ done: true, code: 0 }] });
    const run = h.loop.run();
    await h.finishPass();
    expect(await run).toBe(0);
    expect(h.calls).toEqual(["pass", "finished", "untick", "unwatch", "settle", "release: orchestration complete"]);
    h.change();
    await h.flush();
    expect(h.calls.filter((c) => c === "pass")).toHaveLength(1);
  });

  it("stops touching a run it no longer owns, without last words, exit 1", async () => {
    const h = harness({ owned: () => false });
    expect(await h.loop.run()).toBe(1);
    expect(h.calls).toEqual(["log: this monitor no longer owns the orchestration (pid file or events.jsonl replaced); stopping", "untick", "unwatch"]);
  });

  it("stop (a signal) lets the pass under way finish, starts no other, waits for the merges in flight and releases once, with the code given", async () => {
    const h = harness();
    const run = h.loop.run();
    await h.flush();
    const stops = Promise.all([h.loop.stop(143, "received SIGTERM"), h.loop.stop(130, "received SIGINT")]);
    h.change();
    await h.flush();
    // The pass is still under way: nothing is released yet.
    expect(h.calls).toEqual(["pass"]);
    await h.finishPass();
    await stops;
    expect(await run).toBe(143);
    expect(h.calls).toEqual(["pass", "untick", "unwatch", "settle", "release: received SIGTERM"]);
    expect(h.calls.filter((c) => c.startsWith("release"))).toEqual(["release: received SIGTERM"]);
    expect(h.calls).toContain("settle");
  });
});
