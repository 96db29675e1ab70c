/**
 * `autorun init` scaffolds a plan that parses as it stands and a configuration autorun accepts, and
 * never overwrites anything; `autorun completion` gives bash (and zsh, through bashcompinit) every
 * command, subcommand and option of the table, tried in a real bash.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect } from "vitest";
import { it, itNoRepo } from "../helpers/fixture.js";
import { fakeClaudeEnv } from "../helpers/fake-claude.js";
import { findExecutable } from "../../src/adapters/process.js";

describe("autorun init", () => {
  it("writes a plan the dry run reads as three stages and a configuration autorun accepts", async ({ sb }) => {
    const r = await sb.cli(["init"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("autorun orchestrate master-plan.md --dry-run");
    const config = JSON.parse(readFileSync(join(sb.repo, "autorun.config.json"), "utf8")) as Record<string, unknown>;
    expect(config["//"]).toEqual(expect.arrayContaining([expect.stringContaining("maxParallel")]));
    const dry = await sb.cli(["orchestrate", "master-plan.md", "--dry-run", "--json"], { env: fakeClaudeEnv(sb) });
    // Each stage still holds the example text: said, so the run does not ask agents for nothing.
    expect(dry.stderr.trim().split("\n")).toEqual(["1", "2", "3"].map((id, i) => `autorun: warning: master-plan.md:${[20, 25, 30][i]}: stage ${id} still has the example text autorun init wrote; write what its agent should do under its heading.`));
    const plan = JSON.parse(dry.stdout) as { stages: { id: string; depends_on: string[] }[] };
    expect(plan.stages.map((s) => [s.id, s.depends_on])).toEqual([["1", []], ["2", ["1"]], ["3", ["1"]]]);
    // The project's file wins over the home one, key by key, and the dry run shows what applies.
    writeFileSync(join(sb.home, "config.json"), JSON.stringify({ stallSeconds: 5, maxNudges: 1 }));
    const layered = await sb.cli(["orchestrate", "master-plan.md", "--dry-run", "--json", "--max-parallel", "2"], { env: fakeClaudeEnv(sb) });
    const settings = (JSON.parse(layered.stdout) as { settings: Record<string, unknown> }).settings;
    expect(config.stallSeconds).toBeDefined();
    expect(settings).toMatchObject({ stallSeconds: config.stallSeconds, maxNudges: 1, maxParallel: 2 });
    // The configuration is read by every command: a wrong "//" would be refused here.
    writeFileSync(join(sb.repo, "autorun.config.json"), JSON.stringify({ ...config, "//": 3 }));
    const bad = await sb.cli(["orchestrate", "master-plan.md", "--dry-run"], { env: fakeClaudeEnv(sb) });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/autorun\.config\.json: \/\/: .*comments.*$/);
  });

  it("refuses an existing plan with one line and writes nothing; keeps an existing configuration", async ({ sb }) => {
    writeFileSync(join(sb.repo, "master-plan.md"), "mine\n");
    const r = await sb.cli(["init"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("master-plan.md already exists; nothing was written");
    expect(readFileSync(join(sb.repo, "master-plan.md"), "utf8")).toBe("mine\n");
    expect(existsSync(join(sb.repo, "autorun.config.json"))).toBe(false);
    writeFileSync(join(sb.repo, "autorun.config.json"), '{"maxParallel": 2}\n');
    const other = await sb.cli(["init", "--plan", "wave-1.md"]);
    expect(other.code).toBe(0);
    expect(other.stdout).toContain("kept your");
    expect(readFileSync(join(sb.repo, "autorun.config.json"), "utf8")).toBe('{"maxParallel": 2}\n');
    expect(readFileSync(join(sb.repo, "wave-1.md"), "utf8")).toContain("autorun orchestrate wave-1.md --dry-run");
    // A plan in a folder not made yet gets its folder.
    const nested = await sb.cli(["init", "--plan", "docs/plans/master-plan.md"]);
    expect(nested.code, nested.stderr).toBe(0);
    expect(readFileSync(join(sb.repo, "docs", "plans", "master-plan.md"), "utf8")).toContain("autorun orchestrate docs/plans/master-plan.md --dry-run");
  });

  itNoRepo("outside a git repository says to run git init, and writes nothing", async ({ sb }) => {
    const r = await sb.cli(["init"], { cwd: sb.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not in a git repository; .*git init/);
    expect(existsSync(join(sb.dir, "master-plan.md"))).toBe(false);
  });
});

describe("autorun completion", () => {
  /** What bash's completion offers for the words typed so far (the last one being completed). */
  async function complete(script: string, words: string[], home = "/nonexistent"): Promise<string[]> {
    const r = await execa("bash", ["--norc", "-c", `${script}\nCOMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _autorun; printf '%s\\n' "\${COMPREPLY[@]}"`, "bash", ...words], { env: { AUTORUN_HOME: home } });
    return r.stdout.split("\n").filter(Boolean);
  }

  it("completes commands, subcommands and each command's options in bash", async ({ sb }) => {
    const r = await sb.cli(["completion", "bash"]);
    expect(r.code).toBe(0);
    expect(await complete(r.stdout, ["autorun", "rev"])).toEqual(["review"]);
    expect(await complete(r.stdout, ["autorun", "review", "a"])).toEqual(["answers"]);
    expect(await complete(r.stdout, ["autorun", "orchestrate", "--dr"])).toEqual(["--dry-run"]);
    expect(await complete(r.stdout, ["autorun", "review", "new", "--q"])).toEqual(["--question"]);
    expect(await complete(r.stdout, ["autorun", "logs", "-"])).toEqual(expect.arrayContaining(["-f", "--follow", "--help"]));
    // Commands autorun runs itself on a host are not offered; a plan's name completes as a file.
    expect(await complete(r.stdout, ["autorun", "hos"])).toEqual(["hosts"]);
    expect(await complete(r.stdout, ["autorun", "status", "ma"])).toEqual([]);
    // The runs under AUTORUN_HOME complete where a command takes a run first; not a plan file to start.
    for (const run of ["master", "main-work", "other"]) mkdirSync(join(sb.home, "orchestration", run), { recursive: true });
    expect(await complete(r.stdout, ["autorun", "status", "ma"], sb.home)).toEqual(["main-work", "master"]);
    expect(await complete(r.stdout, ["autorun", "merge", "o"], sb.home)).toEqual(["other"]);
    expect(await complete(r.stdout, ["autorun", "merge", "other", "o"], sb.home)).toEqual([]);
    expect(await complete(r.stdout, ["autorun", "orchestrate", "ma"], sb.home)).toEqual([]);
    // Then a stage id of that run where a command takes one; any number of them for retry.
    mkdirSync(join(sb.home, "orchestration", "other", "stages", "stage-2b-files"), { recursive: true });
    for (const id of ["1", "2a", "2b", "10"]) writeFileSync(join(sb.home, "orchestration", "other", "stages", `stage-${id}-context.md`), "");
    expect(await complete(r.stdout, ["autorun", "done", "other", ""], sb.home)).toEqual(["1", "10", "2a", "2b"]);
    expect(await complete(r.stdout, ["autorun", "skip", "other", "2"], sb.home)).toEqual(["2a", "2b"]);
    expect(await complete(r.stdout, ["autorun", "retry", "other", "1", "2"], sb.home)).toEqual(["2a", "2b"]);
    expect(await complete(r.stdout, ["autorun", "nudge", "other", "1", "2"], sb.home)).toEqual([]);
    expect(await complete(r.stdout, ["autorun", "merge", "master", ""], sb.home)).toEqual([]);
    expect(await complete(r.stdout, ["autorun", "done", "other", "--y"], sb.home)).toEqual(["--yes"]);
  });

  it("gives zsh the same through bashcompinit, and refuses another shell", async ({ sb }) => {
    const r = await sb.cli(["completion", "zsh"]);
    expect(r.stdout).toContain("autoload -U +X bashcompinit && bashcompinit");
    expect(r.stdout).toContain("complete -o default -F _autorun autorun");
    const zsh = findExecutable("zsh");
    if (zsh) expect((await execa(zsh, ["-n", "-c", r.stdout], { reject: false })).exitCode).toBe(0);
    const fish = await sb.cli(["completion", "fish"]);
    expect(fish.code).toBe(2);
    expect(fish.stderr.trim()).toBe("autorun: completion fish: autorun completes in bash and zsh; run `autorun completion bash` or `autorun completion zsh`.");
  });
});
