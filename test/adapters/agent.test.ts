import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentSettings, buildAgentArgv, parseAgentCmd, sandboxAvailable, sessionEnv, WORKFLOW_ALLOW } from "../../src/adapters/agent.js";
import { HOOK_EVENTS } from "../../src/types/constants.js";
import { stageScope } from "../../src/monitor/launcher.js";
import { checkBoxLine, checkSandbox } from "../../src/commands/preflight.js";

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
    const env = sessionEnv({ home: "/h", orchDir: "/h/orchestration/p", stage: "2" });
    expect(env).toMatchObject({ AUTORUN_HOME: "/h", AUTORUN_ORCH_DIR: "/h/orchestration/p", AUTORUN_STAGE: "2" });
    expect(env.PATH!.split(":")[0]).toBe(env.AUTORUN_BIN!.replace(/\/autorun$/, ""));
  });
  it("takes the person's environment it is given, not this process's", () => {
    const env = sessionEnv({ home: "/h", orchDir: "/h/orchestration/p", stage: "2" }, { env: { PATH: "/given/bin", GIVEN_KEY: "v" } });
    expect(env.PATH!.split(":").slice(1)).toEqual(["/given/bin"]);
    expect(env.GIVEN_KEY).toBe("v");
    expect(env.HOME).toBeUndefined();
  });
});

describe("what a stage may do unasked", () => {
  const scope = { worktree: "/p/.claude/worktrees/s-stage-2", commonDir: "/p/.git", adminName: "s-stage-22", baseBranch: "main" };
  type Settings = { permissions: { allow: string[] }; sandbox?: Record<string, unknown> & { filesystem: { allowWrite: string[]; denyWrite: string[] } } };
  it("allows exactly the workflow's commands: no autorun:*, no git option that runs a program or writes elsewhere", () => {
    const allow = (agentSettings([], scope) as Settings).permissions.allow;
    expect(allow).toEqual([
      "Bash(autorun phase:*)", "Bash(autorun review new:*)", "Bash(autorun review wait:*)", "Bash(autorun review answers:*)",
      "Bash(git add:*)", "Bash(git commit:*)", "Bash(git status)",
      "Bash(git rebase --continue)", "Bash(git rebase --abort)", "Bash(git rebase main)",
    ]);
    // A prefix rule for a command that takes --exec, --output or a hook program would be a shell.
    for (const rule of allow) expect(rule).not.toMatch(/^Bash\((autorun|git rebase|git log|git diff|git show|git merge|git -c)(:\*)?\)$/);
    expect(WORKFLOW_ALLOW).not.toContain("Bash(autorun:*)");
  });
  it("has no sandbox unless the scope asks for one", () => {
    expect((agentSettings([], scope) as Settings).sandbox).toBeUndefined();
    expect((agentSettings() as Settings).sandbox).toBeUndefined();
  });
  it("sandboxes Bash to the worktree and what git commit writes, with no way out but autorun's reporting", () => {
    const s = (agentSettings(["Bash(npm test:*)"], { ...scope, sandbox: { domains: ["registry.npmjs.org"] } }) as Settings).sandbox!;
    expect(s).toMatchObject({ enabled: true, autoAllowBashIfSandboxed: true, allowUnsandboxedCommands: false, network: { allowedDomains: ["registry.npmjs.org"] } });
    expect(s.excludedCommands).toEqual(["autorun phase:*", "autorun review new:*", "autorun review wait:*", "autorun review answers:*"]);
    expect(s.filesystem.allowWrite).toEqual([scope.worktree, "/p/.git/objects", "/p/.git/refs/heads", "/p/.git/logs/refs/heads", "/p/.git/worktrees/s-stage-22"]);
    // Not the repository's config, hooks or other worktrees; not the base branch; not the file that names the git dir.
    expect(s.filesystem.allowWrite.some((p) => p === "/p/.git" || p === "/p/.git/worktrees" || p.endsWith("hooks") || p.endsWith("config"))).toBe(false);
    expect(s.filesystem.denyWrite).toEqual([`${scope.worktree}/.git`, "/p/.git/worktrees/s-stage-22/commondir", "/p/.git/worktrees/s-stage-22/gitdir", "/p/.git/refs/heads/main", "/p/.git/logs/refs/heads/main"]);
  });
  it("finds the worktree's admin directory from git's side, not from the worktree's .git file", () => {
    const root = mkdtempSync(join(tmpdir(), "autorun-scope-"));
    try {
      const wt = join(root, ".claude", "worktrees", "s-stage-2");
      mkdirSync(join(root, ".git", "worktrees", "s-stage-21"), { recursive: true });
      mkdirSync(wt, { recursive: true });
      writeFileSync(join(root, ".git", "worktrees", "s-stage-21", "gitdir"), `${wt}/.git\n`);
      // What an agent could write in its worktree names nothing.
      writeFileSync(join(wt, ".git"), "gitdir: /elsewhere/.git/worktrees/evil\n");
      const sc = stageScope({ sandbox: false, sandboxDomains: [] }, { project_root: root, base_branch: "main" }, wt);
      expect(sc).toEqual({ worktree: wt, commonDir: join(root, ".git"), adminName: "s-stage-21", baseBranch: "main" });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  it("closes again what of the git directory exists and a commit never writes", () => {
    const root = mkdtempSync(join(tmpdir(), "autorun-scope-"));
    try {
      const g = join(root, ".git");
      const wt = join(root, ".claude", "worktrees", "s-stage-1");
      for (const d of ["info", "objects/info", "refs/autorun/s", "worktrees/s-stage-1", "worktrees/s-stage-2"]) mkdirSync(join(g, d), { recursive: true });
      writeFileSync(join(g, "HEAD"), "ref: refs/heads/main\n");
      writeFileSync(join(g, "worktrees", "s-stage-1", "gitdir"), `${wt}/.git\n`);
      // A dry run's listing writes nothing; a launch makes the worktree's own configuration, empty, to close it.
      const own = join(g, "worktrees", "s-stage-1", "config.worktree");
      const listed = stageScope({ sandbox: true, sandboxDomains: [] }, { project_root: root, base_branch: "main" }, wt);
      expect(existsSync(own)).toBe(false);
      const sc = stageScope({ sandbox: true, sandboxDomains: [] }, { project_root: root, base_branch: "main" }, wt, true);
      if (!sc.sandbox) return; // No bubblewrap here: the sandbox, and so this list, is off.
      expect(listed).toEqual(sc);
      // No index, packed-refs or modules in this repository: nothing listed for them (the sandbox would plant placeholders);
      // nothing a run removes (autorun's refs, the other stages' admin directories).
      expect(sc.gitGuarded).toEqual([join(g, "HEAD"), join(g, "info"), join(g, "objects", "info"), own]);
      expect(readFileSync(own, "utf8")).toBe("");
      const s = (agentSettings([], sc) as Settings).sandbox!;
      expect(s.filesystem.denyWrite).toEqual(expect.arrayContaining([...sc.gitGuarded!]));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  it("knows where the sandbox can run", () => {
    expect(sandboxAvailable(() => undefined, "darwin")).toEqual({ ok: true, missing: [] });
    expect(sandboxAvailable(() => "/usr/bin/x", "linux")).toEqual({ ok: true, missing: [] });
    expect(sandboxAvailable((p) => (p === "bwrap" ? "/usr/bin/bwrap" : undefined), "linux")).toEqual({ ok: false, missing: ["socat"] });
    expect(sandboxAvailable(() => "/x", "win32").ok).toBe(false);
  });
  it("doctor says when the sandbox is off or missing, and what that means", () => {
    expect(checkSandbox(true, () => "/usr/bin/x", "linux")).toEqual(["ok", expect.stringMatching(/^Bash sandbox: on \(bubblewrap \+ socat\)/)]);
    const [level, text] = checkSandbox(true, () => undefined, "linux");
    expect(level).toBe("warn");
    expect(text).toMatch(/not available: install bubblewrap and socat .*each wait for a person/);
    expect(checkSandbox(false, () => "/x", "linux")).toEqual(["warn", expect.stringMatching(/off \(sandbox: false/)]);
  });
  it("says whether the merge's checks run boxed, and why not", () => {
    expect(checkBoxLine(true, () => "/usr/bin/bwrap", "linux")[0]).toBe("ok");
    expect(checkBoxLine(true, () => undefined, "linux")).toEqual(["warn", expect.stringContaining("run unboxed (no bubblewrap here: apt-get install bubblewrap): the stages' code")]);
    expect(checkBoxLine(true, () => "/x", "darwin")[1]).toContain("run unboxed (no box for them on darwin)");
    expect(checkBoxLine(false, () => "/usr/bin/bwrap", "linux")[1]).toContain("run unboxed (sandbox: false in the configuration)");
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
