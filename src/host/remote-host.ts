/**
 * The controller's side of a host: make it ready (the same autorun there, the project root made),
 * push the base tip into it, launch a stage there (worktree, context, events file, tmux session),
 * and its tmux, all through the host's one shared ssh connection.
 *
 * A launch costs three ssh calls the first time on a host (ready, push, launch) and two after
 * (push, launch); several stages from one base tip cost the same two (`launchMany`). The launch
 * itself goes to the host's `autorun host serve`, started once: no Node process starts for it.
 */
import { runScript, type SshSettings, type SshTarget } from "../adapters/ssh.js";
import { lastLine } from "../adapters/exec.js";
import { pushToHost } from "../adapters/git-ssh.js";
import { thinPack } from "../adapters/git-pack.js";
import { createRemoteTmux } from "../adapters/remote-tmux.js";
import type { Tmux } from "../adapters/tmux.js";
import { ownVersion } from "../adapters/agent.js";
import { resolveHosts, type HostSpec } from "../core/hosts.js";
import type { Config } from "../state/config.js";
import { ToolError, UserError } from "../errors.js";
import { hostBaseRef, hostTmuxSocket, launchOutput, prepareOutput, type LaunchInput, type LaunchOutput, type PrepareOutput } from "./protocol.js";
import { HostServer } from "./host-server.js";

/**
 * One ssh call: the host's autorun must print exactly this version (else exit 3 with what it
 * printed), then `autorun host prepare` gets its JSON on stdin ($3, through printf: a builtin, so
 * the JSON is on no command line).
 */
const READY = `v=$("$1" --version </dev/null 2>/dev/null | head -n 1)
if [ "$v" != "$2" ]; then printf '%s\\n' "$v"; exit 3; fi
printf '%s' "$3" | "$1" host prepare`;

const CALL = 'printf "%s" "$3" | "$1" host "$2"';

/** `{project}` in a host's root is the project's slug. */
export function hostRoot(spec: Pick<HostSpec, "name" | "root">, projectSlug: string): string {
  return (spec.root ?? "autorun/{project}").replace(/\{project\}/g, projectSlug);
}

/** The tmux server a run's sessions use, on this machine and on its hosts. */
export function runTmuxSocket(config: Pick<Config, "tmuxSocket">): string {
  return config.tmuxSocket ?? "autorun";
}

/**
 * Host `name` of a run, for a person's command: its autorun checked (`ready`), its tmux on the
 * run's server; undefined when the run's configuration no longer names it as another machine.
 */
export async function openRunHost(
  run: { home: string; projectSlug: string; config: Config },
  name: string,
): Promise<{ spec: HostSpec; info: PrepareOutput; socket: string; tmux: Tmux; target: SshTarget } | undefined> {
  const spec = resolveHosts(run.config).find((h) => h.name === name);
  if (!spec || spec.local) return undefined;
  const remote = new RemoteHost({ home: run.home }, spec, run.projectSlug, run.config.agentCommand);
  const info = await remote.ready();
  const socket = runTmuxSocket(run.config);
  return { spec, info, socket, tmux: remote.tmux(socket), target: remote.target };
}

export class RemoteHost {
  readonly target: SshTarget;
  private prepared: PrepareOutput | undefined;
  /** The root's own checkout is on the base branch: it is not moved. */
  private ownBranchRefused = false;
  /** The host's `autorun host serve`, started at the first launch. */
  readonly server: HostServer;
  /** Commits pushed there (or being pushed): whether each got there. */
  private readonly there = new Map<string, Promise<boolean>>();
  /** The commit that got there last: what a pack of the next is made against. */
  private lastThere: string | undefined;
  /** Commits sent there as a pack rather than pushed (for tests). */
  packed = 0;

  constructor(
    readonly s: SshSettings,
    readonly spec: HostSpec,
    readonly projectSlug: string,
    private readonly agentCommand: readonly string[] = ["claude"],
  ) {
    if (spec.local || !spec.ssh) throw new UserError(`host ${spec.name} is this machine; a remote host needs hosts.${spec.name}.ssh`);
    this.target = { name: spec.name, destination: spec.ssh, options: spec.sshOptions };
    this.server = new HostServer(s, this.target, spec.autorun, ownVersion());
  }

  /** Ends the host's `autorun host serve` (a monitor stopping). */
  close(): void {
    this.server.close();
  }

  /** What `prepare` reported (after `ready`). */
  get info(): PrepareOutput {
    if (!this.prepared) throw new Error(`host ${this.spec.name}: ready() has not run`);
    return this.prepared;
  }

  /** The same autorun version there, the project root made: once per controller process. */
  async ready(): Promise<PrepareOutput> {
    if (this.prepared) return this.prepared;
    const mine = ownVersion();
    const input = JSON.stringify({ root: hostRoot(this.spec, this.projectSlug), agent: (this.spec.agentCommand ?? this.agentCommand)[0] ?? "claude" });
    const r = await runScript(this.s, this.target, READY, { args: [this.spec.autorun, mine, input] });
    const at = `host ${this.spec.name} (${this.spec.ssh})`;
    if (r.code === 3) {
      const theirs = r.stdout.trim();
      throw new UserError(`${at}: autorun ${theirs ? theirs : "is not found"} there, ${mine} here; install autorun ${mine} on ${this.spec.name}${theirs ? "" : ` or give its full path in hosts.${this.spec.name}.autorun`}.`);
    }
    if (!r.ok) throw new ToolError(`${at}: could not prepare ${hostRoot(this.spec, this.projectSlug)}: ${lastLine(r.stderr) ?? `exit ${r.code}`}`, { argv: ["ssh", this.spec.ssh!, "autorun", "host", "prepare"], code: r.code, stderr: r.stderr });
    this.prepared = prepareOutput.parse(JSON.parse(r.stdout));
    return this.prepared;
  }

  /**
   * Pushes `commit` (the base tip) into the host's root, where launches start stage branches from
   * it, and as the root's branch of the base's name, so an agent there finds the base under the
   * name it is told (`git rebase main`). A root whose own checkout has that branch (a person's
   * clone) keeps its branch as it is: the base ref alone is pushed.
   */
  async pushBase(localRoot: string, commit: string, baseBranch: string): Promise<void> {
    const { root } = await this.ready();
    const where = { cwd: localRoot, remoteDir: root };
    const base = `+${commit}:${hostBaseRef(baseBranch)}`;
    if (this.ownBranchRefused) await pushToHost(this.s, this.target, where, [base]);
    else {
      try {
        await pushToHost(this.s, this.target, where, [base, `+${commit}:refs/heads/${baseBranch}`]);
      } catch (error) {
        if (!(error instanceof ToolError) || !/checked out|current branch/i.test(error.stderr ?? "")) throw error;
        this.ownBranchRefused = true;
        await pushToHost(this.s, this.target, where, [base]);
      }
    }
    this.remember(commit, Promise.resolve(true));
  }

  /**
   * Ahead of the launches that will start from `commit` (a merge being checked): the commit pushed
   * to the host under a ref of its own (the base there moves only once the merge is made: the
   * launch moves it, see `has`), then the worktrees of `stages` made there at it. Best effort: a
   * launch that finds the commit missing pushes the base itself, one that finds no worktree makes
   * it. Resolves to why it stopped short, or undefined.
   */
  async ahead(localRoot: string, a: { commit: string; baseBranch: string; worktrees: { worktree: string; branch: string }[] }): Promise<string | undefined> {
    const { commit, baseBranch, worktrees } = a;
    if (!this.there.has(commit)) {
      let why: string | undefined;
      const pushed = this.ready()
        .then(({ root }) => this.send(localRoot, root, commit, `refs/autorun/ahead/${baseBranch}`))
        .then(() => true, (error: Error) => ((why = error.message), false));
      this.remember(commit, pushed);
      if (!(await pushed)) return why;
    } else if (!(await this.has(commit))) return "the commit did not get there";
    if (worktrees.length === 0) return undefined;
    const { root } = this.trustedRoot(await this.ready());
    return this.server.call("worktrees", { root, commit, worktrees }, 60_000).then(() => undefined, (error: Error) => error.message);
  }

  /**
   * `commit` into the host's root under `ref`: as a pack through the host's server, made against
   * the last commit known to be there (a third of a push's time, which a dependant's launch waits
   * for after its merge); by `git push` when none is known or that fails.
   */
  private async send(localRoot: string, root: string, commit: string, ref: string): Promise<void> {
    const known = this.lastThere;
    if (known !== undefined) {
      const sent = await thinPack(localRoot, commit, known)
        .then((pack) => this.server.call("objects", { root, commit, ref, pack: pack.toString("base64") }, 60_000))
        .then(() => true, () => false);
      if (sent) {
        this.packed++;
        return;
      }
    }
    await pushToHost(this.s, this.target, { cwd: localRoot, remoteDir: root }, [`+${commit}:${ref}`]);
  }

  /** `commit` is on the host (fetched from there). */
  isThere(commit: string): void {
    if (!this.there.has(commit)) this.remember(commit, Promise.resolve(true));
  }

  /** Whether `commit` is on the host (pushed ahead or as the base), after a push of it under way. */
  async has(commit: string): Promise<boolean> {
    return (await this.there.get(commit)) ?? false;
  }

  /** Whether the host's root has the base branch checked out (its branch is then left as it is). */
  get keepsOwnBranch(): boolean {
    return this.ownBranchRefused;
  }

  private remember(commit: string, pushed: Promise<boolean>): void {
    this.there.set(commit, pushed);
    void pushed.then((there) => {
      if (there) this.lastThere = commit;
    });
    // The last few: a launch starts from the base tip of the latest merges.
    for (const old of this.there.keys()) if (this.there.size > 16) this.there.delete(old);
  }

  /** Pushes `commit` to `ref` of the host's root (a snapshot a moved stage's worktree is restored from). */
  async pushRef(localRoot: string, commit: string, ref: string): Promise<void> {
    const { root } = await this.ready();
    await pushToHost(this.s, this.target, { cwd: localRoot, remoteDir: root }, [`+${commit}:${ref}`]);
  }

  /** One stage on the host (after `pushBase` of its start commit). */
  async launch(input: Omit<LaunchInput, "root">): Promise<LaunchOutput> {
    const { root } = this.trustedRoot(await this.ready());
    return launchOutput.parse(await this.call("launch", { ...input, root }, 30_000));
  }

  /** Several stages in one ssh call (after `pushBase` of their start commits). */
  async launchMany(inputs: readonly Omit<LaunchInput, "root">[]): Promise<LaunchOutput[]> {
    if (inputs.length === 0) return [];
    const { root } = this.trustedRoot(await this.ready());
    const out = (await this.call("launch", { launches: inputs.map((input) => ({ ...input, root })) }, 30_000 + 2_000 * inputs.length)) as { launches: unknown[] };
    return out.launches.map((l) => launchOutput.parse(l));
  }

  /**
   * Claude Code there exits at once in a root it was never trusted in (`--worktree` asks first):
   * no session is started to die; the person is told what to do on that machine.
   */
  private trustedRoot(info: PrepareOutput): PrepareOutput {
    if (info.trusted !== false) return info;
    throw new UserError(`host ${this.spec.name} (${this.spec.ssh}): Claude Code has not been trusted in ${info.root} there, and claude --worktree exits without it; on ${this.spec.name}, run claude in ${info.root} once and accept "Yes, I trust this folder". Until then no stage starts there.`);
  }

  /** The host's tmux server named `socket` (under the host's autorun home). */
  tmux(socket: string): Tmux {
    return createRemoteTmux(this.s, this.target, { socketPath: hostTmuxSocket(this.info.home, socket), autorun: this.spec.autorun });
  }

  private async call(command: "launch", input: unknown, deadlineMs: number): Promise<unknown> {
    return this.server.call(command, input, deadlineMs);
  }
}

/** `autorun host <command>` on a host, its JSON input on stdin; what it printed, parsed. */
export async function callHost(s: SshSettings, spec: HostSpec, call: { command: string; input: unknown; deadlineMs: number }): Promise<unknown> {
  const target = { name: spec.name, destination: spec.ssh!, options: spec.sshOptions };
  const r = await runScript(s, target, CALL, { args: [spec.autorun, call.command, JSON.stringify(call.input)], deadlineMs: call.deadlineMs });
  if (!r.ok) throw new ToolError(`host ${spec.name}: autorun host ${call.command} failed: ${lastLine(r.stderr) ?? `exit ${r.code}`}`, { argv: ["ssh", spec.ssh!, "autorun", "host", call.command], code: r.code, stderr: r.stderr });
  return JSON.parse(r.stdout);
}
