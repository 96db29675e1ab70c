/**
 * The launcher's batch over a fake tmux (real git worktrees, real event log): every ready stage in
 * one `newSessions` call; when that call fails part-way, the rest one at a time, a session that
 * already exists adopted, never a stage launched twice.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { launchStages } from "../../src/monitor/launcher.js";
import { addStageWorktree } from "../../src/adapters/git.js";
import { Worktrees } from "../../src/monitor/worktrees.js";
import { DEFAULT_CONFIG } from "../../src/state/config.js";
import { appendEvent, readAllEvents } from "../../src/state/events.js";
import { orchPaths, type OrchPaths } from "../../src/state/paths.js";
import type { NewSession, Tmux } from "../../src/adapters/tmux.js";
import { ToolError } from "../../src/errors.js";
import { startedEvent } from "../helpers/events.js";

let dir: string;
let repo: string;
let paths: OrchPaths;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "autorun-launcher-"));
  repo = join(dir, "repo");
  mkdirSync(repo);
  const git = (...args: string[]) => execFileSync("git", ["-C", repo, ...args], { env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x.invalid" } });
  git("init", "-q", "-b", "main");
  writeFileSync(join(repo, "README.md"), "x\n");
  git("add", "README.md");
  git("commit", "-qm", "init");
  paths = orchPaths(join(dir, "home"), "p", "p");
  mkdirSync(paths.stagesDir, { recursive: true });
  const started = startedEvent([{ id: "1" }, { id: "2" }, { id: "3" }], { ident: { orch_dir: paths.dir, plan_name: "p", project_slug: "p" } });
  appendEvent(paths.events, {
    ...started,
    project_root: repo,
    stages: started.stages.map((s) => ({ ...s, worktree: join(repo, ".claude", "worktrees", `w${s.id}`) })),
  });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A tmux whose batch call fails at session `s2`, which a killed launcher had already started. */
function tmuxWithLeftover() {
  const sessions = new Set(["s2"]);
  const calls: string[] = [];
  const tmux = {
    socket: undefined,
    newSessions: async (specs: readonly NewSession[]) => {
      calls.push(`batch ${specs.map((s) => s.name).join(",")}`);
      // tmux stops a command list at its first error: s1 is made, s2 exists, s3 is not reached.
      sessions.add("s1");
      return specs.map((s) => s.name === "s1");
    },
    newSession: async (spec: NewSession) => {
      calls.push(`one ${spec.name}`);
      if (sessions.has(spec.name)) throw new ToolError("tmux new-session failed", { argv: ["tmux"], code: 1, stderr: `duplicate session: ${spec.name}` });
      sessions.add(spec.name);
    },
    hasSession: async (name: string) => sessions.has(name),
  } as unknown as Tmux;
  return { tmux, sessions, calls };
}

describe("launching a batch of ready stages", () => {
  it("makes every worktree, starts every session in one call, and after a failed call goes one by one, adopting what exists", async () => {
    const { tmux, sessions, calls } = tmuxWithLeftover();
    const results = await launchStages({ tmux, paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"] }, log: () => undefined, worktrees: new Worktrees() }, ["1", "2", "3"]);
    expect(results).toEqual(["launched", "adopted", "launched"]);
    expect(calls).toEqual(["batch s1,s2,s3", "one s2", "one s3"]);
    expect([...sessions].sort()).toEqual(["s1", "s2", "s3"]);
    for (const id of ["1", "2", "3"]) expect(existsSync(join(repo, ".claude", "worktrees", `w${id}`, "README.md"))).toBe(true);
    const launched = readAllEvents(paths.events).filter((e) => e.type === "stage_launched");
    expect(launched.map((e) => [e.stage, "adopted" in e && e.adopted === true])).toEqual([["1", false], ["2", true], ["3", false]]);
    // Launching again launches nothing: every stage is in progress.
    expect(await launchStages({ tmux, paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"] }, log: () => undefined, worktrees: new Worktrees() }, ["1", "2", "3"])).toEqual(["skipped", "skipped", "skipped"]);
    expect(calls).toHaveLength(3);
  });
});

describe("stage worktrees", () => {
  it("makes many at once, each on its own branch at the start commit (git's adds read each other's half-written files)", async () => {
    const head = execFileSync("git", ["-C", repo, "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    const ids = Array.from({ length: 24 }, (_, i) => i + 1);
    const worktrees = new Worktrees();
    await Promise.all(ids.map((i) => worktrees.add(repo, join(repo, ".claude", "worktrees", `many-${i}`), `worktree-many-${i}`, "refs/heads/main")));
    for (const i of ids) {
      const wt = join(repo, ".claude", "worktrees", `many-${i}`);
      expect(existsSync(join(wt, "README.md"))).toBe(true);
      expect(execFileSync("git", ["-C", wt, "symbolic-ref", "--short", "HEAD"], { encoding: "utf8" }).trim()).toBe(`worktree-many-${i}`);
      expect(execFileSync("git", ["-C", wt, "rev-parse", "HEAD"], { encoding: "utf8" }).trim()).toBe(head);
    }
    // A branch that exists already is checked out as it is, not made again.
    execFileSync("git", ["-C", repo, "worktree", "remove", join(repo, ".claude", "worktrees", "many-1")]);
    await addStageWorktree(repo, join(repo, ".claude", "worktrees", "many-1"), "worktree-many-1", "refs/heads/main");
    expect(existsSync(join(repo, ".claude", "worktrees", "many-1", "README.md"))).toBe(true);
  });
});

describe("a retried stage whose branch claude deleted", () => {
  it("starts again on its last recorded tip, not on the base tip", async () => {
    const gitOut = (...args: string[]) => execFileSync("git", ["-C", repo, ...args], { encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x.invalid" } }).trim();
    const ident = { orch_dir: paths.dir, plan_name: "p", project_slug: "p", ts: new Date().toISOString() };
    const wt = join(repo, ".claude", "worktrees", "w1");
    // Its first attempt: launched, a commit on its branch (recorded), then failed.
    appendEvent(paths.events, { ...ident, type: "stage_launched", stage: "1", session: "s1", session_id: "00000000-0000-4000-8000-000000000001", attempt: 1 });
    gitOut("worktree", "add", "-q", "-b", "b1", wt, "main");
    writeFileSync(join(wt, "work.txt"), "first attempt\n");
    execFileSync("git", ["-C", wt, "add", "work.txt"]);
    execFileSync("git", ["-C", wt, "-c", "user.name=t", "-c", "user.email=t@x.invalid", "commit", "-qm", "first attempt"]);
    const tip = gitOut("rev-parse", "b1");
    gitOut("update-ref", "refs/autorun/p/1", "b1");
    appendEvent(paths.events, { ...ident, type: "stage_failed", stage: "1", reason: "test" });
    // What claude's /exit did in a session that made no commits of its own.
    gitOut("worktree", "remove", wt);
    gitOut("branch", "-D", "b1");
    appendEvent(paths.events, { ...ident, type: "stage_retried", stage: "1", fresh_worktree: false });
    const logs: string[] = [];
    const { tmux } = tmuxWithLeftover();
    expect(await launchStages({ tmux, paths, config: { ...DEFAULT_CONFIG, agentCommand: ["agent"] }, log: (m) => logs.push(m), worktrees: new Worktrees() }, ["1"])).toEqual(["launched"]);
    expect(execFileSync("git", ["-C", wt, "rev-parse", "HEAD"], { encoding: "utf8" }).trim()).toBe(tip);
    expect(existsSync(join(wt, "work.txt"))).toBe(true);
    expect(logs.join("\n")).toContain(`stage 1: its branch b1 was gone (deleted with its worktree, as claude's /exit does); restored it at ${tip.slice(0, 10)}`);
  });
});
