/**
 * A stage's git work on the host it runs on, for the monitor: its branch fetched here at hand-over,
 * this machine's base pushed there before it is told to rebase, and after its merge its notes
 * brought back and its worktree, branch and snapshot refs there removed (also, once per monitor,
 * for merged stages whose cleanup a stopped monitor did not finish).
 */
import { basename } from "node:path";
import { fetchFromHost } from "../adapters/git-ssh.js";
import * as git from "../adapters/git.js";
import { runScript, type SshSettings } from "../adapters/ssh.js";
import type { RemoteHost } from "../host/remote-host.js";
import { hostTmuxSocket, hostWorktree, stageBranchRefspec } from "../host/protocol.js";
import type { RemoteStageHost } from "../host/stage-host.js";
import type { OrchPaths } from "../state/paths.js";
import type { Status } from "../types/schemas.js";
import { lookAtStages } from "./host-discard.js";
import type { HostKeep } from "./host-keep.js";
import { bringNotesHome } from "./host-move.js";
import { lastLine } from "../adapters/exec.js";

export interface HostStageWorkDeps {
  ssh: SshSettings;
  paths: OrchPaths;
  log: (msg: string) => void;
  keep: HostKeep;
  status: () => Status;
  /** Where the stage runs now ("local": this machine). */
  hostOf: (id: string) => string;
  /** The connection to a configured host other than this machine (undefined: no such host). */
  remoteHost: (host: string) => { remote: RemoteHost; stageHost: RemoteStageHost } | undefined;
  /** The run's tmux socket name (the same on every host). */
  socket: () => string;
}

export class HostStageWork {
  constructor(private readonly d: HostStageWorkDeps) {}

  private on(host: string): { remote: RemoteHost; stageHost: RemoteStageHost } {
    const c = this.d.remoteHost(host);
    if (!c) throw new Error(`host ${host} is not configured`);
    return c;
  }

  /** The stage's branch as the host has it, into this repository's branch of that name (the stage's last known tip). */
  async fetch(id: string): Promise<void> {
    const host = this.d.hostOf(id);
    if (host === "local") return;
    const status = this.d.status();
    const stage = status.stages[id]!;
    const c = this.on(host);
    const { root } = await c.remote.ready();
    await fetchFromHost(this.d.ssh, c.remote.target, { cwd: status.project_root, remoteDir: root }, [stageBranchRefspec(stage.branch)]);
    // Come from there, so there: what the next commit sent there (its merge) is packed against.
    const tip = git.refFromFiles(status.project_root, `refs/heads/${stage.branch}`);
    if (tip) c.remote.isThere(tip);
  }

  /**
   * The base tip here, to the host of stage `id` (as its branch of the base's name): before the
   * stage is told to rebase onto the base, the base it is told of is there.
   */
  async pushBase(id: string): Promise<void> {
    const host = this.d.hostOf(id);
    if (host === "local") return;
    const status = this.d.status();
    const tip = await git.headCommit(status.project_root, `refs/heads/${status.base_branch}`);
    await this.on(host).remote.pushBase(status.project_root, tip, status.base_branch);
  }

  /**
   * After a merge: the stage's notes come back from its host, then its worktree and branch there go
   * (its session was ended by the cleanup); the copies kept here of its work go too.
   */
  async cleanup(id: string): Promise<void> {
    const host = this.d.hostOf(id);
    if (host !== "local") {
      const root = (await this.on(host).remote.ready()).root;
      if (!(await bringNotesHome({ keep: this.d.keep, log: this.d.log, paths: this.d.paths, status: this.d.status() }, host, id, root))) return;
      await this.remove(host, id);
    }
    await this.d.keep.forget(id);
  }

  /**
   * Once per monitor, for merged stages that ran on hosts (`ids`): what a predecessor killed
   * between a merge and its cleanup left there (the session, the worktree, the branch) goes, the
   * notes brought back first, as after a merge. One ssh call per host to look; a host that cannot
   * be reached is left to the next monitor.
   */
  async reap(ids: readonly string[]): Promise<void> {
    const status = this.d.status();
    const byHost = new Map<string, string[]>();
    for (const id of ids) {
      const host = this.d.hostOf(id);
      if (host !== "local" && this.d.remoteHost(host)) byHost.set(host, [...(byHost.get(host) ?? []), id]);
    }
    for (const [host, those] of byHost) {
      try {
        const c = this.on(host);
        const { root, home } = await c.remote.ready();
        const looked = await lookAtStages(this.d.ssh, c.remote.target, { root, socket: hostTmuxSocket(home, this.d.socket()), baseBranch: status.base_branch, deadlineMs: 20_000 }, those.map((id) => status.stages[id]!));
        for (const [i, id] of those.entries()) {
          const { session, dirty, ahead } = looked[i]!;
          if (!session && dirty === undefined && ahead === undefined) continue;
          this.d.log(`stage ${id}: cleaning up what its merge left behind on host ${host}`);
          if (session) await c.stageHost.tmux(this.d.socket()).killSession(status.stages[id]!.session);
          // Its notes come back from a worktree still there; a branch alone has none.
          if (dirty !== undefined) await this.cleanup(id);
          else {
            await this.remove(host, id);
            await this.d.keep.forget(id);
          }
        }
      } catch (error) {
        this.d.log(`host ${host}: could not look for what merged stages left there: ${(error as Error).message}`);
      }
    }
  }

  /** The stage's worktree, branch and snapshot refs on `host` (its session already ended), best effort. */
  async remove(host: string, id: string): Promise<void> {
    const stage = this.d.status().stages[id]!;
    const c = this.on(host);
    const { root } = await c.remote.ready();
    const snapshot = this.d.keep.refs(host, id)?.there ?? "";
    const restored = snapshot.replace("refs/autorun/snapshot/", "refs/autorun/restore/");
    const r = await runScript(this.d.ssh, c.remote.target, 'cd -- "$1" || exit 0\n[ -d "$2" ] && git worktree remove --force -- "$2"\ngit worktree prune\ngit branch -D -- "$3" >/dev/null 2>&1\nfor r in "$4" "$5"; do [ -n "$r" ] && git update-ref -d "$r" >/dev/null 2>&1; done\nexit 0', { args: [root, hostWorktree(root, basename(stage.worktree)), stage.branch, snapshot, restored], deadlineMs: 20_000 });
    if (!r.ok) this.d.log(`stage ${id}: could not remove its worktree on host ${host}: ${lastLine(r.stderr) ?? `exit ${r.code}`}`);
  }
}
