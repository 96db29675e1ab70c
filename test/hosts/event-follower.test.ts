/**
 * Following a host's events file over the shared connection into the controller's events.jsonl:
 * what a host may report, complete lines only, and exactly once across a follower killed at the
 * worst moment, one SIGKILLed again and again while the host writes, and a stream whose ssh
 * client or host side is killed under it; a file replaced, cut or holding a line too long stops
 * the stream; the host's side ends with the stream.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/env.js";
import { closeMaster, runScript, type SshSettings, type SshTarget } from "../../src/adapters/ssh.js";
import { appendLine } from "../../src/state/append.js";
import { orchPaths, type OrchPaths } from "../../src/state/paths.js";
import { HostEventFollower, type FollowerOptions } from "../../src/host/event-follower.js";
import { HostEventStream, type StreamOptions } from "../../src/host/event-stream.js";
import { execa } from "execa";
import { CLI, waitFor } from "../helpers/env.js";
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
      const r = await runScript(s, target, 'mkdir -p -- "$(dirname -- "$1")" && printf "%s" "$2" >> "$1"', { args: [hostEvents, text] });
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
    const attemptStart = Number((await runScript(s, target, 'wc -c < "$1"', { args: [options(new Map()).hostEvents] })).stdout.trim());
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

  /** The host's `autorun host follow` processes. */
  async function hostFollowers(): Promise<number[]> {
    const out: number[] = [];
    for (const pid of await host.pids()) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").includes(" host follow ")) out.push(pid);
      } catch {
        // gone
      }
    }
    return out;
  }

  /** A stream over `o` that records what it reports; stopped at the end of the test. */
  const streams: HostEventStream[] = [];
  afterEach(async () => {
    for (const st of streams.splice(0)) await st.stop();
  });
  function stream(o: FollowerOptions, extra: Partial<StreamOptions> = {}) {
    const follower = new HostEventFollower(o);
    const seen = { answers: 0, caughtUp: 0, errors: [] as string[] };
    const st = new HostEventStream({
      s,
      target,
      autorun: CLI,
      hostEvents: o.hostEvents,
      follower,
      backoffMs: { min: 50, max: 200 },
      brokenRetryMs: 200,
      onAnswer: () => seen.answers++,
      onCaughtUp: () => seen.caughtUp++,
      onError: (e) => seen.errors.push(e.message),
      ...extra,
    });
    streams.push(st);
    return { st, follower, seen };
  }

  it("a stream: lines as they are written, what the host may not say skipped, a heartbeat while idle, nothing left on the host", async () => {
    const { line, write, options, forwarded } = await setup();
    const rejected: string[] = [];
    const { st, seen } = stream(options(new Map([["1", 0]]), { onRejected: (_at, why) => rejected.push(why) }));
    st.start();
    await waitFor("the stream read the host's file to its end", () => seen.caughtUp > 0);
    expect(await hostFollowers()).toHaveLength(1);
    const phase = (stage: string, n: number) => line({ stage, type: "phase_status", phase: "implement", status: "start", current_phase: n });
    await write(phase("1", 1));
    await waitFor("the line forwarded", () => forwarded().length === 1);
    expect(forwarded()[0]).toMatchObject({ host: "box1", stage: "1", current_phase: 1 });
    const torn = phase("1", 3);
    await write(phase("2", 2) + torn.slice(0, 30));
    await waitFor("the line of another host's stage refused", () => rejected.length === 1);
    expect(rejected).toEqual(["stage 2 is not placed on host box1"]);
    await write(torn.slice(30));
    await waitFor("the torn line forwarded whole", () => forwarded().length === 2);
    expect(forwarded().map((e) => e.current_phase)).toEqual([1, 3]);
    // Nothing written: the host says it is there every second.
    const before = seen.answers;
    await waitFor("two heartbeats", () => seen.answers >= before + 2, 10_000);
    expect(seen.errors).toEqual([]);
    await st.stop();
    await waitFor("the host's side ended with the stream", async () => (await hostFollowers()).length === 0);
  });

  it("a stream whose ssh client, then whose host side, is killed under it starts again: every line once, in order", async () => {
    const { line, hostEvents, options, forwarded } = await setup();
    const total = 150;
    const { st, seen } = stream(options(new Map([["1", 0]])));
    st.start();
    await waitFor("the stream up", () => seen.caughtUp > 0);
    const lines = Array.from({ length: total }, (_, i) => line({ stage: "1", type: "phase_status", phase: "implement", status: "start", current_phase: i }));
    const writer = runScript(s, target, 'f=$1; shift; for l in "$@"; do printf "%s" "$l" >> "$f"; sleep 0.01; done', { args: [hostEvents, ...lines], deadlineMs: 60_000 });
    await waitFor("some lines forwarded", () => forwarded().length >= 10);
    process.kill(st.pid!, "SIGKILL");
    await waitFor("the stream started again", () => st.starts >= 2);
    await waitFor("more lines forwarded", () => forwarded().length >= 50 || forwarded().length === total);
    const [there] = await hostFollowers();
    process.kill(there!, "SIGKILL");
    await waitFor("the stream started again", () => st.starts >= 3);
    expect((await writer).ok).toBe(true);
    await waitFor("every line forwarded", () => forwarded().length >= total, 30_000);
    expect(forwarded().map((e) => e.current_phase)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(seen.errors.length).toBeGreaterThanOrEqual(2);
  });

  it("a follower process SIGKILLed again and again while the host writes: every line once, in order", async () => {
    const { line, hostEvents, options, forwarded } = await setup();
    const total = 150;
    const o = options(new Map([["1", 0]]));
    const spec = JSON.stringify({ ...o, placements: undefined, onRejected: undefined });
    // The follower and its stream in a process of their own, as the monitor runs them.
    const dist = (p: string) => JSON.stringify(join(ROOT, "dist", "src", "host", p));
    const child = `const { HostEventFollower } = await import(${dist("event-follower.js")});
const { HostEventStream } = await import(${dist("event-stream.js")});
const o = JSON.parse(process.argv[1]);
const follower = new HostEventFollower({ ...o, placements: () => new Map([["1", 0]]) });
new HostEventStream({ s: o.s, target: o.target, autorun: ${JSON.stringify(CLI)}, hostEvents: o.hostEvents, follower, onAccepted: () => process.stdout.write("+") }).start();`;
    const start = () => spawn(process.execPath, ["--input-type=module", "-e", child, spec], { stdio: ["ignore", "pipe", "pipe"] });
    // The host appends `total` lines, 50 ms apart, as hooks would: long enough for the kills to
    // land while lines come (a follower takes seconds to start on a loaded machine).
    const lines = Array.from({ length: total }, (_, i) => line({ stage: "1", type: "phase_status", phase: "implement", status: "start", current_phase: i }));
    const writer = runScript(s, target, 'f=$1; shift; for l in "$@"; do printf "%s" "$l" >> "$f"; sleep 0.05; done', { args: [hostEvents, ...lines], deadlineMs: 120_000 });
    let kills = 0;
    let whileWriting = 0;
    let done = false;
    void writer.then(() => (done = true));
    while (!done || kills < 3) {
      const p = start();
      // Killed once it has forwarded lines (however long a loaded machine takes to start it), a
      // random moment later: mid-frame, mid-append or between the append and the state write.
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
      if (!done) whileWriting++;
    }
    expect((await writer).ok).toBe(true);
    // The killed followers forwarded lines themselves; one last follower catches up.
    const byKilled = forwarded().length;
    const last = new HostEventFollower(o);
    for (let i = 0; i < 50 && (await last.poll()).more; i++);
    await last.poll();
    const phases = forwarded().map((e) => e.current_phase);
    console.log(`${kills} followers SIGKILLed (${whileWriting} while the host was still writing); they forwarded ${byKilled} of ${total} lines`);
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(byKilled).toBeGreaterThan(0);
    expect(phases).toEqual(Array.from({ length: total }, (_, i) => i));
    // Their host sides ended with them (their stdin ended).
    await waitFor("no host side left", async () => (await hostFollowers()).length === 0);
  });

  it("a host file cut, replaced, or holding a line too long stops the stream, which says why", async () => {
    const check = async (name: string, breakIt: (hostEvents: string) => Promise<void>, expected: RegExp, extra: Partial<FollowerOptions> = {}) => {
      const { line, write, hostEvents, options, forwarded } = await setup();
      const { st, seen } = stream(options(new Map([["1", 0]]), extra));
      st.start();
      await write(line({ stage: "1", type: "prompt_submitted" }));
      await waitFor(`${name}: the first line forwarded`, () => forwarded().length === 1);
      await breakIt(hostEvents);
      await waitFor(`${name}: the stream says why`, () => seen.errors.some((e) => expected.test(e)));
      // Tried again, it says so again, and forwards nothing.
      await write(line({ stage: "1", type: "agent_stopped" }));
      await waitFor(`${name}: said again`, () => seen.errors.filter((e) => expected.test(e)).length >= 2);
      expect(forwarded()).toHaveLength(1);
      await st.stop();
    };
    await check("cut", (f) => runScript(s, target, ': > "$1"', { args: [f] }).then(() => undefined), /is shorter \(\d+ bytes\) than what was already read/);
    // Another file in its place, longer than what was read: only its identity tells.
    await check("replaced", (f) => runScript(s, target, 'cp -- "$1" "$1.new" && cat -- "$1" >> "$1.new" && mv -- "$1.new" "$1"', { args: [f] }).then(() => undefined), /was replaced by another file/);
    await check("long line", (f) => runScript(s, target, 'head -c 600 /dev/zero | tr "\\0" x >> "$1"', { args: [f] }).then(() => undefined), /is longer than 512 bytes/, { maxBytes: 512 });
  });

  it("autorun host follow refuses bad arguments in one line, exit 2", async () => {
    for (const [args, message] of [
      [["relative/events.jsonl", "0"], /^autorun: autorun host follow: "relative\/events.jsonl" is not an absolute path; nothing was read\.$/],
      [["/x/events.jsonl", "1.5"], /^autorun: autorun host follow: offset "1.5" is not a byte offset \(a whole number\); nothing was read\.$/],
    ] as const) {
      const r = await execa(process.execPath, [CLI, "host", "follow", ...args], { reject: false, input: "" });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});
