/**
 * What `autorun host …` does on a host, for the controller that runs the orchestration: the
 * project root (made if missing; the controller pushes the base into it), a stage's worktree from
 * the pushed tip, its context file, its events file's first line, and its tmux session (on a
 * socket under the host's autorun home, remain-on-exit, the environment in a 0600 file that the
 * session loads and removes). Each is idempotent: a launch repeated after an interrupted one adopts
 * what the first made.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { claudeConfigDir, claudeTranscriptPath } from "../adapters/claude-projects.js";
import "../types/zod-setup.js";
import * as z from "zod";
import * as git from "../adapters/git.js";
import { lastLine, runProgram } from "../adapters/exec.js";
import { takePack } from "../adapters/git-pack.js";
import type { HostWork } from "./host-work.js";
import { claudeTrust, isClaude, ownVersion, pluginDir, sandboxAvailable, sandboxSettings, sessionEnv } from "../adapters/agent.js";
import { scopeAt, withSandbox } from "../adapters/stage-scope.js";
import { findExecutable } from "../adapters/process.js";
import { tmuxAtPath } from "../adapters/remote-tmux.js";
import type { NewSession } from "../adapters/tmux.js";
import { readFirstLine } from "../state/append.js";
import { appendEvent } from "../state/events.js";
import { contextFilePath } from "../state/paths.js";
import { UserError } from "../errors.js";
import { MERGE_SUBJECT_PREFIX } from "../core/naming.js";
import { hostBaseRef, hostOrchDir, hostTmuxSocket, hostWorktree, type HostVersions, type LaunchInput, type LaunchOutput, type ObjectsInput, type PrepareInput, type PrepareOutput, type WorktreesInput } from "./protocol.js";

async function firstLine(file: string, args: string[]): Promise<string | null> {
  try {
    const r = await runProgram(file, args, { timeoutMs: 15_000 });
    return r.ok ? (r.stdout.split("\n")[0]?.trim() ?? null) : null;
  } catch {
    return null;
  }
}

export async function hostVersions(agent = "claude"): Promise<HostVersions> {
  const [gitV, tmuxV, agentV] = await Promise.all([firstLine("git", ["--version"]), firstLine("tmux", ["-V"]), firstLine(agent, ["--version"])]);
  return { autorun: ownVersion(), git: gitV, tmux: tmuxV, agent: agentV };
}

/** Whether Claude Code trusts `root` here (null: not known, or the agent is not Claude Code); reads only. */
export function trustOf(cwd: string, root: string, agent = "claude"): { root: string; trusted: boolean | null } {
  const at = isAbsolute(root) ? root : resolve(cwd, root);
  return { root: at, trusted: isClaude(agent) ? (claudeTrust(at).trusted ?? null) : null };
}

/** What an unborn host root's HEAD names: no branch the controller pushes. */
const ROOT_HEAD = "refs/heads/autorun/host-root";

/** The project root, made a git repository (its own checkout stays empty: stages work in worktrees). */
export async function prepare(home: string, cwd: string, input: PrepareInput): Promise<PrepareOutput> {
  const root = isAbsolute(input.root) ? input.root : resolve(cwd, input.root);
  let created = false;
  if (!existsSync(join(root, ".git"))) {
    if (existsSync(root) && !statSync(root).isDirectory()) throw new UserError(`${root} is not a directory; set hosts.<name>.root to a directory for the project.`);
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const r = await runProgram("git", ["init", "-q", "--", root], { timeoutMs: 30_000 });
    if (!r.ok) throw new UserError(`git init ${root} failed on the host: ${r.stderr.trim()}`);
    created = true;
  }
  await git.ensureExcluded(root, "/.claude/worktrees/");
  // The controller pushes the base tip as the root's branch of that name: git refuses to move the
  // branch its checkout is on, so a root with no commit of its own (one autorun made) is on none.
  if (!(await runProgram("git", ["-C", root, "rev-parse", "--verify", "-q", "HEAD"], { timeoutMs: 30_000 })).ok) {
    await runProgram("git", ["-C", root, "symbolic-ref", "HEAD", ROOT_HEAD], { timeoutMs: 30_000 });
  }
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const agent = input.agent ?? "claude";
  return { root, home, created, versions: await hostVersions(agent), plugin_dir: pluginDir(), trusted: trustOf(cwd, root, agent).trusted };
}

/** A session's spec as the controller sends it (the environment file is written here). */
export const sessionSpec = z
  .object({
    // tmux takes any name but for "." and ":" (which it would change); autorun's own are plainer.
    name: z.string().min(1).max(200).refine((n) => !/[\0-\x1f.:]/.test(n), "a tmux session name (no . : or control characters)"),
    cwd: z.string().min(1),
    argv: z.array(z.string()).min(1),
    env: z.record(z.string(), z.string()),
    width: z.number().int().positive().optional(),
    height: z.number().int().positive().optional(),
    remainOnExit: z.boolean().optional(),
  })
  .strict();

export const sessionsInput = z.object({ socket_path: z.string().min(1), sessions: z.array(sessionSpec).min(1) }).strict();

/** Starts sessions on the tmux server at `socketPath`: for each, made or tmux's reason. */
export async function startSessions(home: string, socketPath: string, specs: readonly z.infer<typeof sessionSpec>[]): Promise<{ made: boolean; error?: string }[]> {
  mkdirSync(join(home, "tmux"), { recursive: true, mode: 0o700 });
  const tmux = tmuxAtPath(socketPath);
  const envDir = join(home, "session-env");
  const out: { made: boolean; error?: string }[] = [];
  for (const spec of specs) {
    const full: NewSession = { ...spec, envDir };
    try {
      await tmux.newSession(full);
      out.push({ made: true });
    } catch (error) {
      out.push({ made: false, error: (error as { stderr?: string }).stderr || (error as Error).message });
    }
  }
  return out;
}

/**
 * The host's copy of the orchestration's events file starts with the controller's first event,
 * its `orch_dir` the host's: the agent's `autorun phase`/`hook` calls append there. A file that
 * starts with another orchestration's first event is refused.
 */
function ensureEvents(orchDir: string, started: Record<string, unknown>): string {
  const file = join(orchDir, "events.jsonl");
  mkdirSync(join(orchDir, "stages"), { recursive: true, mode: 0o700 });
  const mine: Record<string, unknown> = { ...started, orch_dir: orchDir };
  const first = readFirstLine(file);
  if (!first) {
    if (existsSync(file) && statSync(file).size > 0) throw new UserError(`${file} on the host is damaged (no first event); remove it and launch again.`);
    appendEvent(file, mine);
  } else if (first.type !== "orchestration_started" || first.ts !== mine.ts || first.plan_name !== mine.plan_name || first.project_slug !== mine.project_slug) {
    throw new UserError(`${file} on the host belongs to another run of ${String(first.plan_name)} (started ${String(first.ts)}); remove ${orchDir} there, or rename the plan.`);
  }
  return file;
}

/** A stage moved here: its kept uncommitted files into its new worktree, its conversation where claude looks for it. */
async function restoreMoved(worktree: string, input: LaunchInput): Promise<void> {
  const r = await git.run(worktree, ["restore", `--source=${input.restore!.commit}`, "--worktree", "--", "."]);
  if (!r.ok) throw new UserError(`could not put back stage ${input.stage}'s uncommitted files in ${worktree}: ${lastLine(r.stderr) ?? ""}`);
  const t = input.restore!.transcript;
  if (!t) return;
  const to = claudeTranscriptPath(claudeConfigDir({ ...process.env, ...input.env }), worktree, t.session_id);
  mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
  writeFileSync(to, Buffer.from(t.base64, "base64"), { mode: 0o600 });
}

/**
 * The base moved to a commit this host already has (pushed while its merge was checked): what the
 * controller's push of the base does, in one git process and no ssh session.
 */
async function moveBase(root: string, base: NonNullable<LaunchInput["base"]>): Promise<void> {
  const refs = [hostBaseRef(base.branch)];
  if (base.own_branch) {
    // The branch the root's own checkout is on is left as it is (git's push refuses to move it too).
    const head = await runProgram("git", ["-C", root, "symbolic-ref", "-q", "HEAD"], { timeoutMs: 30_000 });
    if (head.stdout.trim() !== `refs/heads/${base.branch}`) refs.push(`refs/heads/${base.branch}`);
  }
  const r = await runProgram("git", ["-C", root, "update-ref", "--stdin"], { input: refs.map((ref) => `update ${ref} ${base.commit}\n`).join(""), timeoutMs: 30_000 });
  if (!r.ok) throw new UserError(`could not move ${base.branch} to ${base.commit.slice(0, 10)} in ${root} on the host: ${lastLine(r.stderr) ?? `exit ${r.code}`}`);
}

/**
 * Stages' worktrees made ahead of their launch, at a commit pushed while the merge they wait for
 * is checked: their launch then finds them (and brings one to the base tip if that merge's
 * commit did not become it). Those that exist are left as they are.
 */
export async function makeAhead(input: WorktreesInput, work: HostWork): Promise<{ made: string[] }> {
  const made: string[] = [];
  for (const w of input.worktrees) {
    const worktree = hostWorktree(input.root, w.worktree);
    const making = await work.add(worktree, async () => !existsSync(worktree) && (await git.addStageWorktree(input.root, worktree, w.branch, input.commit), true));
    if (making) made.push(w.worktree);
  }
  return { made };
}

/** A commit sent as a pack, kept under its ref (what a push of it would have done). */
export async function takeObjects(input: ObjectsInput, work: HostWork): Promise<{ ref: string }> {
  await work.inOrder(input.root, () => takePack(input.root, Buffer.from(input.pack, "base64"), input));
  return { ref: input.ref };
}

/**
 * A worktree found for a stage's first launch, brought to its start commit when it holds no work of
 * its own: nothing on its first-parent line beyond that commit but autorun's merge commits (one
 * made ahead at a merge commit that did not become the base tip) and nothing uncommitted. Anything
 * else (a retried stage's earlier work) is left as it is.
 */
async function toStart(root: string, w: { worktree: string; branch: string }, start: string): Promise<void> {
  // Its branch at the start already (made ahead at the commit that became the tip): read from the
  // root's ref files, no git process (a launch waits for this).
  if (git.refFromFiles(root, `refs/heads/${w.branch}`) === start) return;
  const { worktree } = w;
  const head = await git.worktreeHead(worktree);
  if (!head || head === start) return;
  const beyond = await git.firstParentSubjects(worktree, start, head);
  if (beyond.some((subject) => !subject.startsWith(MERGE_SUBJECT_PREFIX))) return;
  if (await git.hasTrackedChanges(worktree)) return;
  await git.resetWorktree(worktree, start);
}

/**
 * A stage's argument list with Claude Code's Bash sandbox of its paths here, when the controller
 * asks for it and the argument list has Claude Code's `--settings`: on where this host has what the
 * sandbox needs, else left off and said (the stage's Bash commands then wait for a person).
 */
function sandboxHere(input: LaunchInput, worktree: string): { argv: string[]; sandbox?: { on: boolean; missing: string[] } } {
  if (!input.sandbox || !input.argv.includes("--settings")) return { argv: input.argv };
  const { ok, missing } = sandboxAvailable((p) => findExecutable(p));
  if (!ok) return { argv: input.argv, sandbox: { on: false, missing } };
  const scope = scopeAt({ commonDir: join(input.root, ".git"), worktree, baseBranch: input.sandbox.base_branch, sandbox: { domains: input.sandbox.domains }, launch: true });
  return { argv: withSandbox(input.argv, sandboxSettings({ ...scope, sandbox: { domains: input.sandbox.domains } })), sandbox: { on: true, missing: [] } };
}

/** One stage on this host: worktree, context file, events file, session. */
export async function launch(home: string, input: LaunchInput, work: HostWork): Promise<LaunchOutput> {
  return (await launchMany(home, [input], work))[0]!;
}

/**
 * Several stages at once: their worktrees side by side, then every session in as few tmux calls
 * as fit (what a batch of ready stages needs). All or an error naming the first stage that failed.
 */
export async function launchMany(home: string, inputs: readonly LaunchInput[], work: HostWork): Promise<LaunchOutput[]> {
  // The base moves beside the rest (the session does not need it; an agent rebases onto it later).
  const moved = new Map<string, Promise<void>>();
  for (const input of inputs) {
    const key = JSON.stringify([input.root, input.base?.branch, input.base?.commit]);
    const base = input.base;
    if (base && !moved.has(key)) moved.set(key, work.inOrder(input.root, () => moveBase(input.root, base)));
  }
  const [out] = await Promise.all([launchAll(home, inputs, work), ...moved.values()]);
  return out;
}

async function launchAll(home: string, inputs: readonly LaunchInput[], work: HostWork): Promise<LaunchOutput[]> {
  const events = new Map<string, string>();
  for (const input of inputs) {
    const orchDir = hostOrchDir(home, input.orchestration);
    if (!events.has(orchDir)) events.set(orchDir, ensureEvents(orchDir, input.started));
    writeFileSync(contextFilePath(join(orchDir, "stages"), input.stage), input.context, { mode: 0o600 });
  }
  const worktrees = await Promise.all(
    inputs.map((input) => {
      const worktree = hostWorktree(input.root, input.worktree);
      // After a call making it ahead that is still under way.
      return work.add(worktree, async () => {
        if (existsSync(worktree)) {
          // A first launch (not a resume, not a move) may find the worktree made ahead.
          if (!input.in_worktree && !input.restore) await toStart(input.root, { worktree, branch: input.branch }, input.start);
          return { worktree, state: "existing" as const };
        }
        await git.addStageWorktree(input.root, worktree, input.branch, input.start);
        if (input.restore) await restoreMoved(worktree, input);
        return { worktree, state: "made" as const };
      });
    }),
  );
  const out: LaunchOutput[] = [];
  // One tmux server per socket; the sessions of each in one go.
  const bySocket = new Map<string, number[]>();
  inputs.forEach((input, i) => bySocket.set(input.socket, [...(bySocket.get(input.socket) ?? []), i]));
  for (const [socket, indexes] of bySocket) {
    const socketPath = hostTmuxSocket(home, socket);
    mkdirSync(join(home, "tmux"), { recursive: true, mode: 0o700 });
    const tmux = tmuxAtPath(socketPath);
    // No list of the sessions first: a session that exists (a launch repeated after an interrupted
    // one) makes its new-session fail with "duplicate session", and is adopted below.
    const starting = indexes;
    const offsets = new Map(indexes.map((i) => [i, statSync(events.get(hostOrchDir(home, inputs[i]!.orchestration))!).size]));
    const boxed = starting.map((i) => sandboxHere(inputs[i]!, worktrees[i]!.worktree));
    const specs: NewSession[] = starting.map((i, k) => {
      const input = inputs[i]!;
      const orchDir = hostOrchDir(home, input.orchestration);
      // Its worktree here: where its SessionStart hook checks the agent started (the run's record names the controller's).
      const env = sessionEnv({ home, orchDir, stage: input.stage }, { extra: { ...input.env, AUTORUN_HOST_WORKTREE: worktrees[i]!.worktree } });
      return { name: input.session, cwd: input.in_worktree ? hostWorktree(input.root, input.worktree) : input.root, argv: boxed[k]!.argv, env, envDir: join(home, "session-env"), remainOnExit: true, ...(input.width ? { width: input.width } : {}), ...(input.height ? { height: input.height } : {}) };
    });
    const made = specs.length > 0 ? await tmux.newSessions(specs) : [];
    const adopted = new Set<number>();
    // Those of a call that failed, one at a time: a session made meanwhile is adopted.
    for (const [k, i] of starting.entries()) {
      if (made[k]) continue;
      try {
        await tmux.newSession(specs[k]!);
      } catch (error) {
        const why = (error as { stderr?: string }).stderr || (error as Error).message;
        if (/duplicate session/.test(why) && (await tmux.hasSession(inputs[i]!.session))) adopted.add(i);
        else throw new UserError(`tmux could not start ${inputs[i]!.session} on the host: ${why}`);
      }
    }
    for (const [k, i] of indexes.entries()) {
      const sandbox = boxed[k]!.sandbox;
      out[i] = { worktree: worktrees[i]!.worktree, events_offset: offsets.get(i)!, worktree_state: worktrees[i]!.state, session_state: adopted.has(i) ? "adopted" : "started", ...(sandbox ? { sandbox } : {}) };
    }
  }
  return out;
}
