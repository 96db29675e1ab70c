/**
 * What each configured host has: reachable (without a password, through the shared connection),
 * and the versions of autorun, tmux, git and the agent command there. `autorun hosts` prints it;
 * `autorun doctor` turns it into findings with `hostFindings`.
 */
import { lastLine, runProgram } from "../adapters/exec.js";
import { runScript, scriptInput, type SshSettings } from "../adapters/ssh.js";
import { isClaude, ownVersion } from "../adapters/agent.js";
import type { HostSpec } from "../core/hosts.js";
import { commandLine } from "../core/printable.js";
import { callHost, hostRoot } from "../host/remote-host.js";

export interface HostProbe {
  name: string;
  reachable: boolean;
  /** Why not, in one line (ssh's own words). */
  error?: string;
  /** First line of each `--version`; null when the command is not found on the host. */
  versions: { autorun: string | null; tmux: string | null; git: string | null; agent: string | null };
  /** What Claude Code's Bash sandbox needs that the host lacks (`bwrap`, `socat`); none when not reachable. */
  sandboxLacks: string[];
  ms: number;
}

/**
 * Run by `sh -s` on the host with the autorun and agent commands as $1 and $2, the four at once
 * (each prints one short line: one write, so lines do not mix). Every command reads /dev/null,
 * not the script's stdin. A non-interactive ssh session reads no shell profile: a
 * command installed under the person's own PATH additions needs its full path in the configuration.
 */
const PROBE = `report() {
  key=$1; shift
  if command -v "$1" >/dev/null 2>&1; then
    printf '%s\\t%s\\n' "$key" "$("$@" </dev/null 2>&1 | head -n 1)"
  else
    printf '%s\\t\\n' "$key"
  fi
}
report autorun "$1" --version &
report tmux tmux -V &
report git git --version &
report agent "$2" --version &
wait
# What Claude Code's Bash sandbox needs there (Linux; macOS has Seatbelt).
[ "$(uname)" = Darwin ] || for p in bwrap socat; do command -v "$p" >/dev/null 2>&1 || printf 'lacks\t%s\n' "$p"; done`;

function parseProbe(stdout: string): HostProbe["versions"] {
  const v: HostProbe["versions"] = { autorun: null, tmux: null, git: null, agent: null };
  for (const line of stdout.split("\n")) {
    const [key, ...rest] = line.split("\t");
    const value = rest.join("\t").trim();
    if (key && key in v) v[key as keyof typeof v] = value || null;
  }
  return v;
}

export async function probeHost(s: SshSettings, host: HostSpec, agentCommand: readonly string[], deadlineMs = 15_000): Promise<HostProbe> {
  const t0 = performance.now();
  const args = [host.autorun, (host.agentCommand ?? agentCommand)[0] ?? "claude"];
  const none = { autorun: null, tmux: null, git: null, agent: null };
  try {
    const r = host.local
      ? await runProgram("sh", ["-s"], { input: scriptInput(PROBE, args), timeoutMs: deadlineMs })
      : await runScript(s, { name: host.name, destination: host.ssh!, options: host.sshOptions }, PROBE, { args, deadlineMs });
    const ms = Math.round(performance.now() - t0);
    if (!r.ok) {
      const why = lastLine(r.stderr) ?? `exit ${r.code}`;
      return { name: host.name, reachable: false, error: why, versions: none, sandboxLacks: [], ms };
    }
    const versions = parseProbe(r.stdout);
    // On this machine, the autorun that counts is the one running.
    if (host.local) versions.autorun = ownVersion();
    const sandboxLacks = r.stdout.split("\n").flatMap((l) => (l.startsWith("lacks\t") ? [l.slice(6).trim()] : []));
    return { name: host.name, reachable: true, versions, sandboxLacks, ms };
  } catch (error) {
    return { name: host.name, reachable: false, error: (error as Error).message, versions: none, sandboxLacks: [], ms: Math.round(performance.now() - t0) };
  }
}

export interface HostFinding {
  level: "ok" | "warn" | "problem";
  text: string;
  /** The host it is about. */
  host: string;
}

/**
 * Claude Code's workspace trust of the host's project roots: a root set in the configuration, or
 * `{project}` filled in for each orchestration not yet over (`projects`). Read there, nothing made.
 */
async function trustFindings(s: SshSettings, h: HostSpec, agent: string, projects: readonly string[]): Promise<HostFinding[]> {
  const at = `host ${h.name} (${h.ssh})`;
  const roots = h.root !== undefined && !h.root.includes("{project}") ? [h.root] : [...new Set(projects.map((p) => hostRoot(h, p)))];
  const out: HostFinding[] = [];
  for (const root of roots) {
    try {
      const { trusted, root: where } = (await callHost(s, h, { command: "versions", input: { agent, root }, deadlineMs: 15_000 })) as { trusted?: boolean | null; root?: string };
      const shown = where ?? root;
      if (trusted === true) out.push({ level: "ok", host: h.name, text: `${at}: Claude Code trusts ${shown} there` });
      else if (trusted === false) out.push({ level: "problem", host: h.name, text: `${at}: Claude Code has not been trusted in ${shown} there, and claude --worktree exits without it; on ${h.name}, run claude in ${shown} once and accept "Yes, I trust this folder"` });
      else out.push({ level: "warn", host: h.name, text: `${at}: could not tell whether Claude Code trusts ${shown} there (no readable ~/.claude.json); a launch there checks again` });
    } catch (error) {
      out.push({ level: "warn", host: h.name, text: `${at}: could not read Claude Code's trust of ${root} there: ${(error as Error).message}` });
    }
  }
  return out;
}

/**
 * Doctor's view of each host other than local: reachable, the same autorun, tmux, git, the agent,
 * and, for Claude Code, its trust of the project roots there (`projects`: slugs of runs not over)
 * and, with the sandbox on, what the sandbox needs there.
 */
export async function hostFindings(s: SshSettings, hosts: readonly HostSpec[], config: { agentCommand: readonly string[]; sandbox: boolean }, projects: readonly string[] = []): Promise<HostFinding[]> {
  const { agentCommand } = config;
  const mine = ownVersion();
  const probes = await Promise.all(hosts.filter((h) => !h.local).map(async (h) => [h, await probeHost(s, h, agentCommand)] as const));
  const out: HostFinding[] = [];
  for (const [h, p] of probes) {
    const at = `host ${h.name} (${h.ssh})`;
    if (!p.reachable) {
      out.push({ level: "problem", host: h.name, text: `${at} is not reachable: ${p.error}; check that \`${commandLine(["ssh", ...h.sshOptions, h.ssh ?? h.name, "true"])}\` works with keys alone (no password or passphrase asked)` });
      continue;
    }
    const missing = (["autorun", "tmux", "git", "agent"] as const).filter((k) => p.versions[k] === null);
    const name = (k: (typeof missing)[number]) => (k === "agent" ? ((h.agentCommand ?? agentCommand)[0] ?? "claude") : k === "autorun" ? h.autorun : k);
    // Where each missing program's full path goes, if it is installed off the PATH of ssh commands.
    const key = (k: (typeof missing)[number]) => (k === "autorun" ? ` (or its full path in hosts.${h.name}.autorun)` : k === "agent" ? ` (or its full path in hosts.${h.name}.agentCommand)` : "");
    if (missing.length) out.push({ level: "problem", host: h.name, text: `${at}: not found on the host's PATH for ssh commands: ${missing.map((k) => `${name(k)}${key(k)}`).join(", ")}; install ${missing.length === 1 ? "it" : "them"} there` });
    else if (p.versions.autorun !== mine) out.push({ level: "problem", host: h.name, text: `${at}: autorun ${p.versions.autorun} there, ${mine} here; install the same version on both` });
    else {
      out.push({ level: "ok", host: h.name, text: `${at}: reachable in ${p.ms} ms; autorun ${mine}, ${p.versions.tmux}, ${p.versions.git}, ${name("agent")} ${p.versions.agent}` });
      if (isClaude(name("agent"))) out.push(...(await trustFindings(s, h, name("agent"), projects)));
      if (isClaude(name("agent")) && config.sandbox && p.sandboxLacks.length > 0) {
        const install = p.sandboxLacks.map((m) => (m === "bwrap" ? "bubblewrap" : m)).join(" and ");
        out.push({ level: "warn", host: h.name, text: `${at}: Claude Code's Bash sandbox is not available there (install ${install} there); until then the Bash commands of its stages outside the allow-list each wait for a person` });
      }
    }
  }
  return out;
}
