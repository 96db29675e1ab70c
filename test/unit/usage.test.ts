import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { formatCost, messageUsage, priceFor, ZERO } from "../../src/core/usage.js";
import { readTranscript as readAny, recordUsage, resumeFrom, type StageUsage, type TranscriptState } from "../../src/monitor/usage.js";
import { Transcripts } from "../../src/monitor/transcripts.js";
import { keptTranscriptPath } from "../../src/monitor/host-keep.js";
import type { AutorunEvent } from "../../src/types/schemas.js";

/** A read that must be a read (not refused). */
function readTranscript(state: TranscriptState): TranscriptState | undefined {
  const r = readAny(state);
  if (r && "refused" in r) throw new Error(r.refused);
  return r;
}

const line = (id: string, model: string, input: number, output: number, cacheRead = 0) =>
  JSON.stringify({ type: "assistant", message: { id, model, role: "assistant", usage: { input_tokens: input, output_tokens: output, cache_read_input_tokens: cacheRead, cache_creation_input_tokens: 0 } } }) + "\n";

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("usage and cost", () => {
  it("prices a model by the longest matching name, with a project's own prices over the built-in ones", () => {
    expect(priceFor("claude-opus-4-1-20250805")).toEqual({ input: 15, output: 75 });
    expect(priceFor("claude-opus-4-5")).toEqual({ input: 5, output: 25 });
    expect(priceFor("claude-sonnet-4-5")).toEqual({ input: 3, output: 15 });
    expect(priceFor("my-local-model")).toBeUndefined();
    expect(priceFor("claude-sonnet-4-5", { "sonnet-4-5": { input: 2, output: 10 } })).toEqual({ input: 2, output: 10 });
  });

  it("reads an assistant message's usage; other lines and Claude Code's synthetic messages cost nothing", () => {
    expect(messageUsage(line("m1", "claude-sonnet-4-5", 1_000_000, 0))!.usage.usd).toBeCloseTo(3, 6);
    expect(messageUsage(JSON.stringify({ type: "user", message: { content: "hi" } }))).toBeUndefined();
    expect(messageUsage("not json {\"usage\"")).toBeUndefined();
    expect(messageUsage(line("m2", "<synthetic>", 0, 0))!.usage.usd).toBe(0);
    expect(messageUsage(line("m3", "my-local-model", 10, 10))!.usage.usd).toBeNull();
    expect(formatCost(null)).toBe("—");
    expect(formatCost({ ...ZERO, usd: 0.4449 })).toBe("$0.44");
    expect(formatCost({ ...ZERO, usd: 12.3 })).toBe("$12.30");
    expect(formatCost({ ...ZERO, input_tokens: 1_500_000, usd: null })).toBe("1.5M tok");
  });

  it("reads a transcript incrementally: only new complete lines, each message once at its latest usage", () => {
    dir = mkdtempSync(join(tmpdir(), "autorun-usage-"));
    const file = join(dir, "t.jsonl");
    // A message written as two lines (two content blocks) with the same id, then a half-written line.
    writeFileSync(file, line("a", "claude-sonnet-4-5", 1000, 10) + line("a", "claude-sonnet-4-5", 1000, 50) + line("b", "claude-sonnet-4-5", 2000, 5).slice(0, 30));
    const first = readTranscript({ transcript: file, offset: 0, total: ZERO })!;
    expect(first.total).toMatchObject({ input_tokens: 1000, output_tokens: 50 });
    expect(first.last?.id).toBe("a");
    // Nothing new: nothing read.
    expect(readTranscript(first)).toBeUndefined();
    // The half line completes, and message a grows once more after the offset.
    appendFileSync(file, line("b", "claude-sonnet-4-5", 2000, 5).slice(30));
    const second = readTranscript(first)!;
    expect(second.total).toMatchObject({ input_tokens: 3000, output_tokens: 55 });
    appendFileSync(file, line("b", "claude-sonnet-4-5", 2000, 80));
    const third = readTranscript(second)!;
    expect(third.total).toMatchObject({ input_tokens: 3000, output_tokens: 130 });
    expect(third.total.usd).toBeCloseTo((3000 * 3 + 130 * 15) / 1e6, 9);
    expect(third.offset).toBe(Buffer.byteLength(line("a", "claude-sonnet-4-5", 1000, 10) + line("a", "claude-sonnet-4-5", 1000, 50) + line("b", "claude-sonnet-4-5", 2000, 5) + line("b", "claude-sonnet-4-5", 2000, 80)));
  });

  it("counts each transcript once when hooks name two in turn, in any order (per path, from where it was left)", () => {
    dir = mkdtempSync(join(tmpdir(), "autorun-usage-"));
    const a = join(dir, "a.jsonl");
    const b = join(dir, "b.jsonl");
    // $3 in each: a million input tokens of sonnet.
    writeFileSync(a, line("ma", "claude-sonnet-4-5", 1_000_000, 0));
    writeFileSync(b, line("mb", "claude-sonnet-4-5", 1_000_000, 0));
    let usage: StageUsage | undefined;
    const hook = (path: string) => {
      const next = readTranscript(resumeFrom(usage, path)!);
      if (next) usage = recordUsage(usage, { transcript: next.transcript, offset: next.offset, usage: next.total, ...(next.last ? { last_message: next.last } : {}) });
    };
    for (const path of [a, b, a, b, b, a]) hook(path);
    expect(usage!.total.usd).toBeCloseTo(6, 6);
    // One of them grows: only the new line counts, whichever was named last.
    appendFileSync(a, line("ma2", "claude-sonnet-4-5", 1_000_000, 0));
    for (const path of [b, a, b, a]) hook(path);
    expect(usage!.total.usd).toBeCloseTo(9, 6);
  });

  it("never blocks on a path that is not a regular file: a FIFO, a directory, a device are refused at once", () => {
    dir = mkdtempSync(join(tmpdir(), "autorun-usage-"));
    const fifo = join(dir, "fifo.jsonl");
    execFileSync("mkfifo", [fifo]);
    const sub = join(dir, "dir.jsonl");
    mkdirSync(sub);
    const started = Date.now();
    for (const path of [fifo, sub, "/dev/zero", "/dev/tty"]) {
      const r = readAny({ transcript: path, offset: 0, total: ZERO });
      if (path === "/dev/tty" && r === undefined) continue; // no terminal here: open fails, nothing read
      expect(r).toEqual({ refused: `${path} is not a regular file` });
    }
    expect(Date.now() - started).toBeLessThan(1000);
    expect(readAny({ transcript: join(dir, "missing.jsonl"), offset: 0, total: ZERO })).toBeUndefined();
  });

  it("stops remembering new transcripts after 64 for one stage (an agent can name any number)", () => {
    let usage: StageUsage | undefined;
    for (let i = 0; i < 64; i++) usage = recordUsage(usage, { transcript: `/t/${i}.jsonl`, offset: 1, usage: ZERO });
    expect(resumeFrom(usage, "/t/3.jsonl")).toMatchObject({ offset: 1 });
    expect(resumeFrom(usage, "/t/new.jsonl")).toBeUndefined();
  });

  it("a stage on a host is counted from the copy kept here; moved here and resumed, its host turns are not counted again", () => {
    dir = mkdtempSync(join(tmpdir(), "autorun-usage-"));
    const paths = { stagesDir: join(dir, "stages") };
    const recorded: AutorunEvent[] = [];
    const view = {
      deps: { paths, config: { prices: {} }, log: () => undefined, claudeDir: dir },
      status: { stages: { "1": {} } },
      emit: (e: object) => {
        const event = { ts: new Date().toISOString(), ...e } as AutorunEvent;
        recorded.push(event);
        transcripts.observe(event);
      },
    };
    const transcripts = new Transcripts(view as unknown as ConstructorParameters<typeof Transcripts>[0]);
    const sid = "0b7c8a52-3c1d-4c7e-9a57-2f1e0c7d9a11";
    const turn = (n: number) => line(`m${n}`, "claude-sonnet-4-5", 1_000_000, 0);
    const total = () => (recorded.filter((e) => e.type === "usage_recorded").at(-1) as { usage: { input_tokens: number } } | undefined)?.usage.input_tokens;
    transcripts.observe({ ts: "", type: "stage_launched", stage: "1", host: "box1", session: "s", session_id: sid, attempt: 1 } as AutorunEvent);
    // The hook on the host names its own path; its bytes arrive here later, in the kept copy.
    transcripts.observe({ ts: "", type: "session_started", stage: "1", host: "box1", transcript: `/home/agent/.claude/projects/-w/${sid}.jsonl` } as AutorunEvent);
    transcripts.collect();
    expect(total()).toBeUndefined();
    const copy = keptTranscriptPath(paths, "1", sid);
    mkdirSync(join(copy, ".."), { recursive: true });
    writeFileSync(copy, turn(1) + turn(2));
    transcripts.collect();
    expect(total()).toBe(2_000_000);
    // More bytes fetched, with no hook event between: looked at on the next pass all the same.
    appendFileSync(copy, turn(3));
    transcripts.collect();
    expect(total()).toBe(3_000_000);
    // The host is lost: the copy is placed where claude looks, resumed here and one more turn taken.
    const placed = join(dir, "projects", "-w", `${sid}.jsonl`);
    mkdirSync(join(placed, ".."), { recursive: true });
    writeFileSync(placed, turn(1) + turn(2) + turn(3) + turn(4));
    transcripts.observe({ ts: "", type: "session_started", stage: "1", transcript: placed } as AutorunEvent);
    transcripts.collect();
    expect(total()).toBe(4_000_000);
    // A path a hook names that is not the stage's own session's transcript is not read: on a host
    // (any other name), or here (another session, or a file outside Claude Code's projects).
    for (const [host, transcript] of [
      ["box1", "/etc/passwd"],
      ["box1", "/x/not a session.jsonl"],
      [undefined, join(dir, "projects", "-w", "0b7c8a52-3c1d-4c7e-9a57-2f1e0c7d9a12.jsonl")],
      [undefined, join(dir, "worktree", `${sid}.jsonl`)],
      [undefined, join(dir, "projects", "-w", "..", "..", "projects", "-w", `${sid}.jsonl`)],
    ] as const) {
      transcripts.observe({ ts: "", type: "agent_stopped", stage: "1", ...(host ? { host } : {}), transcript } as AutorunEvent);
      expect(transcripts.pathOf("1"), transcript).toBe(placed);
    }
  });
});
