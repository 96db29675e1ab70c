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
import { DEFAULT_CONFIG } from "../state/config.js";
import { writeSettings } from "../state/settings.js";
import { claudeEnv, claudeHome, compareVersions, startApi, type Api, type Call, type Reply } from "../adapters/claude-stand-in.js";
import { runProgram } from "../adapters/exec.js";
import { isAlive, onStopSignal, processStartTime, signal } from "../adapters/process.js";
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
/** The command the check's permissionAnswers says yes to. */
const ANSWERED = "make -v";

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
      // Only live panes' programs, each known by its pid and start time: a dead pane keeps the pid
      // of a program long gone, which another process of this machine may have by now.
      const panes = await tmux("list-panes", "-a", "-F", "#{pane_dead} #{pane_pid}").catch(() => ({ code: 1, stdout: "" }));
      const live = panes.code === 0 ? panes.stdout.split("\n").flatMap((l) => (/^0 (\d+)$/.exec(l) ? [Number(l.slice(2))] : [])).filter((p) => p > 1) : [];
      const claudes = live.map((pid) => ({ pid, start: processStartTime(pid) })).filter((c) => c.start !== undefined);
      const still = () => claudes.filter((c) => isAlive(c.pid) && processStartTime(c.pid) === c.start);
      await tmux("kill-server").catch(() => undefined);
      await waitUntil("the claudes to exit", () => still().length === 0, 5_000, 100).catch(() => still().forEach((c) => signal(c.pid, "SIGKILL")));
      await api?.close().catch(() => undefined);
      // The killed claudes and their hooks may still write for a moment as they exit.
      for (let i = 0; ; i++) {
        try {
          rmSync(dir, { recursive: true, force: true });
          // A hook of a claude still exiting can write there again after a removal: gone, and still
          // gone a second later.
          await new Promise((r) => setTimeout(r, 300));
          if (!existsSync(dir)) {
            await new Promise((r) => setTimeout(r, 1_000));
            if (!existsSync(dir)) break;
          }
          if (i >= 20) return ctx.err(`autorun doctor: ${dir} is still being written to after its removal; remove it yourself once nothing runs there`);
        } catch (error) {
          if (i >= 20) return ctx.err(`autorun doctor: could not remove ${dir} (${(error as Error).message}); remove it yourself`);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    })());
  const onSignal = (sig: NodeJS.Signals) => void cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  onStopSignal(["SIGINT", "SIGTERM"], onSignal);
  const items: Item[] = [];
  try {
    await checkAll({ bin, version, dir, base, tmux, started: (a) => (api = a) }, items);
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

interface CheckSetup {
  bin: string;
  version: string;
  dir: string;
  base: Record<string, string>;
  tmux: TmuxRun;
  /** Told of the API stand-in as soon as it runs, so the cleanup can close it. */
  started: (api: Api) => void;
}

async function checkAll(setup: CheckSetup, items: Item[]): Promise<void> {
  const check = await ClaudeCheck.prepare(setup, items);
  try {
    await check.mainSession();
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
  }
  await check.tui?.kill().catch(() => undefined);
  await check.failingSessions();
}

type Respond = (call: Call) => Reply | Promise<Reply>;

/** One run of the check: a trusted project, a throwaway orchestration, the API stand-in, the sessions. */
class ClaudeCheck {
  tui: PaneDriver | undefined;
  /** What the stand-in answers the main session's next request with. */
  private reply: Respond = () => ({ blocks: [{ text: "Hello." }], done: true });
  /** When the failing sessions started: their screens are due SCREEN_MS after it, not after each other. */
  private failingSince = Date.now();

  private constructor(
    private readonly setup: CheckSetup,
    private readonly items: Item[],
    private readonly paths: { repo: string; home: string; autorunHome: string; orchDir: string; events: string },
    private readonly api: Api,
  ) {}

  static async prepare(setup: CheckSetup, items: Item[]): Promise<ClaudeCheck> {
    // A project to run in, trusted in the seeded HOME.
    const repo = join(setup.dir, "project");
    mkdirSync(repo);
    writeFileSync(join(repo, "README.md"), "# autorun doctor --claude\n");
    const git = (...args: string[]) => runProgram("git", ["-c", "user.name=autorun", "-c", "user.email=doctor@autorun.invalid", "-C", repo, ...args], { env: setup.base, onlyEnv: true });
    for (const args of [["init", "-q", "-b", "main"], ["add", "README.md"], ["commit", "-q", "-m", "init"]]) {
      const r = await git(...args);
      if (!r.ok) throw new Error(`git ${args[0]!} in ${repo} failed: ${r.stderr.trim()}`);
    }
    const home = claudeHome(setup.dir, [repo]);
    // A throwaway orchestration whose events.jsonl the hooks append to, as a stage's would.
    const autorunHome = join(setup.dir, "autorun");
    const orchDir = join(autorunHome, "orchestration", "doctor-check");
    mkdirSync(orchDir, { recursive: true });
    const events = join(orchDir, "events.jsonl");
    writeFileSync(events, JSON.stringify({ ts: new Date().toISOString(), type: "orchestration_started", plan_name: "doctor-check", project_slug: "doctor", stages: [{ id: "main" }, { id: "limit" }, { id: "login" }] }) + "\n");
    // Its configuration: the answer the PermissionRequest hook gives (answeredByHook).
    writeSettings(orchDir, { ...DEFAULT_CONFIG, permissionAnswers: { [ANSWERED]: "yes" } });
    // Sessions whose first prompt meets the API's usage limit, or a refused key; then the main session's turns.
    const LIMIT: Reply = { status: 429, error: { type: "rate_limit_error", message: "This request would exceed your account's rate limit. Please try again later." }, headers: { "retry-after": "60" } };
    const LOGIN: Reply = { status: 401, error: { type: "authentication_error", message: "invalid x-api-key" } };
    const made: { check?: ClaudeCheck } = {};
    const api = await startApi((call) => (call.userTexts[0] === "hit the limit" ? LIMIT : call.userTexts[0] === "log in" ? LOGIN : made.check!.reply(call)));
    setup.started(api);
    made.check = new ClaudeCheck(setup, items, { repo, home, autorunHome, orchDir, events }, api);
    return made.check;
  }

  private env(extra: Record<string, string> = {}): string[] {
    const autorunBin = join(packageRoot(), "dist", "bin", "autorun");
    const base = this.setup.base;
    return Object.entries({
      ...base,
      PATH: `${dirname(autorunBin)}:${base.PATH}`,
      TERM: "xterm-256color",
      LANG: process.env.LANG ?? "C.UTF-8",
      ...claudeEnv(this.paths.home, this.api),
      AUTORUN_HOME: this.paths.autorunHome,
      AUTORUN_ORCH_DIR: this.paths.orchDir,
      AUTORUN_STAGE: "main",
      AUTORUN_BIN: autorunBin,
      ...extra,
    }).map(([k, v]) => `${k}=${v}`);
  }

  private get argv(): string[] {
    return [this.setup.bin, "--permission-mode", "default", "--settings", JSON.stringify(agentSettings())];
  }

  /** The events each session's hooks wrote (AUTORUN_STAGE names the session). */
  private readEvents(stage = "main"): Event[] {
    return readFileSync(this.paths.events, "utf8")
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
  }

  /** The hook `name` arrived, after the main session's first `after` events, as `type` with `fields`. */
  private async hook(h: { name: string; type: string; after: number; fields: string[]; meaning: string }): Promise<void> {
    try {
      const e = await waitUntil(`the ${h.name} hook`, () => this.readEvents().slice(h.after).find((x) => x.type === h.type), HOOK_MS, 200);
      const missing = h.fields.filter((f) => e[f] === undefined || e[f] === "");
      const detail = missing.length === 0 ? `arrived as ${h.type}${h.fields.length ? ` with ${h.fields.join(", ")}` : ""}` : `arrived as ${h.type} without ${missing.join(", ")}`;
      this.items.push({ name: `${h.name} hook`, ok: missing.length === 0, detail, meaning: h.meaning });
    } catch {
      this.items.push({ name: `${h.name} hook`, ok: false, detail: `did not arrive within ${HOOK_MS / 1000} s`, meaning: h.meaning });
    }
  }

  /** The screen `name` (matching `re`) appeared and the classifier read it as `ok` wants; else Stop. */
  private async screen(c: { name: string; re: RegExp; ok: (s: PaneState) => boolean; meaning: string; animated?: boolean; timeoutMs?: number }): Promise<void> {
    let text: string;
    try {
      text = await this.tui!.screen(`the ${c.name} screen`, c.re, { animated: c.animated ?? false, timeoutMs: c.timeoutMs ?? SCREEN_MS });
    } catch {
      this.items.push({ name: `${c.name} screen`, ok: false, detail: `did not appear within ${SCREEN_MS / 1000} s`, meaning: c.meaning });
      throw new Stop();
    }
    const got = classifyPane(text);
    this.items.push({ name: `${c.name} screen`, ok: c.ok(got), detail: `read as ${describe(got)}`, meaning: c.meaning });
  }

  /**
   * One session through welcome, typing, a turn, an interruption, an idle prompt and a permission
   * dialog; the failing sessions start meanwhile, their screens read after it.
   */
  async mainSession(): Promise<void> {
    const { tmux } = this.setup;
    const repo = this.paths.repo;
    this.tui = await PaneDriver.start(tmux, "main", { argv: this.argv, env: ["-i", ...this.env()], cwd: repo });
    this.failingSince = Date.now();
    for (const name of ["limit", "login"]) await PaneDriver.start(tmux, name, { argv: [...this.argv, name === "limit" ? "hit the limit" : "log in"], env: ["-i", ...this.env({ AUTORUN_STAGE: name, CLAUDE_CODE_MAX_RETRIES: "0" })], cwd: repo });
    await this.screen({ name: "welcome", re: /for shortcuts|❯/, ok: (s) => s.kind === "welcome" || (s.kind === "idle" && s.input === ""), meaning: "a session still starting could be taken for one stuck at its prompt" });
    await this.hook({ name: "SessionStart", type: "session_started", after: 0, fields: ["transcript"], meaning: "autorun would not learn that a stage's session started, nor where its transcript is" });
    await this.tui.type("hello there");
    await this.screen({ name: "typed", re: /hello there/, ok: (s) => s.kind === "idle" && s.input === "hello there", meaning: "autorun could not tell half-typed text from an empty prompt, and would type its nudges onto it" });
    await this.tui.keys("C-u");
    await this.interruptedTurn();

    this.reply = () => ({ blocks: [{ text: "All done here." }], done: true });
    let seen = this.readEvents().length;
    await this.tui.submit("say done");
    await this.screen({ name: "idle", re: /All done here/, ok: (s) => s.kind === "idle" && s.input === "", meaning: "a stage that stopped would not be seen waiting and would sit until the stall timeout" });
    await this.hook({ name: "Stop", type: "agent_stopped", after: seen, fields: ["transcript"], meaning: "a stage's end of turn would be seen only from its screen, later, and its transcript not read" });

    this.reply = (call) => (call.tools.some((t) => t.input.command === "make --version") ? { blocks: [{ text: "Noted." }], done: true } : { blocks: [{ bash: "make --version", description: "Show make version" }] });
    seen = this.readEvents().length;
    await this.tui.submit("check make");
    await this.screen({ name: "permission dialog", re: /Do you want to proceed/, ok: (s) => s.kind === "permission" && s.question.includes("make --version"), meaning: "a stage waiting on a permission dialog would not get a review naming the command, and would wait all night" });
    await this.hook({ name: "Notification", type: "stage_needs_permission", after: seen, fields: ["message"], meaning: "a permission dialog would be known only from the screen, at the monitor's next look" });
    await this.tui.keys("Escape");
    await this.answeredByHook();
  }

  /** A call that permissionAnswers says yes to: the PermissionRequest hook answers it, and it runs with no dialog. */
  private async answeredByHook(): Promise<void> {
    this.reply = (call) => (call.tools.some((t) => t.input.command === ANSWERED && t.result !== undefined) ? { blocks: [{ text: "Ran it unasked." }], done: true } : { blocks: [{ bash: ANSWERED, description: "Show make version" }] });
    const seen = this.readEvents().length;
    // The refused dialog gone and the screen settled: text typed sooner is lost (2.1.197).
    await this.tui!.screen("the prompt after the refused dialog", /^(?![\s\S]*Do you want to proceed)[\s\S]*Interrupted/);
    await this.tui!.submit("check make again");
    await this.hook({ name: "PermissionRequest", type: "permission_hook_answered", after: seen, fields: ["command"], meaning: "a plain yes or no of permissionAnswers would wait for the dialog and be typed into it" });
    await this.screen({ name: "hook-answered call", re: /Ran it unasked|Do you want to proceed/, ok: (s) => s.kind === "idle", meaning: "the hook's answer was not taken: the call waits on its dialog" });
  }

  /** A turn held busy at the API, its busy screen and prompt hook read, then interrupted. */
  private async interruptedTurn(): Promise<void> {
    const tui = this.tui!;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const waiting = new Promise<void>((resolve) => (holding = resolve));
    const readme = { tool: "Read", input: { file_path: join(this.paths.repo, "README.md") } };
    this.reply = async (call) => {
      if (!call.tools.some((t) => t.name === "Read")) return { blocks: [{ text: "Reading first." }, readme] };
      holding();
      await held;
      return { blocks: [{ text: "Too late." }], done: true };
    };
    const seen = this.readEvents().length;
    await tui.submit("think hard");
    await Promise.race([waiting, new Promise((r) => setTimeout(r, SCREEN_MS))]);
    await this.screen({ name: "busy", re: /esc to interrupt/, ok: (s) => s.kind === "busy", meaning: "autorun would nudge or interrupt a stage while it works", animated: true });
    await this.hook({ name: "UserPromptSubmit", type: "prompt_submitted", after: seen, fields: [], meaning: "autorun would not see that its messages reached a stage" });
    await tui.keys("Escape");
    await this.screen({ name: "interrupted", re: /Interrupted/, ok: (s) => s.kind === "idle" && s.input === "", meaning: "an interrupted stage would not be seen waiting at its prompt" });
    release();
    await tui.keys("C-u");
  }

  /** The sessions that met a usage limit and a refused key: their screens, and StopFailure where sent. */
  async failingSessions(): Promise<void> {
    const failures: { session: string; name: string; re: RegExp; kind: PaneState["kind"]; meaning: string }[] = [
      { session: "limit", name: "429 usage limit", re: /429/, kind: "rate_limited", meaning: "autorun would type into a rate-limited claude instead of pausing the run until the limit resets" },
      { session: "login", name: "login error", re: /Invalid API key|\/login/i, kind: "login", meaning: "autorun would nudge a logged-out claude instead of asking you to log in" },
    ];
    for (const f of failures) {
      this.tui = PaneDriver.attach(this.setup.tmux, f.session);
      try {
        // Both started with the main session: a claude that draws nothing is not waited for three times over.
        const timeoutMs = Math.max(1_000, this.failingSince + SCREEN_MS - Date.now());
        await this.screen({ name: f.name, re: f.re, ok: (s) => s.kind === f.kind, meaning: f.meaning, timeoutMs });
        if ((HOOK_EVENTS as readonly string[]).includes("StopFailure")) await this.stopFailure(f.session, f.name);
      } catch (error) {
        if (!(error instanceof Stop)) throw error;
      }
      await this.tui.kill().catch(() => undefined);
    }
  }

  private async stopFailure(session: string, name: string): Promise<void> {
    // What StopFailure becomes is the monitor's business; any event but the usual ones is it.
    const usual = new Set(["session_started", "prompt_submitted", "agent_stopped", "session_ended"]);
    const e = await waitUntil("StopFailure", () => this.readEvents(session).find((x) => !usual.has(String(x.type))), HOOK_MS, 200).catch(() => undefined);
    // Releases before the newest tested may predate the hook: the screen alone tells then.
    const predates = compareVersions(this.setup.version, CLAUDE_TESTED_RANGE.newest) < 0;
    const detail = e ? `arrived as ${String(e.type)}` : predates ? "not sent by this release (the screen above tells instead)" : `did not arrive within ${HOOK_MS / 1000} s`;
    this.items.push({ name: `StopFailure hook (${name})`, ok: e !== undefined || predates, detail, meaning: "autorun would know of the failure only from the screen, later" });
  }
}

/** A screen that never appeared: the rest of that session's checks cannot run. */
class Stop extends Error {}

function describe(s: PaneState): string {
  if (s.kind === "idle") return s.input ? `idle with "${s.input}" typed` : "idle at an empty prompt";
  if (s.kind === "permission" || s.kind === "question") return `${s.kind} ("${s.question.slice(0, 100)}")`;
  return s.kind;
}
