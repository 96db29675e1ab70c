/**
 * A stand-in `claude` for the checks made before a run (the dry run's and the real run's): it
 * answers `--version` and `--help` as Claude Code 2.1 does, in a config dir that trusts the
 * sandbox (and, given a key, has approved it). It runs nothing else: for dry runs and refusals.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Sandbox } from "./env.js";

export function fakeClaudeEnv(sb: Sandbox, opts: { version?: string; trusted?: boolean; approvedKeys?: string[]; rejectedKeys?: string[] } = {}): NodeJS.ProcessEnv {
  const bin = join(sb.dir, "fake-claude-bin");
  const config = join(sb.dir, "fake-claude-config");
  mkdirSync(bin, { recursive: true });
  mkdirSync(config, { recursive: true });
  const help = `  --permission-mode <mode>     Permission mode to use for the session (choices: "acceptEdits", "bypassPermissions", "default", "dontAsk", "plan")`;
  writeFileSync(join(bin, "claude"), `#!/bin/sh\ncase "$1" in\n  --version) echo "${opts.version ?? "2.1.197"} (Claude Code)";;\n  --help) echo 'Usage: claude [options]'; echo '${help}';;\n  *) exit 1;;\nesac\n`, { mode: 0o755 });
  writeFileSync(
    join(config, ".claude.json"),
    JSON.stringify({
      projects: opts.trusted === false ? {} : { [sb.dir]: { hasTrustDialogAccepted: true } },
      customApiKeyResponses: { approved: (opts.approvedKeys ?? []).map((k) => k.slice(-20)), rejected: (opts.rejectedKeys ?? []).map((k) => k.slice(-20)) },
    }),
  );
  return { PATH: `${bin}:${sb.env.PATH}`, CLAUDE_CONFIG_DIR: config };
}
