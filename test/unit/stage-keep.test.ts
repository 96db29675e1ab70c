/**
 * The script a host runs to keep a copy of its stages' work (src/host/stage-keep.ts), run here by
 * `sh -s` exactly as ssh runs it there: the snapshot holds the worktree's HEAD as its parent and
 * its uncommitted files (modified, new, deleted), never touches the agent's index or files, leaves
 * ignored files out unless asked for notes (then not dependency directories); the transcript's
 * bytes come from the offset; a missing worktree or transcript is an answer, not an error.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { scriptInput } from "../../src/adapters/ssh.js";
import { KEEP_SCRIPT, parseKeep } from "../../src/host/stage-keep.js";

const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.invalid" };
const git = (cwd: string, ...args: string[]) => {
  const r = spawnSync("git", ["-C", cwd, ...args], { env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
};
const keep = (args: string[]) => {
  const r = spawnSync("sh", ["-s"], { input: scriptInput(KEEP_SCRIPT, args), env, cwd: tmpdir() });
  expect(r.status, r.stderr.toString()).toBe(0);
  return r.stdout;
};

describe("the host's keep script", () => {
  let dir: string;
  let wt: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "autorun-keep-"));
    const root = join(dir, "root; $x 'q' #");
    mkdirSync(root);
    git(root, "init", "-q", "-b", "main");
    writeFileSync(join(root, "a.txt"), "a\n");
    writeFileSync(join(root, "gone.txt"), "gone\n");
    writeFileSync(join(root, ".gitignore"), "*.log\nnode_modules/\n");
    git(root, "add", "-A");
    git(root, "commit", "-qm", "base");
    wt = join(root, ".claude", "worktrees", "w 1");
    git(root, "worktree", "add", "-q", "-b", "worktree-w", wt, "main");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("snapshots the uncommitted work without touching the index or the files; the transcript from an offset", () => {
    writeFileSync(join(wt, "a.txt"), "a changed\n");
    rmSync(join(wt, "gone.txt"));
    writeFileSync(join(wt, "new file $1.txt"), "new\n");
    writeFileSync(join(wt, "staged.txt"), "staged\n");
    git(wt, "add", "staged.txt");
    writeFileSync(join(wt, "notes.log"), "ignored note\n");
    mkdirSync(join(wt, "node_modules", "x"), { recursive: true });
    writeFileSync(join(wt, "node_modules", "x", "i.js"), "dep\n");
    const indexFile = git(wt, "rev-parse", "--path-format=absolute", "--git-path", "index");
    // (git status refreshes the index: first.)
    const status = git(wt, "status", "--porcelain");
    const before = { index: readFileSync(indexFile), mtime: statSync(indexFile).mtimeMs, status };
    const transcript = join(dir, "t.jsonl");
    writeFileSync(transcript, "line one\nline two\n");

    const [plain] = parseKeep(keep(["0", wt, "refs/autorun/snapshot/o/1", transcript, "9", "100"]), 1);
    expect(plain!.snapshot).toMatch(/^[0-9a-f]{40}$/);
    expect(git(wt, "rev-parse", "refs/autorun/snapshot/o/1")).toBe(plain!.snapshot);
    expect(git(wt, "rev-parse", `${plain!.snapshot}^1`)).toBe(git(wt, "rev-parse", "HEAD"));
    expect(git(wt, "ls-tree", "-r", "--name-only", plain!.snapshot!).split("\n").sort()).toEqual([".gitignore", "a.txt", "new file $1.txt", "staged.txt"]);
    expect(git(wt, "show", `${plain!.snapshot}:a.txt`)).toBe("a changed");
    expect(plain!.transcriptSize).toBe(18);
    expect(plain!.bytes.toString()).toBe("line two\n");
    // Nothing of the agent's changed: its index (byte for byte), its files, what git status says.
    expect(readFileSync(indexFile).equals(before.index)).toBe(true);
    expect(statSync(indexFile).mtimeMs).toBe(before.mtime);
    expect(git(wt, "status", "--porcelain")).toBe(before.status);

    // For notes: ignored files too, not dependencies.
    const [notes] = parseKeep(keep(["1", wt, "refs/autorun/snapshot/o/1", "", "0", "100"]), 1);
    expect(git(wt, "ls-tree", "-r", "--name-only", notes!.snapshot!).split("\n")).toEqual(expect.arrayContaining(["notes.log", "new file $1.txt"]));
    expect(git(wt, "ls-tree", "-r", "--name-only", notes!.snapshot!)).not.toMatch(/node_modules/);
    expect(notes!.transcriptSize).toBe(-1);
  });

  it("answers for every stage: one whose worktree is gone has no snapshot; bytes are capped", () => {
    const transcript = join(dir, "t.jsonl");
    writeFileSync(transcript, "0123456789");
    const out = parseKeep(keep(["0", join(dir, "missing"), "refs/autorun/snapshot/o/2", transcript, "0", "4", wt, "refs/autorun/snapshot/o/3", join(dir, "none.jsonl"), "0", "4"]), 2);
    expect(out[0]!.snapshot).toBeUndefined();
    expect(out[0]!.bytes.toString()).toBe("0123");
    expect(out[0]!.transcriptSize).toBe(10);
    expect(out[1]!.snapshot).toMatch(/^[0-9a-f]{40}$/);
    expect(out[1]!.transcriptSize).toBe(-1);
    expect(() => parseKeep(Buffer.from("- 10 4\n01"), 1)).toThrow(/cut short/);
  });
});
