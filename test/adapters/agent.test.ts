import { describe, expect, it } from "vitest";
import { agentSettings, buildAgentArgv, parseAgentCmd, sessionEnv, HOOK_EVENTS } from "../../src/adapters/agent.js";

const params = { worktree: "slug-stage-2", sessionId: "11111111-2222-4333-8444-555555555555", contextFile: "/h/o/p/stages/stage-2-context.md", stage: "2" };

describe("agent argv", () => {
  it("is claude's command line by default", () => {
    const argv = buildAgentArgv(["claude"], { ...params, model: "opus", permissionMode: "acceptEdits" });
    expect(argv.slice(0, 5)).toEqual(["claude", "--worktree", "slug-stage-2", "--session-id", params.sessionId]);
    expect(argv[argv.indexOf("--plugin-dir") + 1]).toMatch(/orchestration-templates$/);
    expect(argv.slice(-5)).toEqual(["--model", "opus", "--permission-mode", "acceptEdits", `/autorun:start ${params.contextFile}`]);
  });
  it("resumes in the worktree with --resume", () => {
    const argv = buildAgentArgv(["claude"], { ...params, resume: true });
    expect(argv.slice(0, 3)).toEqual(["claude", "--resume", params.sessionId]);
    expect(argv).not.toContain("--worktree");
  });
  it("expands a template with placeholders", () => {
    expect(buildAgentArgv(["my-agent", "--ctx={context_file}", "{args}"], params).slice(0, 4)).toEqual(["my-agent", `--ctx=${params.contextFile}`, "--worktree", "slug-stage-2"]);
  });
  it("injects every hook as `autorun hook <Name>` and the worktree base", () => {
    const settings = agentSettings() as { hooks: Record<string, { hooks: { command: string }[] }[]>; worktree: unknown };
    expect(Object.keys(settings.hooks).sort()).toEqual([...HOOK_EVENTS].sort());
    for (const name of HOOK_EVENTS) expect(settings.hooks[name]![0]!.hooks[0]!.command).toBe(`autorun hook ${name}`);
    expect(settings.worktree).toEqual({ baseRef: "head" });
  });
  it("carries the stage identity and puts autorun first on PATH", () => {
    const env = sessionEnv("/h", "/h/orchestration/p", "2");
    expect(env).toMatchObject({ AUTORUN_HOME: "/h", AUTORUN_ORCH_DIR: "/h/orchestration/p", AUTORUN_STAGE: "2" });
    expect(env.PATH!.split(":")[0]).toBe(env.AUTORUN_BIN!.replace(/\/autorun$/, ""));
  });
});

describe("--agent-cmd", () => {
  it.each([
    ['["node", "/x y/sim.js"]', ["node", "/x y/sim.js"]],
    ["node /x/sim.js --fast", ["node", "/x/sim.js", "--fast"]],
    ['node "/x y/sim.js"', ["node", "/x y/sim.js"]],
  ])("%s", (value, want) => expect(parseAgentCmd(value)).toEqual(want));
  it("rejects an empty array", () => expect(() => parseAgentCmd("[]")).toThrow());
});
