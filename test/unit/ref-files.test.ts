/** A branch's commit read from the repository's files agrees with git, loose or packed, or says it cannot tell. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { refFromFiles } from "../../src/adapters/git.js";

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
