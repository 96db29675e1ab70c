/**
 * `autorun doctor --claude`: the person's own claude, driven for about 30 s through every screen
 * and hook an unattended run depends on, against the Messages API stand-in autorun ships
 * (adapters/claude-stand-in.ts) on 127.0.0.1. Everything it touches is made for it and removed
 * after it, Ctrl-C included: a temp HOME seeded as after Claude Code's first run (so neither
 * ~/.claude nor ~/.claude.json is read or written), a temp git project, a private tmux server
 * (its socket in the temp dir, no tmux.conf), a fake key (no tokens are spent). The hooks are
 * autorun's own (`autorun hook <Name>` into a throwaway orchestration), so what is checked is what
 * the monitor would read: the screen through its classifier, each hook as the event it becomes.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { agentSettings, CLAUDE_TESTED_RANGE, packageRoot } from "../adapters/agent.js";
import { HOOK_EVENTS } from "../types/constants.js";
import { claudeEnv, claudeHome, compareVersions, startApi, type Api, type Call, type Reply } from "../adapters/claude-stand-in.js";
import { runProgram } from "../adapters/exec.js";
import { isAlive, signal } from "../adapters/process.js";
import { PaneDriver, waitUntil, type TmuxRun } from "../adapters/pane-driver.js";
import { classifyPane, type PaneState } from "../monitor/pane.js";
import type { Ctx } from "./ctx.js";

interface Item {
  name: string;
  ok: boolean;
  detail: string;
  /** What a failure means for an unattended run. */
  meaning: string;
}

type Event = Record<string, unknown>;

const SCREEN_MS = 20_000;
const HOOK_MS = 10_000;

/** Runs the check with `bin` (a Claude Code program); prints a line per item; 0 when all were understood. */
export async function runClaudeCheck(ctx: Ctx, bin: string, versionText: string): Promise<number> {
  const version = /\d+\.\d+\.\d+/.exec(versionText)?.[0] ?? versionText;
  ctx.out(`Driving ${bin} (${version}) for about 30 s against autorun's local API stand-in (127.0.0.1, a temp HOME, a fake key: nothing of yours is read or written, no tokens are spent).`);
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "autorun-doctor-")));
  const socket = `doctor-${process.pid}`;
  const base = { PATH: ctx.env.PATH ?? "/usr/bin:/bin", HOME: join(dir, "home"), TMUX_TMPDIR: dir, GIT_CONFIG_NOSYSTEM: "1" };
  mkdirSync(base.HOME, { recursive: true });
  const tmux: TmuxRun = async (...args) => {
    const r = await runProgram("tmux", ["-L", socket, "-f", "/dev/null", ...args], { env: base, onlyEnv: true, timeoutMs: 15_000 });
    return { code: r.code ?? 1, stdout: r.stdout };
  };
  let api: Api | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      // The claudes are waited for: one still exiting writes its HOME again after it is removed.
      const panes = await tmux("list-panes", "-a", "-F", "#{pane_pid}").catch(() => ({ code: 1, stdout: "" }));
      const pids = panes.code === 0 ? panes.stdout.split("\n").map(Number).filter((p) => p > 1) : [];
      await tmux("kill-server").catch(() => undefined);
      await waitUntil("the claudes to exit", () => pids.every((p) => !isAlive(p)), 5_000, 100).catch(() => pids.forEach((p) => signal(p, "SIGKILL")));
      await api?.close().catch(() => undefined);
      // The killed claudes and their hooks may still write for a moment as they exit.
      for (let i = 0; ; i++) {
        try {
          rmSync(dir, { recursive: true, force: true });
          await new Promise((r) => setTimeout(r, 300));
          if (!existsSync(dir)) break;
        } catch (error) {
          if (i >= 20) return ctx.err(`autorun doctor: could not remove ${dir} (${(error as Error).message}); remove it yourself`);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    })());
  const onSignal = (sig: NodeJS.Signals) => void cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const items: Item[] = [];
  try {
    await checkAll(bin, version, dir, base, tmux, (a) => (api = a), items);
  } catch (error) {
    items.push({ name: "the check itself", ok: false, detail: (error as Error).message.split("\n")[0]!, meaning: "autorun could not drive this claude at all; an unattended run would likely not start or not be watched" });
  } finally {
    await cleanup();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  for (const i of items) ctx.out(`${i.ok ? "✓" : "✗"} ${i.name}: ${i.detail}${i.ok ? "" : `\n    for an unattended run: ${i.meaning}`}`);
  const failed = items.filter((i) => !i.ok).length;
  ctx.out(failed === 0 ? `autorun understood Claude Code ${version}: all ${items.length} screens and hooks.` : `${failed} of ${items.length} not understood: do not leave Claude Code ${version} unattended with autorun until this is fixed (or install a tested release).`);
  return failed === 0 ? 0 : 1;
}

async function checkAll(bin: string, version: string, dir: string, base: Record<string, string>, tmux: TmuxRun, started: (api: Api) => void, items: Item[]): Promise<void> {
  // A project to run in, trusted in the seeded HOME.
  const repo = join(dir, "project");
  mkdirSync(repo);
  writeFileSync(join(repo, "README.md"), "# autorun doctor --claude\n");
  const git = (...args: string[]) => runProgram("git", ["-c", "user.name=autorun", "-c", "user.email=doctor@autorun.invalid", "-C", repo, ...args], { env: base, onlyEnv: true });
  for (const args of [["init", "-q", "-b", "main"], ["add", "README.md"], ["commit", "-q", "-m", "init"]]) {
    const r = await git(...args);
    if (!r.ok) throw new Error(`git ${args[0]!} in ${repo} failed: ${r.stderr.trim()}`);
  }
  const home = claudeHome(dir, [repo]);
  // A throwaway orchestration whose events.jsonl the hooks append to, as a stage's would.
  const autorunHome = join(dir, "autorun");
  const orchDir = join(autorunHome, "orchestration", "doctor-check");
  mkdirSync(orchDir, { recursive: true });
  const events = join(orchDir, "events.jsonl");
  writeFileSync(events, JSON.stringify({ ts: new Date().toISOString(), type: "orchestration_started", plan_name: "doctor-check", project_slug: "doctor", stages: [{ id: "main" }, { id: "limit" }, { id: "login" }] }) + "\n");

  // Sessions whose first prompt meets the API's usage limit, or a refused key; then the main session's turns.
  const LIMIT: Reply = { status: 429, error: { type: "rate_limit_error", message: "This request would exceed your account's rate limit. Please try again later." }, headers: { "retry-after": "60" } };
  const LOGIN: Reply = { status: 401, error: { type: "authentication_error", message: "invalid x-api-key" } };
  let reply: (call: Call) => Reply | Promise<Reply> = () => ({ blocks: [{ text: "Hello." }], done: true });
  const api = await startApi((call) => (call.userTexts[0] === "hit the limit" ? LIMIT : call.userTexts[0] === "log in" ? LOGIN : reply(call)));
  started(api);
  const autorunBin = join(packageRoot(), "dist", "bin", "autorun");
  const env = (extra: Record<string, string> = {}) =>
    Object.entries({
      ...base,
      PATH: `${dirname(autorunBin)}:${base.PATH}`,
      TERM: "xterm-256color",
      LANG: process.env.LANG ?? "C.UTF-8",
      ...claudeEnv(home, api),
      AUTORUN_HOME: autorunHome,
      AUTORUN_ORCH_DIR: orchDir,
      AUTORUN_STAGE: "main",
      AUTORUN_BIN: autorunBin,
      ...extra,
    }).map(([k, v]) => `${k}=${v}`);
  const argv = [bin, "--permission-mode", "default", "--settings", JSON.stringify(agentSettings())];

  // The events each session's hooks wrote (AUTORUN_STAGE names the session).
  const readEvents = (stage = "main"): Event[] =>
    readFileSync(events, "utf8")
      .split("\n")
      .filter(Boolean)
      .flatMap((l) => {
        try {
          const e = JSON.parse(l) as Event;
          return e.stage === stage ? [e] : [];
        } catch {
          return [];
        }
      });
  const hook = async (name: string, type: string, after: number, fields: string[], meaning: string) => {
    try {
      const e = await waitUntil(`the ${name} hook`, () => readEvents().slice(after).find((x) => x.type === type), HOOK_MS, 200);
      const missing = fields.filter((f) => e[f] === undefined || e[f] === "");
      items.push({ name: `${name} hook`, ok: missing.length === 0, detail: missing.length === 0 ? `arrived as ${type}${fields.length ? ` with ${fields.join(", ")}` : ""}` : `arrived as ${type} without ${missing.join(", ")}`, meaning });
    } catch {
      items.push({ name: `${name} hook`, ok: false, detail: `did not arrive within ${HOOK_MS / 1000} s`, meaning });
    }
  };
  let tui: PaneDriver | undefined;
  const screen = async (name: string, re: RegExp, ok: (s: PaneState) => boolean, meaning: string, animated = false) => {
    let text: string;
    try {
      text = await tui!.screen(`the ${name} screen`, re, { animated, timeoutMs: SCREEN_MS });
    } catch {
      items.push({ name: `${name} screen`, ok: false, detail: `did not appear within ${SCREEN_MS / 1000} s`, meaning });
      throw new Stop();
    }
    const got = classifyPane(text);
    items.push({ name: `${name} screen`, ok: ok(got), detail: `read as ${describe(got)}`, meaning });
  };

  // One session through welcome, typing, a turn, an interruption, an idle prompt and a permission
  // dialog; the failing sessions start meanwhile, their screens read after it.
  try {
    tui = await PaneDriver.start(tmux, "main", argv, ["-i", ...env()], repo);
    for (const name of ["limit", "login"]) await PaneDriver.start(tmux, name, [...argv, name === "limit" ? "hit the limit" : "log in"], ["-i", ...env({ AUTORUN_STAGE: name, CLAUDE_CODE_MAX_RETRIES: "0" })], repo);
    await screen("welcome", /for shortcuts|❯/, (s) => s.kind === "welcome" || (s.kind === "idle" && s.input === ""), "a session still starting could be taken for one stuck at its prompt");
    await hook("SessionStart", "session_started", 0, ["transcript"], "autorun would not learn that a stage's session started, nor where its transcript is");
    await tui.type("hello there");
    await screen("typed", /hello there/, (s) => s.kind === "idle" && s.input === "hello there", "autorun could not tell half-typed text from an empty prompt, and would type its nudges onto it");
    await tui.keys("C-u");

    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const waiting = new Promise<void>((resolve) => (holding = resolve));
    const readme = { tool: "Read", input: { file_path: join(repo, "README.md") } };
    reply = async (call) => {
      if (!call.tools.some((t) => t.name === "Read")) return { blocks: [{ text: "Reading first." }, readme] };
      holding();
      await held;
      return { blocks: [{ text: "Too late." }], done: true };
    };
    let seen = readEvents().length;
    await tui.submit("think hard");
    await Promise.race([waiting, new Promise((r) => setTimeout(r, SCREEN_MS))]);
    await screen("busy", /esc to interrupt/, (s) => s.kind === "busy", "autorun would nudge or interrupt a stage while it works", true);
    await hook("UserPromptSubmit", "prompt_submitted", seen, [], "autorun would not see that its messages reached a stage");
    await tui.keys("Escape");
    await screen("interrupted", /Interrupted/, (s) => s.kind === "idle" && s.input === "", "an interrupted stage would not be seen waiting at its prompt");
    release();
    await tui.keys("C-u");

    reply = () => ({ blocks: [{ text: "All done here." }], done: true });
    seen = readEvents().length;
    await tui.submit("say done");
    await screen("idle", /All done here/, (s) => s.kind === "idle" && s.input === "", "a stage that stopped would not be seen waiting and would sit until the stall timeout");
    await hook("Stop", "agent_stopped", seen, ["transcript"], "a stage's end of turn would be seen only from its screen, later, and its transcript not read");

    reply = (call) => (call.tools.some((t) => t.input.command === "make --version") ? { blocks: [{ text: "Noted." }], done: true } : { blocks: [{ bash: "make --version", description: "Show make version" }] });
    seen = readEvents().length;
    await tui.submit("check make");
    await screen("permission dialog", /Do you want to proceed/, (s) => s.kind === "permission" && s.question.includes("make --version"), "a stage waiting on a permission dialog would not get a review naming the command, and would wait all night");
    await hook("Notification", "stage_needs_permission", seen, ["message"], "a permission dialog would be known only from the screen, at the monitor's next look");
    await tui.keys("Escape");
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
  }
  await tui?.kill().catch(() => undefined);

  const failures: [string, string, RegExp, PaneState["kind"], string][] = [
    ["limit", "429 usage limit", /429/, "rate_limited", "autorun would type into a rate-limited claude instead of pausing the run until the limit resets"],
    ["login", "login error", /Invalid API key|\/login/i, "login", "autorun would nudge a logged-out claude instead of asking you to log in"],
  ];
  for (const [session, name, re, kind, meaning] of failures) {
    tui = PaneDriver.attach(tmux, session);
    try {
      await screen(name, re, (s) => s.kind === kind, meaning);
      if ((HOOK_EVENTS as readonly string[]).includes("StopFailure")) {
        // What StopFailure becomes is the monitor's business; any event but the usual ones is it.
        const usual = new Set(["session_started", "prompt_submitted", "agent_stopped", "session_ended"]);
        const e = await waitUntil("StopFailure", () => readEvents(session).find((x) => !usual.has(String(x.type))), HOOK_MS, 200).catch(() => undefined);
        // Releases before the newest tested may predate the hook: the screen alone tells then.
        const predates = compareVersions(version, CLAUDE_TESTED_RANGE.newest) < 0;
        const detail = e ? `arrived as ${String(e.type)}` : predates ? "not sent by this release (the screen above tells instead)" : `did not arrive within ${HOOK_MS / 1000} s`;
        items.push({ name: `StopFailure hook (${name})`, ok: e !== undefined || predates, detail, meaning: "autorun would know of the failure only from the screen, later" });
      }
    } catch (error) {
      if (!(error instanceof Stop)) throw error;
    }
    await tui.kill().catch(() => undefined);
  }
}

/** A screen that never appeared: the rest of that session's checks cannot run. */
class Stop extends Error {}

function describe(s: PaneState): string {
  if (s.kind === "idle") return s.input ? `idle with "${s.input}" typed` : "idle at an empty prompt";
  if (s.kind === "permission" || s.kind === "question") return `${s.kind} ("${s.question.slice(0, 100)}")`;
  return s.kind;
}
