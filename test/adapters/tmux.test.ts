import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTmux, tmuxArg, type Tmux } from "../../src/adapters/tmux.js";
import { makeSandbox, waitFor, type Sandbox } from "../helpers/env.js";
import { execa } from "execa";
import { mkdirSync, readdirSync } from "node:fs";

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
    ["x\\;", "x\\\\;"],
  ])("%s → %s", (arg, want) => expect(tmuxArg(arg)).toBe(want));
});

describe("tmux adapter on a private server", () => {
  it("runs argv directly with the session environment (PATH included) and no shell", async () => {
    const out = join(sb.dir, "out.json");
    const marker = join(sb.dir, "pwned");
    const hostile = [`$(touch ${marker})`, "`touch " + marker + "`", `semi;`, `;`, "new\nline", "-e", "it's", "#{session_name}"];
    const script = `require("fs").writeFileSync(${JSON.stringify(out)}, JSON.stringify({ argv: process.argv.slice(1), path: process.env.PATH, stage: process.env.AUTORUN_STAGE, cc: process.env.CLAUDECODE ?? null, cwd: process.cwd() }))`;
    await tmux.newSession({ name: "s_stage-1", cwd: sb.dir, argv: [process.execPath, "-e", script, ...hostile], env: { PATH: `/opt/autorun-bin:${process.env.PATH}`, AUTORUN_STAGE: "1" }, envDir: join(sb.dir, "env") });
    const got = await waitFor("the pane program to write", () => existsSync(out) && JSON.parse(readFileSync(out, "utf8")));
    expect(got.argv).toEqual(hostile);
    expect(got.path.startsWith("/opt/autorun-bin:")).toBe(true);
    expect(got.stage).toBe("1");
    expect(got.cc).toBe(null);
    expect(got.cwd).toBe(sb.dir);
    expect(existsSync(marker)).toBe(false);
  });

  it("keeps the environment off every command line, starts in a directory tmux would misread, and passes any value", async () => {
    // Values tmux or a shell would read as syntax; a directory with a style (`#[`) in its name.
    const values = { K1: "sk-ant-SECRET1\\;", K2: "SECRET2;", K3: "SECRET3 it's \"q\" $(x) `y`", K4: "SECRET4\nline2\n", K5: "" };
    const dir = join(sb.dir, "a#[fg=red]b", "c##d");
    mkdirSync(dir, { recursive: true });
    const out = join(sb.dir, "out.json");
    const script = `const e = process.env; require("fs").writeFileSync(${JSON.stringify(out)}, JSON.stringify({ v: [e.K1, e.K2, e.K3, e.K4, e.K5], cwd: process.cwd() })); setInterval(() => {}, 1000)`;
    const envDir = join(sb.dir, "env");
    await tmux.newSession({ name: "sec_stage-1", cwd: dir, argv: [process.execPath, "-e", script, "end\\;"], env: values, envDir });
    const got = await waitFor("the pane program to write", () => existsSync(out) && JSON.parse(readFileSync(out, "utf8")));
    expect(got).toEqual({ v: Object.values(values), cwd: dir });
    // The file was loaded and removed.
    expect(readdirSync(envDir)).toEqual([]);
    // What any local user sees: every process's argv (as `nobody` when we can be it).
    const ps = process.getuid?.() === 0 ? (await execa("runuser", ["-u", "nobody", "--", "ps", "-eo", "args"])).stdout : (await execa("ps", ["-eo", "args"])).stdout;
    expect(ps).toContain(`-L ${sb.socket}`);
    const cmdlines = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8");
      } catch {
        return "";
      }
    });
    const started = (await execa("tmux", ["-L", sb.socket, "display-message", "-p", "-t", "=sec_stage-1:", "#{pane_start_command}"])).stdout;
    expect(started).toContain("autorun-session");
    for (const text of [ps, cmdlines.join("\n"), started]) for (const n of [1, 2, 3, 4]) expect(text).not.toContain(`SECRET${n}`);
  });

  it("keeps the pane of a program that exits at once (remain-on-exit holds before tmux sees the exit), with its status", async () => {
    // 40 sessions, in several calls sent at once to a server none of them finds running: programs
    // that fail, cannot start, or succeed the moment they run.
    const programs = [["false"], [join(sb.dir, "no-such-agent")], ["true"]];
    const env = { AUTORUN_FILLER: "x".repeat(2_500) };
    const specs = Array.from({ length: 40 }, (_, i) => ({ name: `fast_stage-${i}`, cwd: sb.dir, argv: programs[i % 3]!, env, envDir: join(sb.dir, "env"), remainOnExit: true }));
    expect(await tmux.serverRunning()).toBe(false);
    expect(await tmux.newSessions(specs)).toEqual(specs.map(() => true));
    // Every pane is kept: remain-on-exit held, whenever tmux saw the exit.
    await waitFor("every program to exit", async () => {
      const all = await tmux.paneStatuses();
      return [...all.values()].every((p) => p.state === "exited") && all.size === 40;
    });
    // tmux marks a pane dead when its terminal closes and learns the exit status a moment later;
    // under load it may never learn it for a program that died at once (the monitor then records
    // the death without one). A status it gives is the program's own.
    const known = (p: Awaited<ReturnType<typeof tmux.paneStatus>> | undefined) => p?.state === "exited" && (p.status !== undefined || p.signal !== undefined);
    let statuses = await tmux.paneStatuses();
    for (let look = 0; look < 30 && [...statuses.values()].some((p) => !known(p)); look++) {
      await new Promise((r) => setTimeout(r, 100));
      statuses = await tmux.paneStatuses();
    }
    specs.forEach((s, i) => {
      const p = statuses.get(s.name);
      expect(p?.state).toBe("exited");
      if (known(p)) expect(p).toEqual({ state: "exited", status: [1, 127, 0][i % 3], signal: undefined });
    });
    // Most of them, at least, with their status.
    expect(specs.filter((s) => known(statuses.get(s.name))).length).toBeGreaterThanOrEqual(30);
  });

  it("has-session matches exactly, capture and send-keys work, kill ends it", async () => {
    await tmux.newSession({ name: "plan_stage-10", cwd: sb.dir, argv: ["cat"], env: {}, envDir: join(sb.dir, "env") });
    expect(await tmux.hasSession("plan_stage-10")).toBe(true);
    expect(await tmux.hasSession("plan_stage-1")).toBe(false);
    expect(await tmux.listSessions()).toEqual(["plan_stage-10"]);
    await tmux.sendLiteral("plan_stage-10", "hello $(whoami) ;");
    await tmux.sendEnter("plan_stage-10");
    await waitFor("the echo", async () => (await tmux.capturePane("plan_stage-10"))?.includes("hello $(whoami) ;"));
    // A look and Enter in one call: the screen is read before Enter reaches the program.
    await tmux.sendLiteral("plan_stage-10", "again");
    await waitFor("the typed text", async () => (await tmux.capturePane("plan_stage-10"))?.includes("again"));
    const look = await tmux.enterAfterLook("plan_stage-10");
    expect(look!.screen.split("\n").filter((l) => l.includes("again"))).toHaveLength(1);
    expect(look!.screen.split("\n")[look!.row!]).toBe("again");
    await waitFor("cat to echo the line", async () => (await tmux.capturePane("plan_stage-10"))!.split("\n").filter((l) => l === "again").length === 2);
    expect(await tmux.killSession("plan_stage-10")).toBe(true);
    expect(await tmux.enterAfterLook("plan_stage-10")).toBeUndefined();
    expect(await tmux.hasSession("plan_stage-10")).toBe(false);
    expect(await tmux.capturePane("plan_stage-10")).toBeUndefined();
  });
});
