import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTmux, tmuxArg, type Tmux } from "../../src/adapters/tmux.js";
import { makeSandbox, waitFor, type Sandbox } from "../helpers/env.js";
import { UserError } from "../../src/errors.js";

let sb: Sandbox;
let tmux: Tmux;
beforeEach(async () => {
  sb = await makeSandbox({ repo: false });
  tmux = createTmux(sb.socket);
});
afterEach(async () => sb.cleanup());

describe("tmuxArg", () => {
  it.each([
    ["plain", "plain"],
    ["a;b", "a;b"],
    ["ends;", "ends\\;"],
    [";", "\\;"],
  ])("%s → %s", (arg, want) => expect(tmuxArg(arg)).toBe(want));
  it("refuses what tmux cannot pass", () => expect(() => tmuxArg("x\\;")).toThrow(UserError));
});

describe("tmux adapter on a private server", () => {
  it("runs argv directly with the session environment (PATH included) and no shell", async () => {
    const out = join(sb.dir, "out.json");
    const marker = join(sb.dir, "pwned");
    const hostile = [`$(touch ${marker})`, "`touch " + marker + "`", `semi;`, `;`, "new\nline", "-e", "it's", "#{session_name}"];
    const script = `require("fs").writeFileSync(${JSON.stringify(out)}, JSON.stringify({ argv: process.argv.slice(1), path: process.env.PATH, stage: process.env.AUTORUN_STAGE, cc: process.env.CLAUDECODE ?? null, cwd: process.cwd() }))`;
    await tmux.newSession({ name: "s_stage-1", cwd: sb.dir, argv: [process.execPath, "-e", script, ...hostile], env: { PATH: `/opt/autorun-bin:${process.env.PATH}`, AUTORUN_STAGE: "1" } });
    const got = await waitFor("the pane program to write", () => existsSync(out) && JSON.parse(readFileSync(out, "utf8")));
    expect(got.argv).toEqual(hostile);
    expect(got.path.startsWith("/opt/autorun-bin:")).toBe(true);
    expect(got.stage).toBe("1");
    expect(got.cc).toBe(null);
    expect(got.cwd).toBe(sb.dir);
    expect(existsSync(marker)).toBe(false);
  });

  it("keeps the pane of a program that exits at once (remain-on-exit holds before tmux sees the exit), with its status", async () => {
    // 40 sessions, in several calls sent at once to a server none of them finds running: programs
    // that fail, cannot start, or succeed the moment they run.
    const programs = [["false"], [join(sb.dir, "no-such-agent")], ["true"]];
    const env = { AUTORUN_FILLER: "x".repeat(2_500) };
    const specs = Array.from({ length: 40 }, (_, i) => ({ name: `fast_stage-${i}`, cwd: sb.dir, argv: programs[i % 3]!, env, remainOnExit: true }));
    expect(await tmux.serverRunning()).toBe(false);
    expect(await tmux.newSessions(specs)).toEqual(specs.map(() => true));
    const statuses = await waitFor("every program to exit", async () => {
      const all = await tmux.paneStatuses();
      return [...all.values()].every((p) => p.state === "exited") && all.size === 40 ? all : undefined;
    });
    specs.forEach((s, i) => expect(statuses.get(s.name)).toEqual({ state: "exited", status: [1, 127, 0][i % 3], signal: undefined }));
  });

  it("has-session matches exactly, capture and send-keys work, kill ends it", async () => {
    await tmux.newSession({ name: "plan_stage-10", cwd: sb.dir, argv: ["cat"], env: {} });
    expect(await tmux.hasSession("plan_stage-10")).toBe(true);
    expect(await tmux.hasSession("plan_stage-1")).toBe(false);
    expect(await tmux.listSessions()).toEqual(["plan_stage-10"]);
    await tmux.sendLiteral("plan_stage-10", "hello $(whoami) ;");
    await tmux.sendEnter("plan_stage-10");
    await waitFor("the echo", async () => (await tmux.capturePane("plan_stage-10"))?.includes("hello $(whoami) ;"));
    expect(await tmux.killSession("plan_stage-10")).toBe(true);
    expect(await tmux.hasSession("plan_stage-10")).toBe(false);
    expect(await tmux.capturePane("plan_stage-10")).toBeUndefined();
  });
});
