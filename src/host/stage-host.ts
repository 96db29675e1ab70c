/**
 * Where a stage runs, behind one small interface: this machine or another host. A launcher asks
 * the host for the stage's paths there (its agent's argument list names them), then launches it;
 * the host's `tmux` is what the monitor watches, nudges and types into. The local implementation
 * does what the monitor's launcher does for a stage on this machine (the worktree from the base
 * tip, the session with its environment in a 0600 file); the remote one does it over ssh through
 * `autorun host launch`, after pushing the start commit.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as git from "../adapters/git.js";
import { pluginDir, sessionEnv } from "../adapters/agent.js";
import { createTmux, type Tmux } from "../adapters/tmux.js";
import { contextFilePath } from "../state/paths.js";
import { hostOrchDir, hostWorktree, type LaunchInput, type LaunchOutput } from "./protocol.js";
import type { RemoteHost } from "./remote-host.js";

/** Where a stage's things are on the host it runs on. */
export interface StagePaths {
  /** The project's checkout there (where the agent starts; `claude --worktree <name>` finds the worktree). */
  root: string;
  worktree: string;
  /** The orchestration's directory there: its events file, the stage's context file. */
  orchDir: string;
  contextFile: string;
  /** $AUTORUN_HOME there. */
  home: string;
  /** The autorun plugin of the autorun there (the session's --plugin-dir). */
  pluginDir: string;
}

export interface StageLaunch {
  /** The orchestration's directory name, and its first event (orchestration_started). */
  orchestration: string;
  started: Record<string, unknown>;
  stage: string;
  branch: string;
  /** The worktree's directory name (`<slug>-stage-<id>`). */
  worktreeName: string;
  session: string;
  /** The tmux server's name. */
  socket: string;
  /** The stage's context file's text. */
  context: string;
  /** The commit a new stage branch starts at (the base tip), and the base branch's name. */
  start: string;
  baseBranch: string;
  /** The agent's argument list, built with the stage's paths on that host. */
  argv: (paths: StagePaths) => string[];
  /** Variables beyond autorun's own (the host's `env` names, with this machine's values). */
  env: Record<string, string>;
  /** A `--resume`: the session starts in the worktree (where the conversation was had). */
  resume?: boolean;
  /** Moved off a lost host: the snapshot of its uncommitted work and its conversation, put back in its new worktree. */
  restore?: { commit: string; transcript?: { sessionId: string; bytes: Buffer } };
  /** Claude Code's Bash sandbox, wanted on a host (there, of its paths, where it has what it needs); here the argument list has it already. */
  sandbox?: { domains: readonly string[] };
}

export interface StageLaunched {
  paths: StagePaths;
  /** The host's events file was this long when the session started (0 on this machine: no follower). */
  eventsOffset: number;
  adopted: boolean;
  /** On a host, when the sandbox was wanted for Claude Code: on, or what the host lacks for it. */
  sandbox?: { on: boolean; missing: string[] };
}

export interface StageHost {
  readonly name: string;
  readonly local: boolean;
  /** Before the first launch: on a host, the same autorun there and its project root made. */
  ready(): Promise<void>;
  paths(orchestration: string, stage: string, worktreeName: string): StagePaths;
  launch(l: StageLaunch): Promise<StageLaunched>;
  /** Several stages at once (a batch of ready stages): on a host, one push and one call. */
  launchMany(ls: readonly StageLaunch[]): Promise<StageLaunched[]>;
  tmux(socket: string): Tmux;
}

/** What a host is asked of the sandbox for one launch. */
function sandboxInput(l: StageLaunch): Partial<Pick<LaunchInput, "sandbox">> {
  return l.sandbox ? { sandbox: { domains: [...l.sandbox.domains], base_branch: l.baseBranch } } : {};
}

function launched(paths: StagePaths, o: LaunchOutput): StageLaunched {
  return { paths, eventsOffset: o.events_offset, adopted: o.session_state === "adopted", ...(o.sandbox ? { sandbox: o.sandbox } : {}) };
}

/** This machine: the project's own checkout, $AUTORUN_HOME, the tmux server `tmux -L <socket>`. */
export class LocalStageHost implements StageHost {
  readonly name = "local";
  readonly local = true;
  constructor(
    private readonly projectRoot: string,
    private readonly home: string,
  ) {}

  ready(): Promise<void> {
    return Promise.resolve();
  }

  paths(orchestration: string, stage: string, worktreeName: string): StagePaths {
    const orchDir = hostOrchDir(this.home, orchestration);
    return { root: this.projectRoot, worktree: hostWorktree(this.projectRoot, worktreeName), orchDir, contextFile: contextFilePath(join(orchDir, "stages"), stage), home: this.home, pluginDir: pluginDir() };
  }

  /** The context file is orchestrate's to write here (it is already in the stage's directory). */
  async launch(l: StageLaunch): Promise<StageLaunched> {
    const paths = this.paths(l.orchestration, l.stage, l.worktreeName);
    if (!existsSync(paths.worktree)) await git.addStageWorktree(this.projectRoot, paths.worktree, l.branch, l.start);
    const tmux = this.tmux(l.socket);
    if (await tmux.hasSession(l.session)) return { paths, eventsOffset: 0, adopted: true };
    await tmux.newSession({ name: l.session, cwd: l.resume ? paths.worktree : this.projectRoot, argv: l.argv(paths), env: sessionEnv({ home: this.home, orchDir: paths.orchDir, stage: l.stage }, { extra: l.env }), envDir: join(paths.orchDir, "session-env"), remainOnExit: true });
    return { paths, eventsOffset: 0, adopted: false };
  }

  async launchMany(ls: readonly StageLaunch[]): Promise<StageLaunched[]> {
    await Promise.all(ls.map(async (l) => {
      const { worktree } = this.paths(l.orchestration, l.stage, l.worktreeName);
      if (!existsSync(worktree)) await git.addStageWorktree(this.projectRoot, worktree, l.branch, l.start);
    }));
    const out: StageLaunched[] = [];
    for (const socket of new Set(ls.map((l) => l.socket))) {
      const tmux = this.tmux(socket);
      const existing = new Set(await tmux.listSessions());
      const mine = ls.filter((l) => l.socket === socket);
      const starting = mine.filter((l) => !existing.has(l.session));
      const made = await tmux.newSessions(
        starting.map((l) => {
          const paths = this.paths(l.orchestration, l.stage, l.worktreeName);
          return { name: l.session, cwd: l.resume ? paths.worktree : this.projectRoot, argv: l.argv(paths), env: sessionEnv({ home: this.home, orchDir: paths.orchDir, stage: l.stage }, { extra: l.env }), envDir: join(paths.orchDir, "session-env"), remainOnExit: true };
        }),
      );
      // Those of a call that failed, one at a time (adopting one that exists).
      for (const [k, l] of starting.entries()) if (!made[k]) await this.launch(l);
      for (const l of mine) out[ls.indexOf(l)] = { paths: this.paths(l.orchestration, l.stage, l.worktreeName), eventsOffset: 0, adopted: existing.has(l.session) };
    }
    return out;
  }

  tmux(socket: string): Tmux {
    return createTmux(socket);
  }
}

/** Another host, through `RemoteHost` (its shared ssh connection). */
export class RemoteStageHost implements StageHost {
  readonly local = false;
  constructor(
    private readonly host: RemoteHost,
    private readonly localRoot: string,
  ) {}

  get name(): string {
    return this.host.spec.name;
  }

  async ready(): Promise<void> {
    await this.host.ready();
  }

  paths(orchestration: string, stage: string, worktreeName: string): StagePaths {
    const { root, home, plugin_dir } = this.host.info;
    const orchDir = hostOrchDir(home, orchestration);
    return { root, worktree: hostWorktree(root, worktreeName), orchDir, contextFile: contextFilePath(join(orchDir, "stages"), stage), home, pluginDir: plugin_dir };
  }

  async launch(l: StageLaunch): Promise<StageLaunched> {
    await this.host.ready();
    await this.host.pushBase(this.localRoot, l.start, l.baseBranch);
    if (l.restore) await this.host.pushRef(this.localRoot, l.restore.commit, `refs/autorun/restore/${l.orchestration}/${l.stage}`);
    const paths = this.paths(l.orchestration, l.stage, l.worktreeName);
    const out = await this.host.launch({
      orchestration: l.orchestration,
      started: l.started,
      stage: l.stage,
      branch: l.branch,
      start: l.start,
      worktree: l.worktreeName,
      context: l.context,
      session: l.session,
      socket: l.socket,
      argv: l.argv(paths),
      env: l.env,
      ...(l.resume ? { in_worktree: true } : {}),
      ...(l.restore ? { restore: { commit: l.restore.commit, ...(l.restore.transcript ? { transcript: { session_id: l.restore.transcript.sessionId, base64: l.restore.transcript.bytes.toString("base64") } } : {}) } } : {}),
      ...sandboxInput(l),
    });
    return launched(paths, out);
  }

  async launchMany(ls: readonly StageLaunch[]): Promise<StageLaunched[]> {
    await this.host.ready();
    const starts = new Set(ls.map((l) => `${l.start} ${l.baseBranch}`));
    // One base tip (a batch of ready stages starts from it): one push, one call; else one by one.
    if (starts.size !== 1 || ls.some((l) => l.restore)) {
      const out: StageLaunched[] = [];
      for (const l of ls) out.push(await this.launch(l));
      return out;
    }
    // The start commit already there (pushed while its merge was checked): the launch itself moves
    // the host's base to it, and nothing is pushed now.
    const { start, baseBranch } = ls[0]!;
    const there = await this.host.has(start);
    if (!there) await this.host.pushBase(this.localRoot, start, baseBranch);
    const base = there ? { base: { branch: baseBranch, commit: start, own_branch: !this.host.keepsOwnBranch } } : {};
    const paths = ls.map((l) => this.paths(l.orchestration, l.stage, l.worktreeName));
    const out = await this.host.launchMany(ls.map((l, i) => ({ orchestration: l.orchestration, started: l.started, stage: l.stage, branch: l.branch, start: l.start, worktree: l.worktreeName, context: l.context, session: l.session, socket: l.socket, argv: l.argv(paths[i]!), env: l.env, ...base, ...(l.resume ? { in_worktree: true } : {}), ...sandboxInput(l) })));
    return out.map((o, i) => launched(paths[i]!, o));
  }

  tmux(socket: string): Tmux {
    return this.host.tmux(socket);
  }
}

