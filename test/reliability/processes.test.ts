// The store's promises across processes: appends from many processes stay whole, and a lock held
// by another process is waited for. These start node processes that load the built store
// (dist/), so they live here, beside the other tests that need a build, not in test/unit.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execa } from "execa";
import { appendEvent } from "../../src/state/events.js";
import { withLock } from "../../src/state/lock.js";
import { orchPaths } from "../../src/state/paths.js";
import { CLI, waitFor } from "../helpers/env.js";
import { startedEvent } from "../helpers/events.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "autorun-procs-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("events appended by many processes", () => {
  it("stay whole with 16 processes appending 150 events each at once", async () => {
    const paths = orchPaths(dir, "p", "p");
    mkdirSync(paths.dir, { recursive: true });
    const ident = { orch_dir: paths.dir, plan_name: "p", project_slug: "p" };
    const { ts: _ts, ...body } = startedEvent([{ id: "1", name: "A" }], { ident });
    appendEvent(paths.events, body);
    const script = `
      import { appendEvent } from ${JSON.stringify(join(CLI, "..", "state", "events.js"))};
      const [file, dir, n, w] = process.argv.slice(1);
      for (let i = 0; i < Number(n); i++) appendEvent(file, { orch_dir: dir, plan_name: "p", project_slug: "p", type: "stage_attention", stage: "1", attention: null, reason: "w" + w + "-" + i + "-" + "x".repeat(300) });
    `;
    await Promise.all(Array.from({ length: 16 }, (_, w) => execa(process.execPath, ["--input-type=module", "-e", script, paths.events, paths.dir, "150", String(w)])));
    const lines = readFileSync(paths.events, "utf8").split("\n").filter(Boolean);
    expect(lines).toHaveLength(1 + 16 * 150);
    const reasons = new Set(lines.slice(1).map((l) => (JSON.parse(l) as { reason: string }).reason));
    expect(reasons.size).toBe(16 * 150);
  });
});

describe("a lock shared with another process", () => {
  it("is waited for while the other process holds it, and taken when its holder died long ago", async () => {
    const target = join(dir, "locks", "shared");
    const held = join(dir, "held");
    const lockModule = join(CLI, "..", "state", "lock.js");
    // Another process takes the lock, says so, and keeps it 400 ms.
    const other = execa(process.execPath, ["--input-type=module", "-e", `
      const { withLock } = await import(${JSON.stringify(lockModule)});
      const { writeFileSync } = await import("node:fs");
      await withLock(${JSON.stringify(target)}, async () => { writeFileSync(${JSON.stringify(held)}, "in"); await new Promise((r) => setTimeout(r, 400)); writeFileSync(${JSON.stringify(held)}, "out"); });
    `]);
    await waitFor("the other process to hold the lock", () => existsSync(held));
    expect(await withLock(target, () => readFileSync(held, "utf8"))).toBe("out");
    await other;
    // A lock left by a holder killed long ago (its lock directory not refreshed for a minute).
    mkdirSync(`${target}.lock`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${target}.lock`, old, old);
    expect(await withLock(target, () => "taken")).toBe("taken");
  });
});
