#!/usr/bin/env node
/**
 * The simulated agent: obeys the command line and environment autorun gives claude (docs/CLAUDE-CODE.md) so
 * the demo and tests run whole orchestrations without a model. It creates
 * `.claude/worktrees/<name>` on branch `worktree-<name>` from HEAD, runs the hooks from
 * `--settings`, reports phases with `autorun phase`, commits, and shows an idle `❯` prompt.
 *
 * Behaviour per stage comes from `sim:` lines in the stage's scope (or AUTORUN_SIM_SCRIPT, a JSON
 * file `{ "<stage>|*": ["stall", …] }`):
 *   stall        go idle after planning and fire the Stop/idle hooks; continue when prompted
 *   stall-silent the same without hooks (only the screen shows it)
 *   die-once     exit after research the first time (a crash); continue after --resume
 *   rate-limit   show a usage-limit banner once ("resets 3pm (Europe/Paris)"); continue when prompted
 *   rate-limit-vague  the same with no reset time in it
 *   permission   stop at a "Do you want to proceed?" dialog (and its Notification hook) until answered "1"
 *   review       ask a question with `autorun review new` + `review wait`
 *   drop-enter   the input box ignores Enter sent within 300 ms of typing or a paste
 *   conflict     write CONFLICT.txt (stages that all do so conflict at merge); rebase when told
 *   no-commit    report implement done without committing, once
 *   fix-on-check commit compat.txt when told that a check failed
 *   ignore-messages  answer every message with "implement done" and change nothing
 *   busy-after-done  stay busy for 3 s after handing over (AUTORUN_SIM_BUSY_MS), as claude does finishing its turn
 *   slow         steps take 4x longer
 *   die-always   exit 1 right after starting, every time (a broken setup)
 *   needs-opus   exit 1 right after starting unless run with an opus model (for model escalation)
 *   lock-worktree  lock its worktree as claude 2.1.332 does ("claude session <name> (pid N start T)"),
 *                never unlocking it (as when claude is killed)
 *   exit-deletes-branch  after its first commit, once: the Stop hook, then what claude's /exit does
 *                in a session with no new commits (worktree removed, branch deleted), exit 0
 *
 * With AUTORUN_SIM_PHASES=handover it reports only the hand-over (`autorun phase implement done`).
 *
 * With AUTORUN_SIM_USAGE=<tokens> it keeps a Claude Code-style transcript where claude keeps one
 * (`$CLAUDE_CONFIG_DIR` or `~/.claude`, `projects/<cwd made a name>/<id>.jsonl`: tests set the
 * former), named in its hooks' `transcript_path`: every step is an assistant message of the model it runs as (`--model`, else
 * claude-sonnet-4-5) that used that many input tokens and a quarter as many output tokens. Resumed
 * (`--resume <id>`), it goes on with the conversation where claude would find it, when it is there
 * (`$CLAUDE_CONFIG_DIR` or `~/.claude`, `projects/<cwd made a name>/<id>.jsonl`), naming it in its hooks.
 */
import { spawnSync, spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

type Hooks = Record<string, { matcher?: string; hooks: { type: string; command: string }[] }[]>;

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const worktreeName = opt("--worktree");
const resumeId = opt("--resume");
const sessionId = opt("--session-id") ?? resumeId ?? "sim";
const model = opt("--model") ?? "claude-sonnet-4-5";
const settings = JSON.parse(opt("--settings") ?? "{}") as { hooks?: Hooks };
const prompt = args[args.length - 1] ?? "";
const stage = process.env.AUTORUN_STAGE ?? "?";
const orchDir = process.env.AUTORUN_ORCH_DIR ?? "";
/**
 * When the run started (its first event's time): in the text of the files the stage commits, so a
 * stage of another run in this project (or of this plan run again) changes them and its commit is
 * never empty, while a relaunch in this run writes them as before.
 */
const runStarted = ((): string => {
  try {
    const first = readFileSync(join(orchDir, "events.jsonl"), "utf8").split("\n", 1)[0]!;
    return String((JSON.parse(first) as { ts?: unknown }).ts ?? "");
  } catch {
    return "";
  }
})();
const autorun = process.env.AUTORUN_BIN ?? "autorun";
const baseDelay = Number(process.env.AUTORUN_SIM_DELAY_MS ?? 300);

const gitEnv = { ...process.env, GIT_AUTHOR_NAME: "sim-agent", GIT_AUTHOR_EMAIL: "sim@autorun.invalid", GIT_COMMITTER_NAME: "sim-agent", GIT_COMMITTER_EMAIL: "sim@autorun.invalid" };
function git(cwd: string, ...a: string[]): { ok: boolean; out: string } {
  const r = spawnSync("git", ["-C", cwd, ...a], { env: gitEnv, encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim() };
}

// ---- worktree, as claude --worktree does it ----
let cwd = process.cwd();
if (worktreeName && !resumeId) {
  const wt = join(cwd, ".claude", "worktrees", worktreeName);
  if (!existsSync(wt)) {
    const branch = `worktree-${worktreeName}`;
    const exists = git(cwd, "rev-parse", "--verify", "--quiet", `refs/heads/${branch}`).ok;
    const r = exists ? git(cwd, "worktree", "add", wt, branch) : git(cwd, "worktree", "add", "-b", branch, wt, "HEAD");
    if (!r.ok) {
      process.stderr.write(`sim-agent: git worktree add failed: ${r.out}\n`);
      process.exit(1);
    }
  }
  cwd = wt;
}
process.chdir(cwd);

const contextFile = /^\/autorun:start\s+(.+)$/.exec(prompt)?.[1] ?? join(orchDir, "stages", `stage-${stage}-context.md`);
const context = existsSync(contextFile) ? readFileSync(contextFile, "utf8") : "";
const baseBranch = /^base_branch:\s*(.+)$/m.exec(context)?.[1]?.trim() ?? "main";
const behaviours = new Set<string>();
for (const m of context.matchAll(/^\s*(?:[-*]\s*)?sim:\s*([a-z-]+(?:\s*,\s*[a-z-]+)*)\s*$/gim)) for (const b of m[1]!.split(",")) behaviours.add(b.trim());
if (process.env.AUTORUN_SIM_SCRIPT && existsSync(process.env.AUTORUN_SIM_SCRIPT)) {
  const script = JSON.parse(readFileSync(process.env.AUTORUN_SIM_SCRIPT, "utf8")) as Record<string, string[]>;
  for (const b of [...(script[stage] ?? []), ...(script["*"] ?? [])]) behaviours.add(b);
}
const delay = behaviours.has("slow") ? baseDelay * 4 : baseDelay;

// Like claude 2.1.332: lock the worktree for this session (a lock left behind when it is killed).
if (behaviours.has("lock-worktree") && worktreeName) {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  git(cwd, "worktree", "unlock", cwd);
  git(cwd, "worktree", "lock", "--reason", `claude session ${worktreeName} (pid ${process.pid} start ${start})`, cwd);
}

// Progress survives a crash (die-once, then --resume) in a file git does not track.
const stateFile = join(cwd, ".git-sim-state.json");
const state = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, "utf8")) as Record<string, boolean>) : {};
const mark = (k: string) => {
  state[k] = true;
  writeFileSync(stateFile, JSON.stringify(state));
};
// Keep the state file out of `git status` like a user's ignored file.
const exclude = resolve(cwd, git(cwd, "rev-parse", "--git-common-dir").out, "info", "exclude");
const excluded = existsSync(exclude) ? readFileSync(exclude, "utf8") : "";
if (!excluded.includes(".git-sim-state.json")) {
  mkdirSync(join(exclude, ".."), { recursive: true });
  writeFileSync(exclude, `${excluded}\n.git-sim-state.json\n`);
}

// ---- the transcript (only with AUTORUN_SIM_USAGE), where claude keeps its own: its config dir's projects/ ----
const usagePerStep = Number(process.env.AUTORUN_SIM_USAGE ?? 0);
// Resumed: the conversation is where claude looks for it (its config dir's projects/<cwd with every
// character but letters and digits made '-'>/<id>.jsonl), when it is there: one moved from another machine.
const claudeDir = process.env.CLAUDE_CONFIG_DIR || join(process.env.HOME ?? "/nonexistent", ".claude");
const resumed = resumeId ? join(claudeDir, "projects", cwd.replace(/[^A-Za-z0-9]/g, "-"), `${resumeId}.jsonl`) : "";
const transcript = resumed && existsSync(resumed) ? resumed : usagePerStep > 0 ? join(claudeDir, "projects", cwd.replace(/[^A-Za-z0-9]/g, "-"), `${sessionId}.jsonl`) : "";
let messages = 0;
function spend(): void {
  if (!transcript || usagePerStep <= 0) return;
  mkdirSync(join(transcript, ".."), { recursive: true });
  const usage = { input_tokens: usagePerStep, output_tokens: Math.round(usagePerStep / 4), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  const line = { type: "assistant", sessionId, message: { id: `msg_sim_${sessionId.slice(0, 8)}_${process.pid}_${++messages}`, model, role: "assistant", usage } };
  appendFileSync(transcript, JSON.stringify(line) + "\n");
}

// ---- the screen ----
const log: string[] = [`sim-agent (claude stand-in) · stage ${stage} · session ${sessionId} · model ${model}`, `cwd: ${cwd}`];
let busy = true;
let input = "";
let banner = "";
function draw(): void {
  const width = 70;
  const lines = log.slice(-30);
  let out = "\x1b[H\x1b[2J" + lines.join("\r\n") + "\r\n\r\n";
  if (banner) out += banner + "\r\n";
  if (busy) out += "✻ Working… (esc to interrupt)\r\n";
  out += "╭" + "─".repeat(width) + "╮\r\n";
  out += "│ ❯ " + input.padEnd(width - 3) + "│\r\n";
  out += "╰" + "─".repeat(width) + "╯\r\n";
  out += "  ? for shortcuts\r\n";
  process.stdout.write(out);
}
const say = (line: string) => {
  log.push(`⏺ ${line}`);
  draw();
};

// ---- hooks, run as claude runs them: a shell command with the JSON payload on stdin ----
async function hook(name: string, extra: Record<string, unknown> = {}): Promise<void> {
  for (const group of settings.hooks?.[name] ?? []) {
    for (const h of group.hooks) {
      if (h.type !== "command") continue;
      await new Promise<void>((resolve) => {
        const child = spawn("/bin/sh", ["-c", h.command], { stdio: ["pipe", "ignore", "ignore"], env: process.env, cwd });
        child.on("exit", () => resolve());
        child.on("error", () => resolve());
        // A hook that exits without reading its stdin must not crash the agent (EPIPE).
        child.stdin.on("error", () => undefined);
        child.stdin.end(JSON.stringify({ session_id: sessionId, transcript_path: transcript, cwd, hook_event_name: name, ...extra }));
      });
    }
  }
}

/**
 * AUTORUN_SIM_PHASES=handover: of the phase reports only the hand-over (`phase implement done`) runs
 * `autorun`; the others are shown on the screen, spend their usage and take their time as usual.
 * Each report is an `autorun` process: the test suite sets this for the many runs that check what
 * follows a hand-over, not the phases before it.
 */
const handoverOnly = process.env.AUTORUN_SIM_PHASES === "handover";

function report(...a: string[]): void {
  spend();
  if (handoverOnly && a[0] === "phase" && !(a[1] === "implement" && a[2] === "done")) {
    say(`(not reported) autorun ${a.join(" ")}`);
    return;
  }
  const r = spawnSync(autorun, a, { encoding: "utf8", env: process.env, cwd });
  say(`$ autorun ${a.join(" ")}${r.status === 0 ? "" : `  (exit ${r.status}: ${(r.stderr ?? "").trim()})`}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- input: raw keys from tmux send-keys ----
let waiter: ((text: string) => void) | undefined;
let lastKeyAt = 0;
if (process.stdin.isTTY) process.stdin.setRawMode(true);
process.stdin.setEncoding("utf8");
// Like Claude Code, the input asks the terminal for bracketed paste: pasted text arrives between
// ESC[200~ and ESC[201~ and goes into the input whole; an Enter after it is a keypress.
if (process.stdout.isTTY) process.stdout.write("\x1b[?2004h");
let pasting = false;
process.stdin.on("data", (chunk: string) => {
  for (const part of chunk.split(/(\x1b\[20[01]~)/)) {
    if (part === "\x1b[200~" || part === "\x1b[201~") {
      pasting = part === "\x1b[200~";
      // drop-enter's input box does not tell a paste from typing.
      lastKeyAt = Date.now();
      if (!pasting) draw();
    } else if (pasting) input += part.replace(/[\r\n]+/g, " ").replace(/[\x00-\x1f\x7f]/g, "");
    else keys(part);
  }
});

function keys(chunk: string): void {
  for (const ch of chunk) {
    if (ch === "\r" || ch === "\n") {
      if (behaviours.has("drop-enter") && Date.now() - lastKeyAt < 300) continue;
      const text = input.trim();
      input = "";
      if (text && waiter) {
        const w = waiter;
        waiter = undefined;
        busy = true;
        say(`> ${text}`);
        void hook("UserPromptSubmit", { prompt: text });
        w(text);
      } else draw();
    } else if (ch === "\u0003") {
      process.exit(130);
    } else if (ch === "\u007f") {
      input = input.slice(0, -1);
      lastKeyAt = Date.now();
      draw();
    } else if (ch >= " ") {
      input += ch;
      lastKeyAt = Date.now();
      draw();
    }
  }
}

/** Goes idle at the prompt until a person (or the monitor) submits text. */
async function idle(withHooks: boolean): Promise<string> {
  busy = false;
  draw();
  const answer = new Promise<string>((resolve) => (waiter = resolve));
  if (withHooks) {
    await hook("Stop", { stop_hook_active: false });
    setTimeout(() => {
      if (waiter) void hook("Notification", { message: "Claude is waiting for your input", notification_type: "idle_prompt" });
    }, Number(process.env.AUTORUN_SIM_IDLE_NOTIFY_MS ?? 1500));
  }
  return answer;
}

function commit(file: string, text: string, message: string): void {
  mkdirSync(join(cwd, file, ".."), { recursive: true });
  writeFileSync(join(cwd, file), text);
  git(cwd, "add", "--", file);
  const r = git(cwd, "commit", "-q", "-m", message);
  say(r.ok ? `committed ${file}` : `commit failed: ${r.out}`);
}

async function rebaseOntoBase(): Promise<void> {
  say(`rebasing onto ${baseBranch}`);
  const r = git(cwd, "rebase", baseBranch);
  if (!r.ok) {
    // Resolve by keeping both sides, the way an agent would merge the two edits.
    const files = git(cwd, "diff", "--name-only", "--diff-filter=U").out.split("\n").filter(Boolean);
    for (const f of files) {
      const text = readFileSync(join(cwd, f), "utf8").replace(/^(<<<<<<<|=======|>>>>>>>).*\n/gm, "");
      writeFileSync(join(cwd, f), text);
      git(cwd, "add", "--", f);
    }
    const c = spawnSync("git", ["-C", cwd, "-c", "core.editor=true", "rebase", "--continue"], { env: { ...gitEnv, GIT_EDITOR: "true" }, encoding: "utf8" });
    say(c.status === 0 ? `resolved ${files.join(", ")} and continued the rebase` : `rebase --continue failed: ${c.stderr}`);
  }
}

/**
 * Once per stage: what claude's `/exit` does in a `--worktree` session that made no commits since it
 * started — the worktree removed, its branch deleted — after the turn's Stop hook and once autorun
 * has recorded the tip (a person types /exit later than that).
 */
async function exitDeletingBranch(): Promise<void> {
  const mark = resolve(cwd, git(cwd, "rev-parse", "--git-common-dir").out, `sim-exited-${stage}`);
  if (existsSync(mark)) return;
  writeFileSync(mark, "");
  busy = false;
  draw();
  await hook("Stop", { stop_hook_active: false });
  const head = git(cwd, "rev-parse", "HEAD").out;
  for (let i = 0; i < 150 && !git(cwd, "for-each-ref", "--format=%(objectname)", "refs/autorun/").out.split("\n").includes(head); i++) await sleep(100);
  say("/exit");
  const branch = git(cwd, "symbolic-ref", "--short", "HEAD").out;
  const root = resolve(cwd, git(cwd, "rev-parse", "--git-common-dir").out, "..");
  git(root, "worktree", "remove", "--force", cwd);
  git(root, "branch", "-D", branch);
  process.exit(0);
}

async function main(): Promise<void> {
  draw();
  await hook("SessionStart", { source: resumeId ? "resume" : "startup" });
  say(resumeId ? `resumed conversation ${resumeId}` : `starting ${prompt}`);
  if (behaviours.has("die-always") || (behaviours.has("needs-opus") && !model.includes("opus"))) {
    // Like a program that fails at start: the screen goes, its last words stay.
    process.stdout.write(`\x1b[H\x1b[2Jsim-agent: ${behaviours.has("die-always") ? "giving up at once (die-always)" : `this task needs an opus model, not ${model} (needs-opus)`}\r\n`);
    await sleep(200);
    process.exit(1);
  }
  await sleep(delay);
  if (!state.triage) {
    report("phase", "triage", "done", "--complexity", "QUICK");
    mark("triage");
  }
  if (!state.research) {
    report("phase", "research", "start");
    await sleep(delay);
    report("phase", "research", "done");
    mark("research");
  }
  if (behaviours.has("die-once") && !state.died) {
    mark("died");
    say("crashing (die-once)");
    await sleep(100);
    process.exit(1);
  }
  if (!state.plan) {
    report("phase", "create_plan", "start");
    await sleep(delay);
    const planFile = join(cwd, "thoughts", "plans", `stage-${stage}.md`);
    mkdirSync(join(planFile, ".."), { recursive: true });
    writeFileSync(planFile, `# Stage ${stage} plan\n\n## Phase 1: first part\n- [ ] part one exists\n\n## Phase 2: second part\n- [ ] part two exists\n`);
    report("phase", "create_plan", "done", "--plan-file", planFile);
    mark("plan");
  }
  if ((behaviours.has("stall") || behaviours.has("stall-silent")) && !state.stalled) {
    mark("stalled");
    say("I have a plan. Shall I go on?");
    const text = await idle(behaviours.has("stall"));
    say(`continuing after "${text}"`);
  }
  if ((behaviours.has("rate-limit") || behaviours.has("rate-limit-vague")) && !state.limited) {
    mark("limited");
    banner = behaviours.has("rate-limit-vague") ? "  ⎿  Usage limit reached. Please try again later." : "  ⎿  You've hit your limit · resets 3pm (Europe/Paris)";
    say("Usage limit reached");
    await idle(false);
    banner = "";
  }
  if (behaviours.has("permission") && !state.permitted) {
    banner = ["╭─────────────────────────────────────────────╮", "│ Bash command", "│   rm -rf build/", "│ Do you want to proceed?", "│ ❯ 1. Yes", "│   2. No, and tell Claude what to do differently (esc)", "╰─────────────────────────────────────────────╯"].join("\r\n");
    say("I need to delete the build directory.");
    busy = false;
    draw();
    void hook("Notification", { message: "Claude needs your permission to use Bash", notification_type: "permission_prompt" });
    for (;;) {
      const answer = await new Promise<string>((resolve) => (waiter = resolve));
      if (/^(1|y|yes)$/i.test(answer.trim())) break;
    }
    banner = "";
    mark("permitted");
    say("permission granted; deleting build/");
  }
  if (behaviours.has("review") && !state.reviewed) {
    const r = spawnSync(autorun, ["review", "new", "--title", `Stage ${stage} question`, "--context", "The simulated agent asks a person.", "--question", "Approach: keep the old API or replace it?"], { encoding: "utf8", env: process.env, cwd });
    const file = (r.stdout ?? "").trim();
    say(`waiting for review ${file}`);
    const w = spawnSync(autorun, ["review", "wait", file], { encoding: "utf8", env: process.env, cwd });
    say(`review answered: ${(w.stdout ?? "").replace(/\s+/g, " ").slice(0, 120)}`);
    mark("reviewed");
  }
  report("phase", "implement", "start", "--current", "1", "--total", "2");
  await sleep(delay);
  if (!state.part1) {
    commit(`sim/stage-${stage}-part1.txt`, `stage ${stage} part 1${runStarted ? ` (run of ${runStarted})` : ""}\n`, `stage ${stage}: phase 1`);
    mark("part1");
  }
  if (behaviours.has("exit-deletes-branch")) await exitDeletingBranch();
  report("phase", "implement", "start", "--current", "2", "--total", "2");
  await sleep(delay);
  if (!state.part2) {
    if (behaviours.has("conflict")) commit("CONFLICT.txt", `written by stage ${stage}\n`, `stage ${stage}: touch the shared file`);
    if (!(behaviours.has("no-commit") && !state.skipped)) commit(`sim/stage-${stage}-part2.txt`, `stage ${stage} part 2${runStarted ? ` (run of ${runStarted})` : ""}\n`, `stage ${stage}: phase 2`);
    mark("part2");
  }
  if (behaviours.has("no-commit") && !state.skipped) mark("skipped");
  report("phase", "implement", "done", "--current", "2", "--total", "2");
  // Still working on its turn (writing a summary) while the monitor merges: the pane is busy.
  if (behaviours.has("busy-after-done")) await sleep(Number(process.env.AUTORUN_SIM_BUSY_MS ?? 3000));
  // Like claude after a turn: idle at the prompt. Messages from the monitor (a merge conflict,
  // a failed check) come in here.
  for (;;) {
    const text = await idle(true);
    if (behaviours.has("ignore-messages")) {
      report("phase", "implement", "done");
      continue;
    }
    if (/rebase/i.test(text)) await rebaseOntoBase();
    if (behaviours.has("fix-on-check") && /check .* failed/i.test(text)) commit("compat.txt", `made compatible by stage ${stage}\n`, `stage ${stage}: fix the failed check`);
    if (/commit/i.test(text) && git(cwd, "rev-list", "--count", `${baseBranch}..HEAD`).out === "0") commit(`sim/stage-${stage}-late.txt`, "late commit\n", `stage ${stage}: commit the work`);
    if (/implement done|rebase|commit|check/i.test(text)) report("phase", "implement", "done");
  }
}

process.on("SIGHUP", () => process.exit(129));
process.on("SIGTERM", () => process.exit(143));
main().catch((error) => {
  process.stderr.write(`sim-agent: ${(error as Error).stack}\n`);
  process.exit(1);
});
