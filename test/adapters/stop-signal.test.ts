/**
 * `onStopSignal` in a process of its own (the built module): its handler runs to its end even when
 * a library that cleans up on exit (signal-exit, as write-file-atomic registers it for each write)
 * listens too. With `process.once`, signal-exit found itself alone once the handler had taken
 * itself off, raised the signal again, and the monitor died in the middle of stopping.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/env.js";

/** A process whose first SIGTERM starts a 300 ms clean-up, with a write-file-atomic-like listener added after it. */
function child() {
  const script = `const { onStopSignal } = await import(${JSON.stringify(join(ROOT, "dist", "src", "adapters", "process.js"))});
const { createRequire } = await import("node:module");
const { onExit } = createRequire(${JSON.stringify(join(ROOT, "node_modules", "write-file-atomic", "package.json"))})("signal-exit");
onStopSignal(["SIGTERM"], () => setTimeout(() => { process.stdout.write("cleaned up\\n"); process.exit(0); }, 300));
onExit(() => {});
setInterval(() => {}, 1000);
process.stdout.write("ready\\n");`;
  const p = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  p.stdout.on("data", (b: Buffer) => (out += b.toString()));
  const ready = new Promise<void>((resolve) => p.stdout.on("data", () => out.includes("ready") && resolve()));
  return { p, ready, out: () => out };
}

describe("onStopSignal", () => {
  it("the handler runs to its end though signal-exit listens too", async () => {
    const c = child();
    await c.ready;
    c.p.kill("SIGTERM");
    const [code, signal] = (await once(c.p, "exit")) as [number | null, NodeJS.Signals | null];
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(c.out()).toContain("cleaned up");
  });

  it("a second signal ends the process at once, with 128 + its number", async () => {
    const c = child();
    await c.ready;
    c.p.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 50));
    c.p.kill("SIGTERM");
    const [code] = (await once(c.p, "exit")) as [number | null];
    expect(code).toBe(143);
    expect(c.out()).not.toContain("cleaned up");
  });
});
