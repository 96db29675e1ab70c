/**
 * Following a host's events file over the shared connection into the controller's events.jsonl:
 * what a host may report, complete lines only, and exactly once across a follower killed at the
 * worst moment and one SIGKILLed again and again while the host writes.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/env.js";
import { closeMaster, runScript, type SshSettings, type SshTarget } from "../../src/adapters/ssh.js";
import { appendLine } from "../../src/state/append.js";
import { orchPaths, type OrchPaths } from "../../src/state/paths.js";
import { HostEventFollower, type FollowerOptions } from "../../src/host/event-follower.js";
import { hostLaneSkip, makeTestHost, type TestHost } from "./fixture.js";

const skip = hostLaneSkip();
if (skip) console.log(`host lane skipped: ${skip}`);

const STARTED_TS = "2026-01-01T00:00:00.000Z";

describe.skipIf(skip)("following a host's events", () => {
  let host: TestHost;
  let dir: string;
  let s: SshSettings;
  let target: SshTarget;
  let run = 0;

  beforeAll(async () => {
    host = await makeTestHost({ name: "box1" });
    dir = mkdtempSync(join(tmpdir(), "autorun-ef-"));
    s = { home: join(dir, "h"), connectTimeoutS: 5 };
    target = { name: "box1", destination: "box1", options: host.sshOptions };
  });
  afterAll(async () => {
    if (target) await closeMaster(s, target).catch(() => undefined);
    await host?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A controller orchestration and a host events file started with its first event. */
  async function setup(): Promise<{ paths: OrchPaths; hostOrchDir: string; hostEvents: string; line: (o: Record<string, unknown>) => string; write: (text: string) => Promise<void>; options: (placements: Map<string, number>, extra?: Partial<FollowerOptions>) => FollowerOptions; forwarded: () => Record<string, unknown>[] }> {
    const name = `plan${++run}`;
    const paths = orchPaths(join(dir, "ctl"), name, "proj");
    mkdirSync(paths.dir, { recursive: true });
    const identity = { plan_name: name, project_slug: "proj" };
    appendLine(paths.events, { ts: STARTED_TS, orch_dir: paths.dir, ...identity, type: "orchestration_started" });
    const hostOrchDir = join(host.home, ".autorun", "orchestration", name);
    const hostEvents = join(hostOrchDir, "events.jsonl");
    const line = (o: Record<string, unknown>) => JSON.stringify({ ts: "2026-01-01T00:00:01.000Z", orch_dir: hostOrchDir, ...identity, ...o }) + "\n";
    const write = async (text: string) => {
      const r = await runScript(s, target, 'mkdir -p -- "$(dirname -- "$1")" && printf "%s" "$2" >> "$1"', [hostEvents, text]);
      expect(r.stderr).toBe("");
    };
    await write(line({ ts: STARTED_TS, type: "orchestration_started" }));
    const options = (placements: Map<string, number>, extra: Partial<FollowerOptions> = {}): FollowerOptions => ({ s, target, hostEvents, hostOrchDir, paths, identity: { ...identity, started_ts: STARTED_TS }, placements: () => placements, stateFile: join(paths.dir, "host-box1.offset"), ...extra });
    const forwarded = () =>
      readFileSync(paths.events, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((e) => e.host !== undefined);
    return { paths, hostOrchDir, hostEvents, line, write, options, forwarded };
  }

  it("appends only what the host may report, tagged with the host, complete lines only", async () => {
    const { paths, line, write, options, forwarded } = await setup();
    const phase = (stage: string, extra: Record<string, unknown> = {}) => line({ stage, type: "phase_status", phase: "implement", status: "start", ...extra });
    await write(phase("1", { current_phase: 0 }));
    const attemptStart = Number((await runScript(s, target, 'wc -c < "$1"', [options(new Map()).hostEvents])).stdout.trim());
    const placements = new Map([["1", attemptStart]]);
    const rejected: string[] = [];
    const follower = new HostEventFollower(options(placements, { onRejected: (_at, why) => rejected.push(why) }));
    await write(
      [
        phase("1", { current_phase: 1 }),
        phase("2"),
        line({ stage: "1", type: "merge_complete", branch: "b", commit: "abcdef1" }),
        phase("1", { orch_dir: "/elsewhere" }),
        "not json at all\n",
        phase("1", { host: "other" }),
        phase("1", { phase: "bogus" }),
        line({ stage: "1", type: "stage_idle", source: "hook", reason: "waiting" }),
      ].join(""),
    );
    const torn = phase("1", { current_phase: 2 });
    await write(torn.slice(0, 40));
    const first = await follower.poll();
    expect(first.accepted.map((e) => e.type)).toEqual(["phase_status", "stage_idle"]);
    expect(rejected).toEqual([
      "stage 1: written before its current attempt started on this host",
      "stage 2 is not placed on host box1",
      "merge_complete events are not written on a host",
      "another orchestration's event",
      "not JSON",
      "a host may not set host or host_offset",
      "invalid phase_status: phase Invalid option: expected one of \"triage\"|\"research\"|\"create_plan\"|\"implement\"|\"merge\"",
    ]);
    const got = forwarded();
    expect(got).toHaveLength(2);
    expect(got[0]).toMatchObject({ orch_dir: paths.dir, host: "box1", stage: "1", current_phase: 1 });
    // The rest of the torn line arrives: it is read whole, once.
    await write(torn.slice(40));
    expect((await follower.poll()).accepted.map((e) => (e as { current_phase?: number }).current_phase)).toEqual([2]);
    expect((await follower.poll()).accepted).toEqual([]);
    expect(forwarded().map((e) => e.host_offset)).toEqual([...forwarded().map((e) => e.host_offset)].sort((a, b) => Number(a) - Number(b)));
    // The stage moved elsewhere: nothing more from it here.
    placements.delete("1");
    await write(phase("1", { current_phase: 3 }));
    expect((await follower.poll()).accepted).toEqual([]);
    expect(rejected.at(-1)).toBe("stage 1 is not placed on host box1");
  });

  it("a follower that dies between its append and its state write repeats nothing", async () => {
    const { line, write, options, forwarded } = await setup();
    const placements = new Map([["1", 0]]);
    await write(line({ stage: "1", type: "prompt_submitted" }) + line({ stage: "1", type: "agent_stopped" }));
    const dying = new HostEventFollower(
      options(placements, {
        afterAppend: () => {
          throw new Error("killed");
        },
      }),
    );
    await expect(dying.poll()).rejects.toThrow("killed");
    expect(forwarded()).toHaveLength(2);
    const next = new HostEventFollower(options(placements));
    expect(next.resume()).toBe(forwarded().at(-1)!.host_offset);
    await write(line({ stage: "1", type: "session_ended" }));
    expect((await next.poll()).accepted.map((e) => e.type)).toEqual(["session_ended"]);
    expect(forwarded().map((e) => e.type)).toEqual(["prompt_submitted", "agent_stopped", "session_ended"]);
  });

  it("SIGKILLed again and again while the host writes: every line once, in order", async () => {
    const { line, hostEvents, options, forwarded } = await setup();
    const total = 150;
    const o = options(new Map([["1", 0]]));
    const spec = JSON.stringify({ ...o, placements: undefined, onRejected: undefined });
    // The follower in a process of its own, polling as fast as it can.
    const child = `const { HostEventFollower } = await import(${JSON.stringify(join(ROOT, "dist", "src", "host", "event-follower.js"))});
const o = JSON.parse(process.argv[1]);
const f = new HostEventFollower({ ...o, maxBytes: 2048, placements: () => new Map([["1", 0]]) });
for (;;) { if ((await f.poll()).accepted.length > 0) process.stdout.write("+"); await new Promise((r) => setTimeout(r, 5)); }`;
    // A few lines per poll (2 KiB), so a kill lands in the middle of the stream.
    const start = () => spawn(process.execPath, ["--input-type=module", "-e", child, spec], { stdio: ["ignore", "pipe", "pipe"] });
    // The host appends `total` lines, a few milliseconds apart, as hooks would.
    const lines = Array.from({ length: total }, (_, i) => line({ stage: "1", type: "phase_status", phase: "implement", status: "start", current_phase: i }));
    const writer = runScript(s, target, 'f=$1; shift; for l in "$@"; do printf "%s" "$l" >> "$f"; sleep 0.01; done', [hostEvents, ...lines], { deadlineMs: 60_000 });
    let kills = 0;
    let done = false;
    void writer.then(() => (done = true));
    while (!done || kills < 3) {
      const p = start();
      // Killed once it has forwarded lines (however long a loaded machine takes to start it), a
      // random moment later: mid-poll, mid-append or between the append and the state write.
      await new Promise((r) => {
        const timer = setTimeout(r, 30_000);
        p.stdout!.once("data", () => {
          clearTimeout(timer);
          setTimeout(r, Math.random() * 60);
        });
      });
      p.kill("SIGKILL");
      await new Promise((r) => p.once("exit", r));
      kills++;
    }
    expect((await writer).ok).toBe(true);
    // The killed followers forwarded lines themselves; one last follower catches up.
    const byKilled = forwarded().length;
    const last = new HostEventFollower(o);
    for (let i = 0; i < 50 && (await last.poll()).more; i++);
    await last.poll();
    const phases = forwarded().map((e) => e.current_phase);
    console.log(`${kills} followers SIGKILLed while ${total} lines were written; they forwarded ${byKilled}`);
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(byKilled).toBeGreaterThan(0);
    expect(phases).toEqual(Array.from({ length: total }, (_, i) => i));
  });
});
