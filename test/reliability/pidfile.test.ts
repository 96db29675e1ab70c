/**
 * monitor.pid changes hands while commands read it: `resume` and `orchestrate` wait for the monitor
 * they started to hold it, `status` and the dashboard ask whether one runs, the monitor checks it
 * still owns the run. A reader must find the old holder or the new one, never no file (which once
 * made `resume` fail with an internal error) or an empty one.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/env.js";
import { readPidFile } from "../../src/state/pidfile.js";

describe("monitor.pid taken in turn by another process", () => {
  it("is always there and whole for a reader", async () => {
    const dir = mkdtempSync(join(tmpdir(), "autorun-pidfile-"));
    try {
      const file = join(dir, "monitor.pid");
      writeFileSync(file, "1\n");
      // Two monitors taking it in turn, as fast as the lock lets them, for 1.5 s.
      const taker = execa(process.execPath, [
        "--input-type=module",
        "-e",
        `const { acquirePid } = await import(${JSON.stringify(join(ROOT, "dist", "src", "state", "pidfile.js"))});
         const until = Date.now() + 1500;
         let n = 0;
         while (Date.now() < until) await acquirePid(process.argv[1], 100 + (n++ % 2), () => false);
         console.log(n);`,
        file,
      ]);
      await new Promise((r) => setTimeout(r, 200));
      let reads = 0;
      const seen: string[] = [];
      for (const until = Date.now() + 1_000; Date.now() < until; reads++) {
        let pid: number | undefined;
        try {
          pid = readPidFile(file)?.pid;
        } catch (error) {
          seen.push((error as Error).message);
          continue;
        }
        if (pid !== 1 && pid !== 100 && pid !== 101) seen.push(`read ${pid}`);
      }
      const taken = Number((await taker).stdout);
      expect(taken).toBeGreaterThan(50);
      expect(reads).toBeGreaterThan(1_000);
      expect(seen.slice(0, 3)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
