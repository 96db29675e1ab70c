/**
 * The monitor's one Tmux over every machine (`routedTmux`), on real tmux servers: a session goes to
 * its host's server, and a host whose ssh fails is "running / unknown / not typed", never gone.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTmux, type Tmux } from "../../src/adapters/tmux.js";
import { tmuxAtPath } from "../../src/adapters/remote-tmux.js";
import { routedTmux } from "../../src/monitor/host-tmux.js";
import { ToolError } from "../../src/errors.js";

describe("routedTmux", () => {
  let dir: string;
  let local: Tmux;
  let box1: Tmux;
  let box2: Tmux;
  const unanswered: string[] = [];
  let routed: Tmux;
  const placed = new Map([["on-box1", "box1"], ["on-box2", "box2"]]);
  let box2Known = true;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "autorun-routed-"));
    local = createTmux(`autorun-routed-${process.pid}`);
    box1 = tmuxAtPath(join(dir, "box1.sock"));
    // A host whose ssh fails: every call is ssh's exit 255.
    box2 = tmuxAtPath(join(dir, "box2.sock"), () => Promise.reject(new ToolError("ssh to host box2 (box2) failed: Connection timed out", { argv: ["ssh"], code: 255, stderr: "" })));
    routed = routedTmux(local, {
      hostOfSession: (s) => placed.get(s),
      sessionsByHost: () => {
        const out = new Map<string, string[]>();
        for (const [s, h] of placed) out.set(h, [...(out.get(h) ?? []), s]);
        return out;
      },
      remoteTmux: (h) => (h === "box1" ? box1 : box2Known ? box2 : undefined),
      unanswered: (h, e) => unanswered.push(`${h}: ${(e as Error).message}`),
    });
    const sh = ["sh", "-c", "echo ready; exec sleep 60"];
    await local.newSession({ name: "here", cwd: dir, argv: sh, env: {}, envDir: join(dir, "env"), remainOnExit: true });
    await routed.newSession({ name: "on-box1", cwd: dir, argv: sh, env: {}, envDir: join(dir, "env"), remainOnExit: true });
  });
  afterAll(async () => {
    await local.killServer().catch(() => undefined);
    await box1.killServer().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends each session's calls to its host's server", async () => {
    expect(await box1.hasSession("on-box1")).toBe(true);
    expect(await local.hasSession("on-box1")).toBe(false);
    const panes = await routed.paneStatuses();
    expect(panes.get("here")).toEqual({ state: "running" });
    expect(panes.get("on-box1")).toEqual({ state: "running" });
    // Asked only about sessions on hosts, this machine's server is left out.
    const remoteOnly = await routed.paneStatuses(["on-box1"]);
    expect(remoteOnly.get("on-box1")).toEqual({ state: "running" });
    expect(remoteOnly.has("here")).toBe(false);
    expect((await routed.paneStatuses(["here", "on-box1"])).get("here")).toEqual({ state: "running" });
    await expect.poll(async () => (await routed.capturePanes(["here", "on-box1"])).get("on-box1") ?? "", { timeout: 10_000 }).toContain("ready");
    expect(await routed.killSession("on-box1")).toBe(true);
    // Gone from its host: now it reads as gone, as a local one would.
    expect((await routed.paneStatuses()).get("on-box1")).toEqual({ state: "gone" });
  });

  it("a host whose ssh fails: its panes running, screens unknown, keys not typed; never gone", async () => {
    box2Known = true;
    expect((await routed.paneStatuses()).get("on-box2")).toEqual({ state: "running" });
    expect(await routed.paneStatus("on-box2")).toEqual({ state: "running" });
    expect(await routed.capturePane("on-box2")).toBeUndefined();
    expect((await routed.capturePanes(["on-box2", "here"])).get("on-box2")).toBeUndefined();
    expect(await routed.sendLiteral("on-box2", "continue")).toBe(false);
    expect(await routed.killSession("on-box2")).toBe(false);
    await expect(routed.hasSession("on-box2")).rejects.toThrow(/failed/);
    expect(unanswered.length).toBeGreaterThan(0);
    expect(unanswered[0]).toMatch(/^box2: ssh to host box2 \(box2\) failed/);
    // A lost host (no Tmux at all) reads the same, and a call that would start a session refuses.
    box2Known = false;
    expect((await routed.paneStatuses()).get("on-box2")).toEqual({ state: "running" });
    await expect(routed.hasSession("on-box2")).rejects.toThrow(/not answering/);
  });
});
