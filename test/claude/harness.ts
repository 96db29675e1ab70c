/**
 * The real Claude Code lane's harness: each pinned claude (or `AUTORUN_TEST_CLAUDE`) against the
 * scripted Messages API stand-in (test/helpers/claude-api.ts), run by the built CLI in a sandbox.
 */
import { describe, expect } from "vitest";
import type { Sandbox } from "../helpers/env.js";
import { it as sandboxIt } from "../helpers/fixture.js";
import { claudeBins, claudeEnv, claudeHome, startApi, stepDone, type Api, type Block, type Call, type ClaudeUnderTest, type Script } from "../helpers/claude-api.js";

/** The versions every test of the lane runs on, oldest first (none installed: the lane is skipped). */
export const CLAUDES = claudeBins();

/**
 * The lane's tests, once per Claude Code version: `body` gets the version's program. One version
 * after the other: side by side, beside the other test files' agents on two cores, the longest
 * tests (a send-back, the sandboxed pair) ran past their deadlines in one full run of two.
 */
export function describeClaude(name: string, body: (claude: ClaudeUnderTest) => void): void {
  describe.skipIf(CLAUDES.length === 0)(name, () => {
    describe.each(CLAUDES)("on Claude Code $version", (claude) => {
      describe.sequential("", () => body(claude));
    });
  });
}

/**
 * A test of this lane: its sandbox (`sb`) and `claude(script)`, which starts the stand-in for it;
 * every stand-in a test started is closed after it, its sandbox cleaned up.
 */
export const it = sandboxIt.extend<{ claude: (script: Script) => Promise<Api> }>({
  claude: async ({ sb }, use) => {
    const started: Api[] = [];
    await use(async (script) => {
      const api = await startClaudeApi(sb, script);
      started.push(api);
      return api;
    });
    for (const api of started) await api.close();
  },
});

/** Starts the stand-in with `script` and gives the sandbox's sessions a seeded HOME, the key and the URL. */
export async function startClaudeApi(sb: Sandbox, script: Script): Promise<Api> {
  const api = await startApi(script);
  Object.assign(sb.env, claudeEnv(claudeHome(sb.dir, [sb.repo]), api));
  return api;
}

/** The first step not yet done, or the end of the turn. */
export function nextStep(call: Call, steps: Block[]): { blocks: Block[]; done?: boolean } {
  const next = steps.find((s) => !stepDone(call, s));
  return next ? { blocks: [next] } : { blocks: [{ text: "Stage handed over." }], done: true };
}

export async function orchestrateWithClaude(sb: Sandbox, claude: ClaudeUnderTest, plan: string, extra: string[] = []): Promise<void> {
  const r = await sb.cli(["orchestrate", plan, "--agent-cmd", claude.bin, ...extra]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}

/** The pid of the program in a stage's pane (claude itself: env(1) execs it). */
export async function panePid(sb: Sandbox, session: string): Promise<number> {
  const r = await sb.tmux("list-panes", "-t", `=${session}`, "-F", "#{pane_pid}");
  return Number(r.stdout.trim());
}
