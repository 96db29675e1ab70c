/** A branch's commit, and where a branch is checked out, read from the repository's files agree with git, or say they cannot tell. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkoutOf, refFromFiles } from "../../src/adapters/git.js";
import { checkoutFromFiles } from "../../src/adapters/git-safety.js";

const dir = mkdtempSync(join(tmpdir(), "autorun-refs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x.invalid" };
const git = (cwd: string, ...args: string[]) => execFileSync("git", ["-C", cwd, ...args], { env, encoding: "utf8" }).trim();

describe("refFromFiles", () => {
  it("reads a loose ref and a packed one as git does; a branch moved after packing is loose again", () => {
    const repo = join(dir, "repo");
    git(dir, "init", "-q", "-b", "main", repo);
    writeFileSync(join(repo, "a"), "a\n");
    git(repo, "add", "a");
    git(repo, "commit", "-qm", "a");
    expect(refFromFiles(repo, "refs/heads/main")).toBe(git(repo, "rev-parse", "refs/heads/main"));
    git(repo, "pack-refs", "--all");
    expect(refFromFiles(repo, "refs/heads/main")).toBe(git(repo, "rev-parse", "refs/heads/main"));
    git(repo, "commit", "-q", "--allow-empty", "-m", "b");
    expect(refFromFiles(repo, "refs/heads/main")).toBe(git(repo, "rev-parse", "refs/heads/main"));
    expect(refFromFiles(repo, "refs/heads/none")).toBeUndefined();
    // A name that would lead out of the refs directory is never read.
    writeFileSync(join(repo, ".git", "outside"), `${git(repo, "rev-parse", "HEAD")}\n`);
    expect(refFromFiles(repo, "refs/heads/../../outside")).toBeUndefined();
  });

  it("cannot tell for a symbolic ref or a checkout whose .git is a file: the caller asks git", () => {
    const repo = join(dir, "repo");
    git(repo, "symbolic-ref", "refs/heads/alias", "refs/heads/main");
    expect(refFromFiles(repo, "refs/heads/alias")).toBeUndefined();
    const linked = join(dir, "linked");
    git(repo, "worktree", "add", "-q", "-b", "other", linked);
    expect(refFromFiles(linked, "refs/heads/main")).toBeUndefined();
  });
});

describe("checkoutFromFiles", () => {
  it("finds where a branch is checked out as git worktree list does: the main checkout, a linked one, nowhere, detached", async () => {
    const repo = join(dir, "wt-repo");
    git(dir, "init", "-q", "-b", "main", repo);
    git(repo, "commit", "-q", "--allow-empty", "-m", "a");
    git(repo, "branch", "side");
    const linked = join(dir, "wt-linked");
    git(repo, "worktree", "add", "-q", linked, "side");
    const both = async (branch: string) => [await checkoutFromFiles(repo, branch), (await checkoutOf(repo, branch)) ?? null];
    const main = await checkoutOf(repo, "main");
    expect(await both("main")).toEqual([main, main]);
    const side = await checkoutOf(repo, "side");
    expect(await both("side")).toEqual([side, side]);
    git(repo, "branch", "none");
    expect(await both("none")).toEqual([null, null]);
    git(linked, "checkout", "-q", "--detach");
    expect(await both("side")).toEqual([null, null]);
    // A linked worktree whose directory is gone: the files cannot tell, git is asked.
    git(linked, "checkout", "-q", "side");
    rmSync(linked, { recursive: true, force: true });
    expect(await checkoutFromFiles(repo, "side")).toBeUndefined();
  });
});
