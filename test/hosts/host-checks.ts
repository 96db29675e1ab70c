/** What host-lane tests check on a test host after a run (beside fixture.ts, which benches bundle without vitest). */
import { join } from "node:path";
import { execa } from "execa";
import { expect } from "vitest";
import type { TestHost } from "./fixture.js";

/** Nothing of the run (tmux server `socket`) on `host`: no session, no worktree in `root` but its own, no stage branch. */
export async function expectHostClean(host: TestHost, socket: string, root: string): Promise<void> {
  expect((await host.asUser('tmux -S "$1" list-sessions -F "#{session_name}" 2>/dev/null', join(host.home, ".autorun", "tmux", socket))).stdout).toBe("");
  expect((await execa("git", ["-c", "safe.directory=*", "-C", root, "worktree", "list"])).stdout.split("\n")).toHaveLength(1);
  expect((await execa("git", ["-c", "safe.directory=*", "-C", root, "branch", "--list", "worktree-*"])).stdout.trim()).toBe("");
}
