import { describe, expect, it } from "vitest";
import { dialogCommand, guardedChanges, learnableRules, rulePrefix } from "../../src/core/permissions.js";

const asked = (cmd: string, description = "Check it") => `permission: Bash command · ${cmd} · ${description}`;

describe("rules a person's answer explains", () => {
  it.each([
    ["Bash(make:*)", { prefix: "make", exact: false }],
    ["Bash(make *)", { prefix: "make", exact: false }],
    ["Bash(gcc --version)", { prefix: "gcc --version", exact: true }],
    ["Bash(*)", undefined],
    ["Bash(:*)", undefined],
    ["Bash(git * --exec:*)", undefined],
    ["Bash(ls ?)", undefined],
    ["WebFetch", undefined],
    ["Edit(//etc/**)", undefined],
  ])("%s", (rule, want) => expect(rulePrefix(rule)).toEqual(want));

  it("reads the command of a dialog, never its description", () => {
    expect(dialogCommand(asked("make --version", "gcc --version"))).toBe("make --version");
    expect(dialogCommand("permission: Edit file · src/a.ts")).toBeUndefined();
    expect(dialogCommand("permission_prompt: Claude needs your permission to use Bash")).toBeUndefined();
  });

  it.each<[string, string[], string[], string[]]>([
    ["a rule for a command a person was asked about", ["Bash(gcc:*)"], [asked("gcc --version")], ["Bash(gcc:*)"]],
    ["an exact rule for exactly that command", ["Bash(gcc --version)"], [asked("gcc --version")], ["Bash(gcc --version)"]],
    ["an agent's Bash(*) whatever was asked", ["Bash(*)"], [asked("ls *")], []],
    ["a rule with no dialog at all", ["Bash(node:*)"], [], []],
    ["a rule whose command was only the dialog's description", ["Bash(curl:*)"], [asked("echo hi", "curl example.com")], []],
    ["a prefix that is not a whole word of the command", ["Bash(gc:*)"], [asked("gcc --version")], []],
    ["an exact rule for another command", ["Bash(gcc)"], [asked("gcc --version")], []],
    ["a non-Bash rule", ["WebFetch(domain:example.com)"], [asked("curl example.com")], []],
  ])("%s", (_what, found, dialogs, carried) => {
    const r = learnableRules(found, dialogs);
    expect(r.carried).toEqual(carried);
    expect(r.dropped).toEqual(found.filter((f) => !carried.includes(f)));
  });

  // Claude Code 2.1.332 draws the description first and the command alone between two rules: the
  // question reads "Bash command · <description> · <command>", so the command the dialog set apart counts.
  const asked332 = (cmd: string, description: string) => ({ message: `permission: Bash command · ${description} · ${cmd} — Do you want to proceed?`, command: cmd });
  it.each<[string, string[], { message: string; command: string }[], string[]]>([
    ["2.1.332: a person's rule for the command between the rules", ["Bash(gcc:*)"], [asked332("gcc --version", "Show gcc version")], ["Bash(gcc:*)"]],
    ["2.1.332: a rule naming only the description an agent chose", ["Bash(curl:*)"], [asked332("echo hi", "curl example.com")], []],
  ])("%s", (_what, found, dialogs, carried) => {
    const r = learnableRules(found, dialogs);
    expect(r.carried).toEqual(carried);
    expect(r.dropped).toEqual(found.filter((f) => !carried.includes(f)));
  });
});

describe("files a stage may not change without a person's merge", () => {
  it.each<[string, string[], string[][], string[]]>([
    ["the project's configuration and Claude Code's settings", ["autorun.config.json", ".claude/settings.json", ".mcp.json", "src/a.ts"], [], ["autorun.config.json", ".claude/settings.json", ".mcp.json"]],
    ["the script a check runs", ["check.sh", "src/a.ts"], [["sh", "check.sh"]], ["check.sh"]],
    ["a check that is the project's own program", ["tools/check", "x"], [["./tools/check", "--all"]], ["tools/check"]],
    ["the manifest npm test reads", ["package.json", "README.md"], [["npm", "test"]], ["package.json"]],
    ["the Makefile make reads", ["Makefile"], [["make", "check"]], ["Makefile"]],
    ["npm's settings, which can name the shell its scripts run in", [".npmrc", ".yarnrc.yml", "bunfig.toml", "src/.npmrc"], [["npm", "test"]], [".npmrc", ".yarnrc.yml", "bunfig.toml"]],
    ["a file a check only looks at", ["checked.txt"], [["test", "-f", "checked.txt"]], []],
    ["inline code", ["x.js"], [["node", "-e", "x.js"]], []],
  ])("%s", (_what, changed, checks, want) => expect(guardedChanges(changed, checks)).toEqual(want));
  it("the run's plan, when it is in the project", () => {
    expect(guardedChanges(["plans/master.md", "src/a.ts"], [], "plans/master.md")).toEqual(["plans/master.md"]);
    expect(guardedChanges(["plans/other.md"], [], "plans/master.md")).toEqual([]);
  });
});
