/**
 * Where Claude Code keeps a conversation: `<config dir>/projects/<the session's working directory
 * with every character but ASCII letters and digits replaced by '-'>/<session id>.jsonl`, the
 * config dir being `$CLAUDE_CONFIG_DIR`, else `~/.claude`. `claude --resume <id>` finds a
 * conversation only there, for the directory it is started in: a conversation moved to another
 * machine (or another path) must be placed under the name of the directory it resumes in.
 */
import { homedir } from "node:os";
import { join } from "node:path";

/** The projects directory's entry for a working directory. */
export function claudeProjectName(cwd: string): string {
  return cwd.replace(/[^A-Za-z0-9]/g, "-");
}

/** Claude Code's config directory for an agent started with `env`. */
export function claudeConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CLAUDE_CONFIG_DIR || join(env.HOME || homedir(), ".claude");
}

/** The transcript of session `sessionId` of an agent working in `cwd`. */
export function claudeTranscriptPath(configDir: string, cwd: string, sessionId: string): string {
  return join(configDir, "projects", claudeProjectName(cwd), `${sessionId}.jsonl`);
}

/** A session id fit for a file name (autorun's are UUIDs). */
export function plainSessionId(id: string | null | undefined): id is string {
  if (id === null) return false;
  return id !== undefined && /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/.test(id);
}
