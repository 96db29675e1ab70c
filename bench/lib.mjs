// Shared bench plumbing: a private tmux server, a temp AUTORUN_HOME and git repo, the built CLI.
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const CLI = join(ROOT, "dist", "src", "cli.js");
export const SIM = join(ROOT, "dist", "scripts", "sim-agent.js");

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
      const pidDir = join(home, "orchestration");
      if (existsSync(pidDir)) {
        for (const name of (await import("node:fs")).readdirSync(pidDir)) {
          const pidFile = join(pidDir, name, "monitor.pid");
          if (existsSync(pidFile)) try { process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL"); } catch { /* gone */ }
        }
      }
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
