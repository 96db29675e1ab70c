/**
 * The real Claude Code CLI in tests, run against the Messages API stand-in autorun ships
 * (src/adapters/claude-stand-in.ts): `claudeBins()` are the pinned `@anthropic-ai/claude-code`
 * versions from devDependencies (or `AUTORUN_TEST_CLAUDE`), and the stage workflow as a script.
 * Nothing here talks to the network or a model: every answer comes from the test's script.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { execaSync } from "execa";
import { ROOT } from "./env.js";
import { compareVersions, type Block, type Call } from "../../src/adapters/claude-stand-in.js";

export * from "../../src/adapters/claude-stand-in.js";

/** A Claude Code the lane runs: its native program and the version it reports. */
export interface ClaudeUnderTest {
  version: string;
  bin: string;
}

/**
 * The claude programs the lane runs: `AUTORUN_TEST_CLAUDE` alone when it is set (any installed
 * binary: the next release is a one-command check), else every `@anthropic-ai/claude-code` pinned in
 * devDependencies, npm aliases included (`"claude-code-newest": "npm:@anthropic-ai/claude-code@…"`),
 * oldest first. Each package's `bin` is the native program once its postinstall has copied it in.
 */
export function claudeBins(env: NodeJS.ProcessEnv = process.env): ClaudeUnderTest[] {
  const chosen = env.AUTORUN_TEST_CLAUDE;
  if (chosen) {
    const version = claudeVersion(chosen);
    if (!version) throw new Error(`AUTORUN_TEST_CLAUDE=${chosen}: not a Claude Code program (its --version does not say "Claude Code")`);
    return [{ version, bin: chosen }];
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { devDependencies?: Record<string, string> };
  const found: ClaudeUnderTest[] = [];
  for (const [name, spec] of Object.entries(pkg.devDependencies ?? {})) {
    if (name !== "@anthropic-ai/claude-code" && !spec.startsWith("npm:@anthropic-ai/claude-code@")) continue;
    const dir = join(ROOT, "node_modules", name);
    const manifest = join(dir, "package.json");
    if (!existsSync(manifest)) continue;
    const { bin } = JSON.parse(readFileSync(manifest, "utf8")) as { bin?: string | Record<string, string> };
    const rel = typeof bin === "string" ? bin : bin?.claude;
    const program = rel ? join(dir, rel) : undefined;
    const version = program ? claudeVersion(program) : undefined;
    if (program && version) found.push({ version, bin: program });
  }
  return found.sort((a, b) => compareVersions(a.version, b.version));
}

/** "2.1.332" from `claude --version`; undefined for a placeholder (the wrapper before its postinstall) or another program. */
function claudeVersion(bin: string): string | undefined {
  if (!existsSync(bin)) return undefined;
  const r = execaSync(bin, ["--version"], { reject: false, timeout: 20_000 });
  const m = /^(\d+\.\d+\.\d+) \(Claude Code\)/.exec(String(r.stdout).trim());
  return r.exitCode === 0 && m ? m[1] : undefined;
}

/** Has the conversation run this command (its exact text) yet? */
export function ran(call: Call, command: string): boolean {
  return call.tools.some((t) => t.name === "Bash" && t.input.command === command && t.result !== undefined && !neverStarted(t.result));
}

/**
 * A Bash result from a command Claude Code's sandbox never started: bubblewrap could not set up a
 * mount because a file it was told to protect vanished in between (2.1.197 makes and removes
 * placeholder files in the shared git directory around every sandboxed command, so stages running
 * commands at the same moment trip over each other's). A model retries such a command; so does the
 * script.
 */
export function neverStarted(result: string): boolean {
  return /^(Exit code \d+\n)?bwrap: Can't (find source path|get type of source)/.test(result);
}

/**
 * The stage workflow of the templates, as the model would do it: report implement start, write a
 * file, commit it, report done. The next step is the first one not yet done in the conversation,
 * so a resumed or nudged session carries on where it was.
 */
export function stageSteps(call: Call, opts: { file?: string } = {}): Block[] {
  const file = opts.file ?? `stage-${call.stage}.txt`;
  const steps: Block[] = [
    { bash: "autorun phase implement start --current 1 --total 1", description: "Report the implement phase" },
    { write: join(call.cwd, file), content: `work of stage ${call.stage}\n` },
    { bash: `git add ${file}`, description: "Stage the file" },
    { bash: `git commit -m "stage ${call.stage}: work"`, description: "Commit" },
    { bash: "autorun phase implement done", description: "Hand the branch over" },
  ];
  return steps;
}

/** Has this step been done (its tool ran) in the conversation? */
export function stepDone(call: Call, step: Block): boolean {
  if ("text" in step) return false;
  if ("bash" in step) return ran(call, step.bash);
  if ("tool" in step) return call.tools.some((t) => t.name === step.tool && t.result !== undefined);
  return call.tools.some((t) => t.name === "Write" && t.input.file_path === step.write && t.result !== undefined && t.isError !== true);
}
