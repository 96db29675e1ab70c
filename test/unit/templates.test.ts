import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli.js";
import { parseAgentCmd } from "../../src/adapters/agent.js";
import { ROOT } from "../helpers/env.js";

const dir = join(ROOT, "orchestration-templates");

/** Every `autorun …` command line the templates tell an agent to run (code spans and blocks). */
function commandLines(): { file: string; line: string }[] {
  const out: { file: string; line: string }[] = [];
  for (const file of readdirSync(join(dir, "commands"))) {
    const text = readFileSync(join(dir, "commands", file), "utf8");
    for (const raw of text.split("\n")) {
      for (const m of raw.matchAll(/(?:^\s*|`)(autorun [^`\n]+?)(?=`|\s*$)/g)) {
        if (!m[1]!.includes("…")) out.push({ file, line: m[1]!.trim() });
      }
    }
  }
  return out;
}

function neuter(cmd: Command, seen: string[]): void {
  cmd.exitOverride();
  cmd.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  if (cmd.commands.length === 0) cmd.action(() => void seen.push(cmd.name()));
  for (const sub of cmd.commands) neuter(sub, seen);
}

describe("orchestration-templates", () => {
  it("is a plugin with a kebab-case name and the five commands", () => {
    const manifest = JSON.parse(readFileSync(join(dir, ".claude-plugin", "plugin.json"), "utf8")) as { name: string; version: string };
    expect(manifest.name).toMatch(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
    expect(readdirSync(join(dir, "commands")).sort()).toEqual(["create_plan.md", "implement_plan.md", "merge.md", "research_codebase.md", "start.md"]);
    for (const f of readdirSync(join(dir, "commands"))) expect(readFileSync(join(dir, "commands", f), "utf8")).toMatch(/^---\ndescription: .+\n/);
  });

  const lines = commandLines();
  it("tells the agent to run autorun commands", () => expect(lines.length).toBeGreaterThanOrEqual(15));
  it.each(lines.map((l) => [l.file, l.line]))("%s: %s parses", async (_file, line) => {
    const seen: string[] = [];
    const program = buildProgram(() => undefined);
    neuter(program, seen);
    await program.parseAsync(["node", "autorun", ...parseAgentCmd(line).slice(1)]);
    expect(seen).toHaveLength(1);
  });
  it("a wrong line would not parse", async () => {
    const program = buildProgram(() => undefined);
    neuter(program, []);
    await expect(program.parseAsync(["node", "autorun", "phase", "implement", "start", "--bogus"])).rejects.toThrow();
  });
});
