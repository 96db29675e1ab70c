/**
 * Real git in a temp repository: what a person has in progress on any checkout of the base branch
 * (a `git rebase -i` of main detaches HEAD).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { operationOnBase } from "../../src/adapters/git-safety.js";

let dir: string;
let repo: string;
const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x.invalid", GIT_EDITOR: "true" };

/** git in `cwd`; the result, failing the test on a non-zero exit unless `allowFail`. */
function git(cwd: string, args: string[], opts: { allowFail?: boolean; env?: NodeJS.ProcessEnv } = {}): { code: number; out: string } {
  const r = spawnSync("git", ["-C", cwd, ...args], { env: { ...env, ...opts.env }, encoding: "utf8" });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}`.trim() };
}

function commit(cwd: string, file: string, text: string): void {
  writeFileSync(join(cwd, file), text);
  git(cwd, ["add", file]);
  git(cwd, ["commit", "-qm", `${file}: ${text.trim()}`]);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "autorun-gitsafety-"));
  repo = join(dir, "repo");
  mkdirSync(repo);
  git(repo, ["init", "-q", "-b", "main"]);
  commit(repo, "a.txt", "one");
  commit(repo, "a.txt", "two");
  commit(repo, "a.txt", "three");
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("what a person has in progress on the base branch", () => {
  it("a git rebase -i of main stopped half-way (HEAD detached) is seen; after --continue it is not", () => {
    git(repo, ["rebase", "-i", "HEAD~2"], { env: { GIT_SEQUENCE_EDITOR: "sed -i 1s/^pick/edit/" } });
    expect(git(repo, ["symbolic-ref", "-q", "HEAD"], { allowFail: true }).code).not.toBe(0);
    return operationOnBase(repo, "main").then(async (busy) => {
      expect(busy).toEqual({ what: "a rebase of main", where: repo });
      git(repo, ["rebase", "--continue"]);
      expect(await operationOnBase(repo, "main")).toBeUndefined();
    });
  });

  it("in a linked worktree that has main out, and not for a rebase of another branch", async () => {
    git(repo, ["checkout", "-q", "-b", "feature"]);
    commit(repo, "f.txt", "feature");
    git(repo, ["rebase", "-i", "HEAD~2"], { env: { GIT_SEQUENCE_EDITOR: "sed -i 1s/^pick/edit/" } });
    // The person rebases feature: nothing of main's.
    expect(await operationOnBase(repo, "main")).toBeUndefined();
    git(repo, ["rebase", "--abort"]);
    const other = join(dir, "main-checkout");
    git(repo, ["worktree", "add", "-q", other, "main"]);
    git(other, ["rebase", "-i", "HEAD~2"], { env: { GIT_SEQUENCE_EDITOR: "sed -i 1s/^pick/edit/" } });
    expect(await operationOnBase(repo, "main")).toEqual({ what: "a rebase of main", where: other });
    git(other, ["rebase", "--abort"]);
    expect(await operationOnBase(repo, "main")).toBeUndefined();
  });

  it("a merge, a cherry-pick and a bisect on main", async () => {
    git(repo, ["checkout", "-q", "-b", "side", "HEAD~1"]);
    commit(repo, "a.txt", "side");
    git(repo, ["checkout", "-q", "main"]);
    git(repo, ["merge", "side"], { allowFail: true });
    expect((await operationOnBase(repo, "main"))?.what).toBe("a merge");
    git(repo, ["merge", "--abort"]);
    git(repo, ["cherry-pick", "side"], { allowFail: true });
    expect((await operationOnBase(repo, "main"))?.what).toBe("a cherry-pick");
    git(repo, ["cherry-pick", "--abort"]);
    expect(await operationOnBase(repo, "main")).toBeUndefined();
    git(repo, ["bisect", "start", "HEAD", "HEAD~2"]);
    expect((await operationOnBase(repo, "main"))?.what).toBe("a bisect started on main");
    git(repo, ["bisect", "reset"]);
    expect(await operationOnBase(repo, "main")).toBeUndefined();
  });
});

