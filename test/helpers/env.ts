/** Test sandbox: temp dirs, a private tmux server, a git repo, the built CLI. Everything is cleaned up. */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { socketPath } from "../../src/adapters/tmux.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLI = join(ROOT, "dist", "src", "cli.js");
export const SIM = join(ROOT, "dist", "scripts", "sim-agent.js");

export interface Sandbox {
  dir: string;
  home: string;
  repo: string;
  socket: string;
  env: NodeJS.ProcessEnv;
  cli(args: string[], opts?: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; timeout?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  tmux(...args: string[]): Promise<{ code: number; stdout: string }>;
  git(...args: string[]): Promise<string>;
  writePlan(name: string, text: string): string;
  events(plan: string): Record<string, unknown>[];
  cleanup(): Promise<void>;
}

let counter = 0;

export async function makeSandbox(opts: { repo?: boolean } = {}): Promise<Sandbox> {
  const dir = mkdtempSync(join(tmpdir(), "autorun-test-"));
  const home = join(dir, "home");
  const repo = join(dir, "repo");
  const socket = `autorun-test-${process.pid}-${++counter}-${Date.now() % 100000}`;
  mkdirSync(home, { recursive: true });
  // A HOME of its own: nothing of the person's (~/.claude.json, ~/.tmux.conf, ~/.gitconfig) is read.
  const userHome = join(dir, "user-home");
  mkdirSync(userHome);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: userHome,
    AUTORUN_HOME: home,
    AUTORUN_TMUX_SOCKET: socket,
    AUTORUN_SIM_DELAY_MS: "50",
    // The simulated agent reports only its hand-over: each other phase report is an `autorun` process
    // (a third of a run's CPU). A test that watches the phases before it sets "all" (allPhases).
    AUTORUN_SIM_PHASES: "handover",
    // The monitor's safety-net tick: a dead session (which writes no event) is seen within it.
    AUTORUN_POLL_SECONDS: "1",
    GIT_AUTHOR_NAME: "test",
    GIT_AUTHOR_EMAIL: "test@example.invalid",
    GIT_COMMITTER_NAME: "test",
    GIT_COMMITTER_EMAIL: "test@example.invalid",
    NO_COLOR: "1",
  };
  for (const k of Object.keys(env)) if (k.startsWith("CLAUDECODE") || k === "TMUX") delete env[k];
  // Node reads this whole CA bundle as it starts (~30 ms of CPU per process where it is set, and a
  // run starts hundreds of node processes); nothing a test runs speaks TLS.
  delete env.NODE_EXTRA_CA_CERTS;
  const git = async (...args: string[]) => (await execa("git", ["-C", repo, ...args], { env })).stdout;
  if (opts.repo !== false) {
    mkdirSync(repo);
    await git("init", "-q", "-b", "main");
    writeFileSync(join(repo, "README.md"), "# test project\n");
    await git("add", "README.md");
    await git("commit", "-q", "-m", "init");
  }
  const sb: Sandbox = {
    dir,
    home,
    repo,
    socket,
    env,
    async cli(args, o = {}) {
      const r = await execa(process.execPath, [CLI, ...args], {
        cwd: o.cwd ?? repo,
        env: { ...env, ...o.env },
        extendEnv: false,
        input: o.input ?? "",
        reject: false,
        timeout: o.timeout ?? 60_000,
      });
      return { code: r.exitCode ?? 1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    async tmux(...args) {
      const r = await execa("tmux", ["-L", socket, ...args], { reject: false, env });
      return { code: r.exitCode ?? 1, stdout: String(r.stdout) };
    },
    git,
    writePlan(name, text) {
      const file = join(existsSync(repo) ? repo : dir, name);
      writeFileSync(file, text);
      return file;
    },
    events(plan) {
      const file = join(home, "orchestration", plan, "events.jsonl");
      if (!existsSync(file)) return [];
      return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async cleanup() {
      // Stop every process this sandbox started (the monitor, agents and whatever they spawned all
      // carry its AUTORUN_HOME), then the tmux server, then the files.
      const ours = () => {
        const pids: number[] = [];
        for (const entry of readdirSync("/proc")) {
          if (!/^\d+$/.test(entry) || Number(entry) === process.pid || Number(entry) === process.ppid) continue;
          try {
            if (readFileSync(`/proc/${entry}/environ`, "utf8").includes(`AUTORUN_HOME=${home}\0`)) pids.push(Number(entry));
          } catch {
            // gone, or not ours to read
          }
        }
        return pids;
      };
      for (const pid of ours()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await execa("tmux", ["-L", socket, "kill-server"], { reject: false });
      rmSync(socketPath(socket), { force: true });
      for (let i = 0; i < 20 && ours().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
      // A program that was just killed may still be writing its last files (claude its history).
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
  return sb;
}

/**
 * What a sandbox's runs were doing, for a failed test's output: per orchestration the last lines of
 * its monitor log and events, then every tmux session's screen.
 */
export async function describeSandbox(sb: Sandbox, lines = 40): Promise<string> {
  const out: string[] = [];
  const tail = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean).slice(-lines) : ["(none)"]);
  const runs = join(sb.home, "orchestration");
  for (const plan of existsSync(runs) ? readdirSync(runs) : []) {
    out.push(`=== ${plan}: monitor log`, ...tail(join(sb.home, "logs", `${plan}-monitor.log`)));
    out.push(`=== ${plan}: events`, ...tail(join(runs, plan, "events.jsonl")));
  }
  const sessions = await sb.tmux("list-sessions", "-F", "#{session_name}");
  for (const session of sessions.code === 0 ? sessions.stdout.split("\n").filter(Boolean) : []) {
    out.push(`=== screen of ${session}`, (await sb.tmux("capture-pane", "-p", "-t", `=${session}:`)).stdout.trimEnd());
  }
  return out.join("\n");
}

/** The simulated agent of this sandbox's runs reports every phase, not only its hand-over. */
export function allPhases(sb: Sandbox): void {
  sb.env.AUTORUN_SIM_PHASES = "all";
}

/** Waits for a condition with a deadline (never a bare sleep). */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
}

/**
 * Checks that something stays true for `ms` (a thing that must not happen: a nudge into a dialog),
 * looking every `everyMs` and failing at the first look where it does not hold.
 */
export async function holdsFor(what: string, ms: number, fn: () => boolean | Promise<boolean>, everyMs = 100): Promise<void> {
  const until = Date.now() + ms;
  do {
    if (!(await fn())) throw new Error(`${what} stopped holding after ${ms - (until - Date.now())} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  } while (Date.now() < until);
}

export const simAgentCmd = JSON.stringify([process.execPath, SIM]);
