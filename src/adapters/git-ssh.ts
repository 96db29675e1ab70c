/**
 * git between the controller and a host, through the host's shared ssh connection: `git push`
 * (and `git fetch`) with `GIT_SSH_COMMAND` set to a small wrapper autorun writes next to the connection's
 * socket.
 *
 * git would run `ssh <host> "git-receive-pack '<path>'"`: the path inside a command line for the
 * person's login shell. Instead the wrapper runs ssh with the connection's own arguments (quoted
 * into the wrapper when it is written) and a constant remote command, and sends the service and
 * the repository's path as the first two lines of the stream; the host reads them with `read -r`
 * (which takes one byte at a time from a pipe, leaving git's protocol to the service) and checks
 * the service is one of git's two. So nothing variable reaches a shell on the host.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lastLine, runProgram, type RunResult } from "./exec.js";
import { controlPath, quoteSh, sshArgs, type SshSettings, type SshTarget } from "./ssh.js";
import { ToolError } from "../errors.js";

/** What the host runs: the service and the repository from the first two lines, then git's protocol. */
export const REMOTE_GIT = 'IFS= read -r s && IFS= read -r d && case "$s" in git-receive-pack|git-upload-pack) exec "$s" "$d";; esac; echo "autorun: not a git service: $s" >&2; exit 2';

/** The wrapper for `target`: written once (atomically), reused by every push and fetch. */
export function gitSshWrapper(s: SshSettings, target: SshTarget): string {
  const file = `${controlPath(s.home, target)}.git-ssh`;
  const ssh = ["ssh", ...sshArgs(s, target, ["sh", "-c", quoteSh(REMOTE_GIT)])].map(quoteSh).join(" ");
  const text = [
    "#!/bin/sh",
    "# autorun: git's ssh for one host (see src/adapters/git-ssh.ts). git passes <host> <command>;",
    "# only the service is taken from the command, the repository comes from AUTORUN_GIT_DIR.",
    'case "$2" in "git-receive-pack "*) svc=git-receive-pack;; "git-upload-pack "*) svc=git-upload-pack;; *) echo "autorun git-ssh: unexpected command" >&2; exit 2;; esac',
    `{ printf '%s\\n%s\\n' "$svc" "$AUTORUN_GIT_DIR"; exec cat; } | exec ${ssh}`,
    "",
  ].join("\n");
  if (!existsSync(file) || readFileSync(file, "utf8") !== text) {
    mkdirSync(join(s.home, "ssh"), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o700 });
    renameSync(tmp, file);
  }
  return file;
}

export interface HostGitOptions {
  /** The local repository. */
  cwd: string;
  /** The repository on the host (absolute, or relative to the host user's home). */
  remoteDir: string;
  timeoutMs?: number;
}

function gitEnv(s: SshSettings, target: SshTarget, remoteDir: string): NodeJS.ProcessEnv {
  // GIT_SSH_COMMAND wins over a person's core.sshCommand (and GIT_SSH); git runs it through the
  // local sh with its arguments appended, so the wrapper's path is quoted. `simple`: git passes
  // only <host> <command>, no ssh options of its own.
  return { GIT_SSH_COMMAND: quoteSh(gitSshWrapper(s, target)), GIT_SSH_VARIANT: "simple", AUTORUN_GIT_DIR: remoteDir };
}

/** The URL git is given: the wrapper ignores its host and path (the path travels in AUTORUN_GIT_DIR). */
const HOST_URL = "ssh://autorun-host/repository";

async function runGit(host: { s: SshSettings; target: SshTarget; o: HostGitOptions }, args: string[], what: string): Promise<RunResult> {
  const { s, target, o } = host;
  const env = gitEnv(s, target, o.remoteDir);
  const r = await runProgram("git", args, { cwd: o.cwd, env, timeoutMs: o.timeoutMs ?? 60_000 });
  if (!r.ok) throw new ToolError(`${what} host ${target.name} (${o.remoteDir}) failed: ${lastLine(r.stderr) ?? `exit ${r.code}`}`, { argv: ["git", ...args], code: r.code, stderr: r.stderr, cwd: o.cwd });
  return r;
}

/** `git push` of `refspecs` (`<commit>:<ref>`, `+` to force) to the host's repository. */
export async function pushToHost(s: SshSettings, target: SshTarget, o: HostGitOptions, refspecs: readonly string[]): Promise<void> {
  await runGit({ s, target, o }, ["push", "--quiet", "--no-verify", HOST_URL, ...refspecs], "git push to");
}

/** `git fetch` of `refspecs` (`<ref>:<local ref>`) from the host's repository. */
export async function fetchFromHost(s: SshSettings, target: SshTarget, o: HostGitOptions, refspecs: readonly string[]): Promise<void> {
  await runGit({ s, target, o }, ["fetch", "--quiet", "--no-tags", HOST_URL, ...refspecs], "git fetch from");
}
