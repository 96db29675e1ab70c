/**
 * `autorun host follow`'s side on a host, on this machine's files: the frames it sends for a file
 * that grows, is missing at first, is cut or replaced, and its end when stdin ends.
 */
import { appendFileSync, mkdtempSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { followFile } from "../../src/host/follow-side.js";
import { waitFor } from "../helpers/env.js";

type Frame = { kind: "I"; id: string } | { kind: "D"; at: number; bytes: string } | { kind: "H"; size: number } | { kind: "E"; why: string };

/** followFile on `file` from `from`, its frames parsed as they come. */
function follow(file: string, from: number) {
  const out = new PassThrough();
  const stdin = new PassThrough();
  const frames: Frame[] = [];
  let buf = Buffer.alloc(0);
  out.on("data", (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      const [kind, a, b] = buf.toString("latin1", 0, nl).split(" ");
      if (kind === "D") {
        if (buf.length < nl + 1 + Number(b)) return;
        frames.push({ kind, at: Number(a), bytes: buf.toString("utf8", nl + 1, nl + 1 + Number(b)) });
        buf = buf.subarray(nl + 1 + Number(b));
        continue;
      }
      const rest = buf.toString("utf8", 2, nl);
      buf = buf.subarray(nl + 1);
      if (kind === "I") frames.push({ kind, id: a! });
      else if (kind === "H") frames.push({ kind, size: Number(a) });
      else frames.push({ kind: "E", why: rest });
    }
  });
  const done = followFile(file, from, { out, stdin, heartbeatMs: 50 });
  const text = () =>
    frames
      .filter((f) => f.kind === "D")
      .map((f) => f.bytes)
      .join("");
  return { frames, done, stdin, text };
}

describe("autorun host follow (the host's side)", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempFile = (content?: string) => {
    const dir = mkdtempSync(join(tmpdir(), "autorun-follow-"));
    dirs.push(dir);
    const file = join(dir, "events.jsonl");
    if (content !== undefined) writeFileSync(file, content);
    return file;
  };

  it("sends the file from the offset, then what is appended, with heartbeats; ends when stdin ends", async () => {
    const file = tempFile("first\nsecond\n");
    const f = follow(file, 6);
    await waitFor("the file to its end", () => f.frames.some((x) => x.kind === "H" && x.size === 13), 5_000, 5);
    const st = statSync(file);
    expect(f.frames[0]).toEqual({ kind: "I", id: `${st.dev}-${st.ino}` });
    expect(f.frames[1]).toEqual({ kind: "D", at: 6, bytes: "second\n" });
    appendFileSync(file, "thi");
    appendFileSync(file, "rd\n");
    await waitFor("the appended bytes", () => f.text() === "second\nthird\n", 5_000, 5);
    const d = f.frames.filter((x) => x.kind === "D");
    expect(d.map((x) => x.at)).toEqual(d.map((_, i) => 6 + d.slice(0, i).reduce((n, y) => n + Buffer.byteLength(y.bytes), 0)));
    const beats = f.frames.filter((x) => x.kind === "H").length;
    await waitFor("heartbeats while nothing is written", () => f.frames.filter((x) => x.kind === "H").length >= beats + 3, 5_000, 5);
    f.stdin.end();
    expect(await f.done).toBe(0);
  });

  it("waits for a file not there yet", async () => {
    const file = tempFile();
    const f = follow(file, 0);
    await waitFor("heartbeats without a file", () => f.frames.filter((x) => x.kind === "H").length >= 2, 5_000, 5);
    expect(f.frames.every((x) => x.kind === "H" && x.size === 0)).toBe(true);
    writeFileSync(file, "hello\n");
    await waitFor("its bytes once it is there", () => f.text() === "hello\n", 5_000, 5);
    expect(f.frames.find((x) => x.kind === "I")).toBeDefined();
    f.stdin.end();
    expect(await f.done).toBe(0);
  });

  it("a file shorter than the offset, cut, or replaced: says why and exits 3", async () => {
    const short = follow(tempFile("abc\n"), 10);
    expect(await short.done).toBe(3);
    expect(short.frames.at(-1)).toMatchObject({ kind: "E", why: expect.stringMatching(/events\.jsonl is shorter \(4 bytes\) than what was already read \(10\)$/) });

    const cutFile = tempFile("abc\ndef\n");
    const cut = follow(cutFile, 0);
    await waitFor("read", () => cut.text() === "abc\ndef\n", 5_000, 5);
    truncateSync(cutFile, 4);
    expect(await cut.done).toBe(3);
    expect(cut.frames.at(-1)).toMatchObject({ kind: "E", why: expect.stringMatching(/is shorter \(4 bytes\) than what was already read \(8\)$/) });

    const file = tempFile("abc\n");
    const replaced = follow(file, 0);
    await waitFor("read", () => replaced.text() === "abc\n", 5_000, 5);
    writeFileSync(`${file}.new`, "abc\ndef\nghi\n");
    renameSync(`${file}.new`, file);
    expect(await replaced.done).toBe(3);
    expect(replaced.frames.at(-1)).toMatchObject({ kind: "E", why: expect.stringMatching(/events\.jsonl was replaced by another file$/) });
    expect(replaced.frames.filter((x) => x.kind === "D").map((x) => (x as { bytes: string }).bytes)).toEqual(["abc\n"]);
  });
});
