/**
 * `autorun retry` of a stage that failed on a host (a real sshd in a network namespace, its own
 * Unix user, the simulated agent and the built CLI): afresh, its worktree there goes, its notes
 * (files no commit has) are brought here first and its branch there is kept aside; refused, writing
 * nothing, while that worktree has a change to a tracked file; and with stages on two hosts, a
 * refusal on the second leaves the first as it was.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSandbox, ROOT, SIM, waitFor, type Sandbox } from "../helpers/env.js";
import { eventsOf, expectClean, orchestrate, waitForEnd } from "../helpers/orch.js";
import { hostLaneSkip, makeTestHost, type TestHost } from "./fixture.js";

const skip = hostLaneSkip();
const AUTORUN = join(ROOT, "dist", "bin", "autorun");

describe.skipIf(skip)("retry of a stage on a host", () => {
  let host: TestHost;
  let other: TestHost;
  const sbs: Sandbox[] = [];
  let sb: Sandbox | undefined;
  beforeAll(async () => {
    host = await makeTestHost({ name: "box3" });
    other = await makeTestHost({ name: "box4" });
  });
  afterAll(async () => {
    await sb?.cleanup();
    for (const s of sbs) await s.cleanup();
    await host?.teardown();
    await other?.teardown();
  });
  const onHost = (script: string, ...args: string[]) => host.asUser(script, ...args);

  it("a failed stage there retried afresh: its notes come here, its worktree there goes, its branch is kept aside; a changed tracked file refuses it", async () => {
    sb = await makeSandbox();
    // The agent there exits at once while ~/refuse exists (twice: the stage fails).
    const agent = ["sh", "-c", '[ -e "$HOME/refuse" ] && { echo "refused"; sleep 0.3; exit 1; }; exec "$0" "$@"', process.execPath, SIM];
    const config = { hosts: { box3: { ssh: "box3", slots: 1, sshOptions: host.sshOptions, root: "work/{project}", env: ["AUTORUN_SIM_DELAY_MS"], autorun: AUTORUN, agentCommand: agent } } };
    writeFileSync(join(sb.home, "config.json"), JSON.stringify(config));
    await onHost('touch "$HOME/refuse"');
    const plan = sb.writePlan("again.md", "## Stage 1: There\nHost: box3\n");
    await orchestrate(sb, plan);
    expect(await waitForEnd(sb, "again", 90_000)).toBe("failed");
    const first = eventsOf(sb, "again", "stage_launched", "1")[0]!;
    expect(first.host).toBe("box3");
    const worktree = join(host.home, "work", "again", ".claude", "worktrees", "again-stage-1");
    const branch = "worktree-again-stage-1";
    expect((await onHost('test -d "$1"', worktree)).exitCode).toBe(0);

    // A change to a tracked file there: refused, nothing written here or there.
    await onHost('echo draft > "$1/notes.txt" && echo edit >> "$1/README.md"', worktree);
    const before = sb.events("again").length;
    const refused = await sb.cli(["retry", "again", "1", "--fresh-worktree"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(`autorun: stage 1's worktree on host box3 (${worktree}) has uncommitted changes (README.md); commit or undo them there, or retry without --fresh-worktree.`);
    expect(sb.events("again")).toHaveLength(before);
    expect((await onHost('test -f "$1/notes.txt"', worktree)).exitCode).toBe(0);

    // More files than can be brought back: refused, the worktree there kept.
    await onHost('git -C "$1" checkout -q -- README.md && mkdir "$1/many" && i=0; while [ $i -le 2500 ]; do : > "$1/many/f$i"; i=$((i+1)); done', worktree);
    const many = await sb.cli(["retry", "again", "1", "--fresh-worktree"]);
    expect(many.code).toBe(1);
    expect(many.stderr).toBe(`autorun: stage 1's worktree on host box3 (${worktree}) holds files no commit has, and it holds 2502 uncommitted files, too many to bring back; commit or remove them there, or retry without --fresh-worktree.`);
    expect((await onHost('test -f "$1/notes.txt"', worktree)).exitCode).toBe(0);

    // Its notes alone: brought here, then the worktree there goes.
    await onHost('rm -rf "$1/many" "$HOME/refuse"', worktree);
    const retriedAt = sb.events("again").length;
    const r = await sb.cli(["retry", "again", "1", "--fresh-worktree"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const notes = join(sb.home, "orchestration", "again", "stages", "stage-1-attempt-1-files");
    expect(r.stdout).toContain(`Stage 1: its 1 uncommitted file(s) (plan, notes) on host box3 are kept in ${notes}.`);
    expect(readFileSync(join(notes, "notes.txt"), "utf8")).toBe("draft\n");
    expect(r.stdout).toContain(`The previous branch is kept as ${branch}-attempt-1 on host box3.`);
    const end = await waitFor("the retried run to end", () => {
      const since = sb!.events("again").slice(retriedAt);
      return since.some((e) => e.type === "monitor_stopped") ? (since.find((e) => e.type === "orchestration_complete")?.status as string) : undefined;
    }, 90_000).catch((e: Error) => e.message);
    if (end !== "completed") console.log((await sb.cli(["logs", "again"])).stdout);
    expect(end).toBe("completed");
    const launches = eventsOf(sb, "again", "stage_launched", "1");
    expect(launches.map((e) => e.host)).toEqual(["box3", "box3"]);
    // The old attempt's branch is kept there; the new one started from the base and merged here.
    const there = await onHost('git -C "$1" branch --list "worktree-*"', join(host.home, "work", "again"));
    expect(there.stdout.split("\n").map((l) => l.trim())).toEqual([`${branch}-attempt-1`]);
    expect(await sb.git("log", "--merges", "--format=%s", "main")).toBe("autorun: merge stage 1: There");
    await expectClean(sb, "again");
  }, 200_000);

  it("stages on two hosts retried afresh: a changed tracked file on the second refuses it before anything is done on the first", async () => {
    const two = await makeSandbox();
    sbs.push(two);
    const agent = ["sh", "-c", 'echo "refused"; sleep 0.3; exit 1', "{stage}", "{worktree}"];
    const entry = (h: TestHost) => ({ ssh: h.name, slots: 1, sshOptions: h.sshOptions, root: "pair/{project}", autorun: AUTORUN, agentCommand: agent });
    writeFileSync(join(two.home, "config.json"), JSON.stringify({ hosts: { box3: entry(host), box4: entry(other) } }));
    const plan = two.writePlan("pair.md", "## Stage 1: One\nHost: box3\n## Stage 2: Two\nHost: box4\n");
    await orchestrate(two, plan);
    expect(await waitForEnd(two, "pair", 90_000)).toBe("failed");
    const worktree = (h: TestHost, n: number) => join(h.home, "pair", "pair", ".claude", "worktrees", `pair-stage-${n}`);
    expect((await host.asUser('test -d "$1"', worktree(host, 1))).exitCode).toBe(0);
    await other.asUser('echo edit >> "$1/README.md"', worktree(other, 2));
    const before = two.events("pair").length;
    const refused = await two.cli(["retry", "pair", "1", "2", "--fresh-worktree"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(`autorun: stage 2's worktree on host box4 (${worktree(other, 2)}) has uncommitted changes (README.md); commit or undo them there, or retry without --fresh-worktree.`);
    // Nothing done on box3 either: its worktree and branch are as they were.
    expect((await host.asUser('test -d "$1"', worktree(host, 1))).exitCode).toBe(0);
    expect((await host.asUser('git -C "$1" branch --list "worktree-*" --format="%(refname:short)"', join(host.home, "pair", "pair"))).stdout.trim()).toBe("worktree-pair-stage-1");
    expect(two.events("pair")).toHaveLength(before);
  }, 120_000);
});
