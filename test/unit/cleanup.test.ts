/**
 * The cleanup after a merge, on real git worktrees and a real event log (tmux faked: no session to
 * end): a worktree Claude Code locked, the branch a kept worktree still has out, and the files a
 * worktree holds beyond its commits — untracked, ignored, dependencies — before it goes.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanup } from "../../src/monitor/cleanup.js";
import { removeStageWorktree } from "../../src/monitor/worktree-removal.js";
import { appendEvent, readAllEvents } from "../../src/state/events.js";
import { orchPaths, type OrchPaths } from "../../src/state/paths.js";
import { loadStatus } from "../../src/state/status.js";
import type { Tmux } from "../../src/adapters/tmux.js";
import { startedEvent } from "../helpers/events.js";

let dir: string;
let repo: string;
let paths: OrchPaths;
let logs: string[];
const sleepers: number[] = [];
const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x.invalid" };
const tmux = { capturePane: async () => undefined, killSession: async () => undefined, hasSession: async () => false } as unknown as Tmux;

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync("git", ["-C", cwd, ...args], { env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

function write(file: string, text: string | Buffer): void {
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, text);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "autorun-cleanup-"));
  repo = join(dir, "repo");
  mkdirSync(repo);
  git(repo, "init", "-q", "-b", "main");
  write(join(repo, ".gitignore"), "*.log\nbuild/\nnode_modules/\n");
  git(repo, "add", ".gitignore");
  git(repo, "commit", "-qm", "init");
  paths = orchPaths(join(dir, "home"), "p", "p");
  mkdirSync(paths.stagesDir, { recursive: true });
  const started = startedEvent([{ id: "1" }, { id: "2" }], { ident: { orch_dir: paths.dir, plan_name: "p", project_slug: "p" } });
  appendEvent(paths.events, {
    ...started,
    project_root: repo,
    stages: started.stages.map((s) => ({ ...s, branch: `worktree-p-stage-${s.id}`, worktree: join(repo, ".claude", "worktrees", `p-stage-${s.id}`) })),
  });
  logs = [];
});
afterEach(() => {
  for (const pid of sleepers.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Stage `id`'s worktree with one commit, merged into main, its tip kept in refs/autorun/p/<id>. */
function mergedStage(id: string) {
  const stage = loadStatus(paths)!.stages[id]!;
  git(repo, "worktree", "add", "-q", "-b", stage.branch, stage.worktree, "main");
  write(join(stage.worktree, `s${id}.txt`), `stage ${id}\n`);
  git(stage.worktree, "add", ".");
  git(stage.worktree, "commit", "-qm", `stage ${id}`);
  git(repo, "merge", "-q", "--no-ff", "-m", `merge ${id}`, stage.branch);
  git(repo, "update-ref", `refs/autorun/p/${id}`, stage.branch);
  return stage;
}

// A live claude's lock is waited on for 0.3 s, not the 5 s a monitor gives it.
const run = (id: string, stage: ReturnType<typeof mergedStage>) => cleanup({ tmux, paths, log: (m) => logs.push(m), lockWaitMs: 300 }, { id, stage, root: repo, base: "main" });
const refExists = (ref: string) => spawnSync("git", ["-C", repo, "rev-parse", "--verify", "--quiet", ref]).status === 0;

describe("cleanup of a worktree Claude Code locked", () => {
  it("a lock naming a claude that is gone: lifted, the worktree removed, the branch and its tip ref deleted", async () => {
    const stage = mergedStage("1");
    const dead = Number(spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim());
    git(repo, "worktree", "lock", "--reason", `claude session p-stage-1 (pid ${dead} start 1)`, stage.worktree);
    await run("1", stage);
    expect(existsSync(stage.worktree)).toBe(false);
    expect(git(repo, "worktree", "list", "--porcelain")).not.toContain("p-stage-1");
    expect(git(repo, "branch", "--list", stage.branch)).toBe("");
    expect(refExists("refs/autorun/p/1")).toBe(false);
    expect(logs.join("\n")).toContain(`lifted the lock of claude pid ${dead} (no longer running)`);
  });

  it("a lock naming a live claude (not this stage's): worktree and branch kept, and the log says why", async () => {
    const stage = mergedStage("2");
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    sleepers.push(child.pid!);
    git(repo, "worktree", "lock", "--reason", `claude session p-stage-2 (pid ${child.pid})`, stage.worktree);
    await run("2", stage);
    expect(readFileSync(join(stage.worktree, "s2.txt"), "utf8")).toBe("stage 2\n");
    // Never a worktree left on a deleted branch (what 0000000 in `git worktree list` was).
    expect(git(stage.worktree, "rev-parse", "HEAD")).toBe(git(repo, "rev-parse", stage.branch));
    expect(refExists("refs/autorun/p/2")).toBe(true);
    expect(logs).toContain(`stage 2: kept worktree ${stage.worktree} and branch ${stage.branch}: claude session p-stage-2 (pid ${child.pid}) locked it and is still running; it is left until that claude exits`);
  });
});

describe("cleanup keeps what a worktree holds beyond its commits", () => {
  it("untracked and ignored notes are copied under the orchestration; dependencies and ignored files over 10 MB are named, not kept", async () => {
    const stage = mergedStage("1");
    const wt = stage.worktree;
    write(join(wt, "notes.log"), "a person's notes\n");
    write(join(wt, "build", "DESIGN.md"), "# design\n");
    write(join(wt, ".claude", "notes.md"), "agent notes\n");
    write(join(wt, "scratch.txt"), "untracked\n");
    write(join(wt, "node_modules", "pkg", "index.js"), "module.exports = 1;\n");
    write(join(wt, "build", "huge.log"), Buffer.alloc(11 * 1024 * 1024));
    await run("1", stage);
    expect(existsSync(wt)).toBe(false);
    const kept = join(paths.stagesDir, "stage-1-files");
    expect(readFileSync(join(kept, "notes.log"), "utf8")).toBe("a person's notes\n");
    expect(readFileSync(join(kept, "build", "DESIGN.md"), "utf8")).toBe("# design\n");
    expect(readFileSync(join(kept, ".claude", "notes.md"), "utf8")).toBe("agent notes\n");
    expect(readFileSync(join(kept, "scratch.txt"), "utf8")).toBe("untracked\n");
    expect(existsSync(join(kept, "node_modules"))).toBe(false);
    expect(existsSync(join(kept, "build", "huge.log"))).toBe(false);
    const event = readAllEvents(paths.events).find((e) => e.type === "stage_files_kept");
    expect(event).toMatchObject({ stage: "1", dir: kept, files: 4, dropped: ["node_modules/ (dependencies or build output)", "build/huge.log (11.0 MB: over the 10 MB kept of ignored files)"] });
    expect(loadStatus(paths)!.stages["1"]!.kept_dropped).toHaveLength(2);
    expect(logs.join("\n")).toContain("not kept from its worktree: node_modules/ (dependencies or build output), build/huge.log");
  });
});

describe("a worktree git could only half remove", () => {
  it("its .git file gone (an exiting agent wrote into it while git emptied it): the rest removed, its record pruned", async () => {
    const stage = mergedStage("1");
    rmSync(join(stage.worktree, ".git"));
    write(join(stage.worktree, ".claude", "late.json"), "{}\n");
    const owner = { orchDir: paths.dir, stage: "1", sessionEnded: true };
    expect(await removeStageWorktree(repo, stage.worktree, owner)).toEqual({ removed: true });
    expect(existsSync(stage.worktree)).toBe(false);
    expect(git(repo, "worktree", "list", "--porcelain")).not.toContain("p-stage-1");
  });

  it("a directory git does not list as a worktree is left as it is", async () => {
    const stray = join(repo, ".claude", "worktrees", "p-stage-9");
    write(join(stray, "work.txt"), "someone's\n");
    const removal = await removeStageWorktree(repo, stray, { orchDir: paths.dir, stage: "9", sessionEnded: true });
    expect(removal).toMatchObject({ removed: false, why: expect.stringContaining("git does not list it as a worktree") });
    expect(readFileSync(join(stray, "work.txt"), "utf8")).toBe("someone's\n");
  });
});
