import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { execa } from "execa";
import { it } from "../helpers/fixture.js";
import { CLI, waitFor } from "../helpers/env.js";
import { idleRun, sleepAgent, statusOf } from "../helpers/orch.js";

describe("autorun attach (real tmux)", () => {
  it("from a session of another tmux server: finds the stage's session on autorun's own server and opens it", async ({ sb }) => {
    // autorun's server here is tmux's default one, kept private by TMUX_TMPDIR.
    const tmpdir = join(sb.dir, "tmux-tmp");
    mkdirSync(tmpdir);
    const env: NodeJS.ProcessEnv = { ...sb.env, TMUX_TMPDIR: tmpdir, AUTORUN_TMUX_SOCKET: "" };
    delete env.TMUX;
    const ours = (...a: string[]) => execa("tmux", a, { env, extendEnv: false, reject: false });
    const theirs = (...a: string[]) => execa("tmux", ["-L", "person", ...a], { env, extendEnv: false, reject: false });
    try {
      const plan = sb.writePlan("look.md", "## Stage 1: A\n");
      const r = await sb.cli(["orchestrate", plan, "--no-monitor", "--agent-cmd", sleepAgent], { env: { TMUX_TMPDIR: tmpdir, AUTORUN_TMUX_SOCKET: "" } });
      expect(r.code, r.stderr).toBe(0);
      const session = (statusOf(sb, "look")!.stages["1"] as unknown as { session: string }).session;
      expect((await ours("has-session", "-t", `=${session}`)).exitCode).toBe(0);
      // The person's own tmux (another server): its panes carry a $TMUX that names it.
      const started = await theirs("new-session", "-d", "-s", "desk", "-x", "150", "-y", "40", "-c", sb.repo, process.execPath, CLI, "attach", "look", "1");
      expect(started.exitCode, String(started.stderr)).toBe(0);
      await waitFor("a client on the stage's session of autorun's server", async () => String((await ours("list-clients", "-F", "#{client_session}")).stdout).split("\n").includes(session), 15_000);
    } finally {
      await theirs("kill-server");
      await ours("kill-server");
    }
  });

  it("without a terminal: says so and how to read the screen, instead of tmux's own error", async ({ sb }) => {
    await idleRun(sb, "plain", "## Stage 1: A\n");
    const r = await sb.cli(["attach", "plain", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`autorun: attach needs a terminal; from a script, read stage 1's screen with: tmux -L ${sb.socket} capture-pane -p -t =plain_stage-1:`);
  });
});
