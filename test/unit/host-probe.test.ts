/**
 * The probe doctor and `autorun hosts` run on a host (here through `sh -s` on this machine, as for
 * `hosts.local`): what Claude Code's Bash sandbox needs that the host lacks, read from its PATH.
 */
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { probeHost } from "../../src/commands/host-check.js";
import { findExecutable } from "../../src/adapters/process.js";

describe("a host's probe", () => {
  const saved = process.env.PATH;
  let bin: string | undefined;
  afterEach(() => {
    process.env.PATH = saved;
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  it.skipIf(process.platform === "darwin")("names bwrap and socat when the host's PATH lacks them, and only those it lacks", async () => {
    bin = mkdtempSync(join(tmpdir(), "autorun-probe-"));
    // A PATH with a shell and uname, and nothing else.
    for (const program of ["sh", "uname"]) symlinkSync(findExecutable(program)!, join(bin, program));
    process.env.PATH = bin;
    const local = { name: "local", local: true, slots: 1, labels: [], sshOptions: [], env: [], autorun: "autorun" };
    const none = await probeHost({ home: bin }, local, ["claude"]);
    expect(none.reachable).toBe(true);
    expect(none.sandboxLacks).toEqual(["bwrap", "socat"]);
    writeFileSync(join(bin, "bwrap"), "#!/bin/sh\n");
    chmodSync(join(bin, "bwrap"), 0o755);
    expect((await probeHost({ home: bin }, local, ["claude"])).sandboxLacks).toEqual(["socat"]);
  });
});
