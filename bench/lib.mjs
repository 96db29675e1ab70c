// Shared bench plumbing: a private tmux server, a temp AUTORUN_HOME and git repo, the built CLI.
import { cpSync, mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const CLI = join(ROOT, "dist", "src", "cli.js");
export const SIM = join(ROOT, "dist", "scripts", "sim-agent.js");

/**
 * BENCH_KEEP_LOG=<prefix>: a sandbox's monitor log and its orchestration's directory copied aside
 * for reading; a file the monitor removes meanwhile (its pid file) is left out, not a crash.
 */
export function keepLog(sb, plan, label) {
  if (!process.env.BENCH_KEEP_LOG) return;
  for (const [from, to] of [[join(sb.home, "logs"), "log"], [join(sb.home, "orchestration", plan), "orch"]]) {
    try {
      cpSync(from, `${process.env.BENCH_KEEP_LOG}-${label}-${to}`, { recursive: true, force: true, filter: (src) => existsSync(src) });
    } catch (error) {
      console.log(`# could not keep ${from}: ${error.message}`);
    }
  }
}

export function figure(name, value, unit) {
  const v = typeof value === "number" ? (Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 1)) : value;
  console.log(`${name}: ${v} ${unit}`);
}

export function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

export async function sandbox(label) {
  const dir = mkdtempSync(join(tmpdir(), `autorun-bench-${label}-`));
  const home = join(dir, "home");
  const repo = join(dir, "repo");
  const socket = `autorun-bench-${label}-${process.pid}`;
  const env = { ...process.env, AUTORUN_HOME: home, AUTORUN_TMUX_SOCKET: socket, GIT_AUTHOR_NAME: "b", GIT_AUTHOR_EMAIL: "b@x.invalid", GIT_COMMITTER_NAME: "b", GIT_COMMITTER_EMAIL: "b@x.invalid" };
  delete env.TMUX;
  await execa("mkdir", ["-p", repo, home]);
  await execa("git", ["-C", repo, "init", "-q", "-b", "main"], { env });
  writeFileSync(join(repo, "README.md"), "bench\n");
  await execa("git", ["-C", repo, "add", "README.md"], { env });
  await execa("git", ["-C", repo, "commit", "-qm", "init"], { env });
  return {
    dir, home, repo, socket, env,
    cli: (args, extraEnv = {}) => execa(process.execPath, [CLI, ...args], { cwd: repo, env: { ...env, ...extraEnv }, reject: false }),
    tmux: (...args) => execa("tmux", ["-L", socket, ...args], { reject: false, env }),
    events: (plan) => {
      const f = join(home, "orchestration", plan, "events.jsonl");
      if (!existsSync(f)) return [];
      // Only whole lines: the monitor may be part-way through appending the last one.
      const text = readFileSync(f, "utf8");
      return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter(Boolean).map((l) => JSON.parse(l));
    },
    plan: (name, text) => {
      writeFileSync(join(repo, name), text);
      return join(repo, name);
    },
    async cleanup() {
      // Every process this sandbox started carries its AUTORUN_HOME: the monitor, the agents and
      // their hooks, and the ssh master connections to hosts (which outlive their first client).
      for (const pid of processesOf(home)) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
      for (const s of [socket, `${socket}-bare`]) {
        await execa("tmux", ["-L", s, "kill-server"], { reject: false });
        rmSync(join(process.env.TMUX_TMPDIR || "/tmp", `tmux-${process.getuid()}`, s), { force: true });
      }
      // Hooks of agents that were just killed may still be writing: retry a moment.
      for (let attempt = 1; ; attempt++) {
        try {
          rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
          break;
        } catch (error) {
          if (attempt === 5) throw error;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    },
  };
}

/** Pids of the processes whose environment holds AUTORUN_HOME=`home` (not this one). */
export function processesOf(home) {
  const pids = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "utf8").includes(`AUTORUN_HOME=${home}\0`)) pids.push(Number(entry));
    } catch { /* gone, or not ours to read */ }
  }
  return pids;
}

/** The pid of a plan's monitor (its pid file holds "<pid> <start time>"). */
export function monitorPid(home, plan) {
  return Number(readFileSync(join(home, "orchestration", plan, "monitor.pid"), "utf8").trim().split(/\s+/)[0]);
}

/** utime + stime of `pid` (and of its children it has waited for), in seconds. */
export function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return { own: (Number(f[11]) + Number(f[12])) / 100, children: (Number(f[13]) + Number(f[14])) / 100 };
}

/** The 1-minute load average, for figures measured on a shared machine. */
export function loadAverage() {
  return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
}

export async function until(what, fn, timeoutMs = 120_000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`bench: timed out waiting for ${what}`);
}

export const simCmd = JSON.stringify([process.execPath, SIM]);

/**
 * The host test fixture (TypeScript under test/hosts/, bundled here with its packages left as
 * imports), or undefined after printing why this machine cannot make a test host (`label: skipped (…)`).
 */
export async function hostFixture(label) {
  // Said before bundling (which writes under dist/, perhaps not this user's to write).
  if (process.platform !== "linux" || process.getuid?.() !== 0) {
    console.log(`${label}: skipped (a test host needs root on Linux: network namespaces, useradd; CI runs it as root)`);
    return undefined;
  }
  // esbuild is loaded only by the benches that need a host.
  const { build } = await import("esbuild");
  const bundled = join(ROOT, "dist", "bench", `host-fixture-${process.pid}.mjs`);
  await build({ entryPoints: [join(ROOT, "test", "hosts", "fixture.ts")], bundle: true, platform: "node", format: "esm", packages: "external", outfile: bundled, logLevel: "error" });
  const fixture = await import(bundled);
  rmSync(bundled, { force: true });
  const skip = fixture.hostLaneSkip();
  if (skip) {
    console.log(`${label}: skipped (${skip})`);
    return undefined;
  }
  return fixture;
}

export const AUTORUN_BIN = join(ROOT, "dist", "bin", "autorun");

/** A run's config entry for a test host: the built autorun and the simulated agent there. */
export function hostEntry(host, extra = {}) {
  return { ssh: host.name, slots: 8, sshOptions: host.sshOptions, root: "bench/{project}", autorun: AUTORUN_BIN, agentCommand: [process.execPath, SIM], env: ["AUTORUN_SIM_DELAY_MS", "AUTORUN_SIM_PHASES"], ...extra };
}

/** Runs `script` (sh, with `args` as $1…) as the test host's user in its namespace. */
export async function onHost(host, script, ...args) {
  return execa("ip", ["netns", "exec", host.netns, "su", "-s", "/bin/sh", host.user, "-c", script, "sh", ...args], { reject: false, timeout: 20_000 });
}

/**
 * Ends what a sandbox's runs left on the host: its tmux server (the stages' sessions there), the
 * runs' events files there and the project roots under `bench/` (hostEntry's root).
 */
export async function killHostTmux(host, socket) {
  await onHost(host, 'tmux -S "$1" kill-server 2>/dev/null; rm -rf -- "$1" "$2" "$3"', join(host.home, ".autorun", "tmux", socket), join(host.home, ".autorun", "orchestration"), join(host.home, "bench"));
}

/** `n` test hosts made for `fn` and torn down after it, whatever happens. */
export async function withHosts(fixture, names, fn) {
  const hosts = [];
  try {
    for (const name of names) hosts.push(await fixture.makeTestHost({ name }));
    return await fn(hosts);
  } finally {
    for (const h of hosts) await h.teardown().catch((e) => console.error(`bench: teardown of host ${h.name}: ${e.message}`));
  }
}

/**
 * With BENCH_TRACE=<file>: every program `pid` and its children start from now on, timed
 * (`strace -f -tt -e trace=execve`), for finding which calls a figure spends its time in. Returns
 * the function that stops the trace. strace slows what it traces: figures taken with it are not
 * the bench's figures.
 */
export function traceExecs(pid) {
  const file = process.env.BENCH_TRACE;
  if (!file) return async () => undefined;
  const child = execa("strace", ["-f", "-tt", "-s", "200", "-e", "trace=execve", "-o", file, "-p", String(pid)], { reject: false });
  return async () => {
    child.kill("SIGINT");
    await child;
  };
}
