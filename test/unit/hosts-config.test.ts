/** `hosts` / `sshOptions` in the configuration, and the plan's Host: / Needs: checked against them. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/state/config.js";
import { parsePlan } from "../../src/core/parse-plan.js";
import { checkStageHosts, hostChanges, resolveHosts } from "../../src/core/hosts.js";
import { UserError } from "../../src/errors.js";

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "autorun-hosts-config-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function load(body: unknown) {
  const project = join(dir, "project");
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, "autorun.config.json"), JSON.stringify(body));
  return loadConfig(join(dir, "home"), project, {}, {});
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).exitCode).toBe(2);
    return (error as Error).message;
  }
  throw new Error("no error");
}

const example = {
  maxParallel: 6,
  sshOptions: ["-o", "Compression=yes"],
  hosts: {
    local: { slots: 2 },
    box1: { ssh: "me@box1", slots: 8, root: "/srv/autorun/{project}", labels: ["gpu"], env: ["ANTHROPIC_API_KEY"], sshOptions: ["-F", "/home/me/.ssh/autorun_config"], autorun: "/opt/autorun/bin/autorun", agentCommand: ["claude", "{args}"] },
  },
};

describe("hosts in the configuration", () => {
  it("reads every field, local first, ssh options top-level then the host's", () => {
    const c = load(example);
    expect(resolveHosts(c)).toEqual([
      { name: "local", local: true, slots: 2, labels: [], sshOptions: [], env: [], autorun: "autorun" },
      { name: "box1", local: false, slots: 8, labels: ["gpu"], ssh: "me@box1", sshOptions: ["-o", "Compression=yes", "-F", "/home/me/.ssh/autorun_config"], root: "/srv/autorun/{project}", env: ["ANTHROPIC_API_KEY"], autorun: "/opt/autorun/bin/autorun", agentCommand: ["claude", "{args}"] },
    ]);
  });

  it("local is implicit, with slots = maxParallel", () => {
    expect(resolveHosts(load({ maxParallel: 3 }))).toEqual([{ name: "local", local: true, slots: 3, labels: [], sshOptions: [], env: [], autorun: "autorun" }]);
  });

  it.each([
    [{ hosts: { box1: { slots: 2 } } }, "hosts.box1.ssh: missing: the destination as you would type it to ssh"],
    [{ hosts: { box1: { ssh: "box1" } } }, "hosts.box1.slots: missing: how many stages"],
    [{ hosts: { box1: { ssh: "-oProxyCommand=x", slots: 1 } } }, "hosts.box1.ssh: must be an ssh destination"],
    [{ hosts: { box1: { ssh: "box1", slots: -1 } } }, "hosts.box1.slots:"],
    [{ hosts: { box1: { ssh: "box1", slots: 1.5 } } }, "hosts.box1.slots: must be a whole number"],
    [{ hosts: { box1: { ssh: "box1", slots: 1, lables: ["gpu"] } } }, 'hosts.box1: "lables" is not a key autorun knows (did you mean labels?)'],
    [{ hosts: { box1: { ssh: "box1", slots: 1, env: ["A B"] } } }, "hosts.box1.env.0: an environment variable name"],
    [{ hosts: { box1: { ssh: "box1", slots: 1, labels: ["9x"] } } }, "hosts.box1.labels.0: a label is a word"],
    [{ hosts: { local: { ssh: "box1" } } }, "hosts.local.ssh: local is this machine and takes no ssh"],
    [{ hosts: { "bad name": { ssh: "x", slots: 1 } } }, "a host name is letters, digits"],
    [{ sshOptions: ["-o", ""] }, "sshOptions.1: an ssh option cannot be empty"],
  ])("refuses %j with one line naming the file and the key", (body, message) => {
    const text = errorOf(() => load(body));
    expect(text).toContain("autorun.config.json: ");
    expect(text).toContain(message);
    expect(text.split("\n")).toHaveLength(1);
  });
});

describe("Host: and Needs: in plans", () => {
  const hosts = resolveHosts({ maxParallel: 4, hosts: { box1: { ssh: "box1", slots: 2, labels: ["gpu"] }, box2: { ssh: "box2", slots: 0, labels: ["arm"] } } });

  it("reads them from markdown lines and YAML keys; prose and stage names are not settings", () => {
    const md = parsePlan("plan.md", "# Plan\n\n## Stage 1: Setup\nHost: box1\nNeeds: gpu, big-disk\n\n## Stage 2: Train\nNeeds: Setup\nHost: the box with the GPU\n\n## Stage 3: Docs\nNeeds: more tests\n");
    expect(md.stages.map((s) => [s.id, s.settings ?? {}, s.depends_on])).toEqual([
      ["1", { host: "box1", needs: ["gpu", "big-disk"] }, []],
      ["2", {}, ["1"]],
      ["3", {}, []],
    ]);
    const yaml = parsePlan("plan.yaml", "stages:\n  - id: a\n    name: A\n    host: box1\n    labels: [gpu]\n  - id: b\n    name: B\n    needs: [a]\n");
    expect(yaml.stages.map((s) => [s.id, s.settings ?? {}, s.depends_on])).toEqual([
      ["a", { host: "box1", needs: ["gpu"] }, []],
      ["b", {}, ["a"]],
    ]);
  });

  it.each([
    ["## Stage 1: A\nHost: box9\n", "plan.md:4: stage 1: host box9 is not configured (known: local, box1, box2)"],
    ["## Stage 1: A\nHost: box2\n", "plan.md:4: stage 1: host box2 has no slots (slots: 0)"],
    ["## Stage 1: A\nHost: local\nNeeds: gpu\n", "plan.md:4: stage 1: host local does not have gpu"],
    ["## Stage 1: A\nSome words.\n\nNeeds: arm\n", "plan.md:6: stage 1: no host with slots has arm (labels: gpu)"],
  ])("refuses %j at the setting's line, naming the stage and what is known", (body, message) => {
    const plan = parsePlan("plan.md", `# Plan\n\n${body}`);
    expect(errorOf(() => checkStageHosts("plan.md", plan.stages, hosts))).toContain(message);
  });

  it("accepts a plan whose hosts and labels exist", () => {
    const plan = parsePlan("plan.md", "# Plan\n\n## Stage 1: A\nHost: box1\nNeeds: gpu\n\n## Stage 2: B\n");
    expect(() => checkStageHosts("plan.md", plan.stages, hosts)).not.toThrow();
  });
});

describe("hostChanges: a run's hosts against the configuration's now (resume)", () => {
  const box = (ssh: string, more: Record<string, unknown> = {}) => ({ ssh, slots: 2, ...more });
  it("names what was added, removed or changed; the same entry with its keys in another order is no change", () => {
    expect(hostChanges({ a: box("a", { labels: ["x"] }) }, { a: { labels: ["x"], slots: 2, ssh: "a" } }, [])).toEqual({ changed: [] });
    expect(hostChanges({ a: box("a"), b: box("b") }, { a: box("a", { autorun: "/opt/autorun" }), c: box("c") }, [])).toEqual({ changed: ["a", "b", "c"] });
  });

  it("refuses to drop a host a stage runs on or is pinned to; one that finished there does not hold it", () => {
    const before = { a: box("a"), b: box("b") };
    expect(hostChanges(before, { a: box("a") }, [{ id: "3", running: true, host: "b" }])).toEqual({ refused: "stage 3 runs on host b, which the configuration no longer names; name it again under hosts, or end that stage first (autorun done or skip)" });
    expect(hostChanges(before, { a: box("a") }, [{ id: "4", running: false, pinned: "b" }])).toEqual({ refused: "stage 4 is pinned to host b (Host: b), which the configuration no longer names; name it again under hosts, or skip that stage (autorun skip)" });
    expect(hostChanges(before, { a: box("a") }, [{ id: "2", running: false, host: "b" }, { id: "5", running: true, host: "local", pinned: "local" }])).toEqual({ changed: ["b"] });
  });
});
