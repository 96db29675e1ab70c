/**
 * git in a stage's worktree runs nothing the stage's agent configured: a submodule whose own
 * configuration names an fsmonitor program, a `.git` file pointing at a git directory the agent
 * made, or a filter in the worktree's own configuration. Each attack is shown to run its program through plain `git status` first (so the test
 * fails if it stops being one), then through autorun's git adapter, which must not run it.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execa } from "execa";
import * as git from "../../src/adapters/git.js";

let dir: string;
let root: string;
let wt: string;
let marker: string;
const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.invalid" };
const sh = async (cwd: string, ...args: string[]) => (await execa("git", ["-C", cwd, ...args], { env })).stdout;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "autorun-git-contain-"));
  root = join(dir, "repo");
  marker = join(dir, "ran");
  await execa("git", ["init", "-q", "-b", "main", root]);
  await sh(root, "commit", "-q", "--allow-empty", "-m", "init");
  wt = join(root, ".claude", "worktrees", "plan-stage-1");
  await sh(root, "worktree", "add", "-q", "-b", "worktree-plan-stage-1", wt);
  writeFileSync(join(wt, "a.txt"), "a\n");
  await sh(wt, "add", "a.txt");
  await sh(wt, "commit", "-qm", "a");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A program that leaves a mark when run. */
function planted(where: string): string {
  const file = join(where, "hook.sh");
  writeFileSync(file, `#!/bin/sh\necho ran >> '${marker}'\n`);
  chmodSync(file, 0o755);
  return file;
}

async function adapterCalls(): Promise<void> {
  await git.hasTrackedChanges(wt);
  await git.dirtyFiles(wt).catch(() => undefined);
  await git.untrackedFiles(wt).catch(() => undefined);
  await git.worktreeHead(wt);
  await git.firstParentSubjects(wt, "main", "HEAD");
}

describe("the paths git status names", () => {
  it("a staged rename is both whole paths, not its record cut in two", async () => {
    await sh(wt, "mv", "a.txt", "renamed.txt");
    expect((await git.trackedChanges(wt)).sort()).toEqual(["a.txt", "renamed.txt"]);
    expect((await git.dirtyFiles(wt)).sort()).toEqual(["a.txt", "renamed.txt"]);
  });
});

describe("git in a stage's worktree", () => {
  it("does not run an fsmonitor named in a submodule's own configuration", async () => {
    const sub = join(wt, "sub");
    mkdirSync(sub);
    await execa("git", ["init", "-q", `--separate-git-dir=${join(wt, "subgit")}`, sub]);
    await sh(sub, "commit", "-q", "--allow-empty", "-m", "s");
    await sh(sub, "config", "core.fsmonitor", planted(join(wt, "subgit")));
    await sh(wt, "update-index", "--add", "--cacheinfo", `160000,${await sh(sub, "rev-parse", "HEAD")},sub`);
    await sh(wt, "commit", "-qm", "sub");
    await execa("git", ["-C", wt, "status", "--porcelain"], { env, reject: false });
    expect(existsSync(marker), "plain git status runs the submodule's fsmonitor").toBe(true);
    rmSync(marker);
    writeFileSync(join(wt, "a.txt"), "changed\n");
    await adapterCalls();
    expect(existsSync(marker)).toBe(false);
    // It still sees the stage's own work.
    expect(await git.hasTrackedChanges(wt)).toBe(true);
    expect(await git.dirtyFiles(wt)).toContain("a.txt");
  });

  it("refuses a .git file that points at a git directory the agent made, and runs nothing", async () => {
    // A git directory of its own beside the files: the branch's tip, the real objects borrowed,
    // and a configuration that names a program.
    const fake = join(wt, "fake");
    const record = readFileSync(join(wt, ".git"), "utf8");
    mkdirSync(join(fake, "refs", "heads"), { recursive: true });
    mkdirSync(join(fake, "objects", "info"), { recursive: true });
    writeFileSync(join(fake, "HEAD"), "ref: refs/heads/worktree-plan-stage-1\n");
    writeFileSync(join(fake, "refs", "heads", "worktree-plan-stage-1"), (await sh(wt, "rev-parse", "HEAD")) + "\n");
    writeFileSync(join(fake, "objects", "info", "alternates"), join(root, ".git", "objects") + "\n");
    writeFileSync(join(fake, "config"), `[core]\n\trepositoryformatversion = 0\n\tfsmonitor = ${planted(fake)}\n`);
    writeFileSync(join(wt, ".git"), `gitdir: ${fake}\n`);
    await execa("git", ["-C", wt, "status", "--porcelain"], { env, reject: false });
    expect(existsSync(marker), "plain git status runs the fake git directory's fsmonitor").toBe(true);
    rmSync(marker);
    await adapterCalls();
    expect(existsSync(marker)).toBe(false);
    const r = await git.run(wt, ["status", "--porcelain"]);
    expect(r.ok).toBe(false);
    expect(r.stderr).toBe(`${join(wt, ".git")} points at ${fake}, not at a worktree record of ${root}; autorun runs no git there (remove the worktree, or put its .git file back: git -C ${root} worktree repair)`);
    // Unknown is not clean: nothing is reset over it.
    expect(await git.hasTrackedChanges(wt)).toBe(true);
    await expect(git.resetWorktree(wt, "main")).rejects.toThrow(/not run in .*autorun runs no git there/);
    expect(existsSync(marker)).toBe(false);
    // Put back, it is a worktree like any other.
    writeFileSync(join(wt, ".git"), record);
    expect(await git.hasTrackedChanges(wt)).toBe(false);
    expect(await git.worktreeHead(wt)).toBe(await sh(wt, "rev-parse", "HEAD"));
  });

  it("refuses a worktree whose own configuration names a filter, and runs nothing; sparse checkout is allowed", async () => {
    // The person's repository reads worktrees' own configuration (`git sparse-checkout` turns this on);
    // the agent writes a filter into its worktree's, and a .gitattributes that uses it.
    await sh(root, "config", "extensions.worktreeConfig", "true");
    const own = join(root, ".git", "worktrees", "plan-stage-1", "config.worktree");
    writeFileSync(own, `[filter "x"]\n\tclean = ${planted(dir)}\n`);
    writeFileSync(join(wt, ".gitattributes"), "*.txt filter=x\n");
    // A file whose times changed and size did not is read again, through the filter.
    const touch = (year: number) => utimesSync(join(wt, "a.txt"), new Date(year, 0, 1), new Date(year, 0, 1));
    touch(2001);
    await execa("git", ["-C", wt, "status", "--porcelain"], { env, reject: false });
    expect(existsSync(marker), "plain git status runs the worktree's filter").toBe(true);
    rmSync(marker);
    touch(2002);
    await adapterCalls();
    expect(existsSync(marker)).toBe(false);
    const r = await git.run(wt, ["status", "--porcelain"]);
    expect(r.ok).toBe(false);
    expect(r.stderr).toBe(`${own} sets filter.x.clean, which autorun's git would obey there; autorun runs no git in ${wt} (remove it: git -C ${wt} config --worktree --unset <name>, or remove the worktree)`);
    expect(await git.hasTrackedChanges(wt)).toBe(true);
    // An include is a setting too (not followed).
    writeFileSync(own, `[include]\n\tpath = ${join(dir, "more")}\n`);
    expect((await git.run(wt, ["status"])).stderr).toMatch(/sets include\.path, /);
    // What `git sparse-checkout` writes there is obeyed as usual.
    rmSync(own);
    await sh(wt, "sparse-checkout", "set", "--no-cone", "/*");
    expect(readFileSync(own, "utf8")).toMatch(/sparseCheckout = true/);
    writeFileSync(join(wt, "a.txt"), "changed\n");
    expect(await git.dirtyFiles(wt)).toContain("a.txt");
    expect(existsSync(marker)).toBe(false);
  });
});
