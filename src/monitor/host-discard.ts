/**
 * What `autorun discard` ends on other hosts: for each stage that ran on a host (or was pinned to
 * one, whose worktree may have been made there ahead of its launch), its session, its worktree
 * when nothing in it is uncommitted, and its branch when the host's base has all of it; then the
 * run's directory there. Looked at first (what discard lists before asking), done after. Each host
 * in one ssh call each way, its names and paths as arguments on stdin.
 */
import { basename } from "node:path";
import { runScript, type SshSettings, type SshTarget } from "../adapters/ssh.js";
import { hostBaseRef, hostOrchDir, hostTmuxSocket, hostWorktree } from "../host/protocol.js";
import { openRunHost } from "../host/remote-host.js";
import type { LoadedOrchestration } from "../state/orchestration.js";
import { lastLine } from "../adapters/exec.js";
import { onThisMachine } from "../core/hosts.js";
import { readAllEvents } from "../state/events.js";

/**
 * For each stage (session, worktree, branch): "<session there 0|1> <worktree: - or its number of
 * uncommitted files> <branch: - or its commits the base there lacks, -1 unknown>". Arguments: the
 * root, the tmux socket, the base ref there, then three per stage.
 */
const LOOK_ON_HOST = `root=$1; sock=$2; base=$3; shift 3
[ -d "$root" ] || root=/nonexistent
while [ $# -ge 3 ]; do
  s=$1; w=$2; b=$3; shift 3
  on=0; tmux -S "$sock" has-session -t "=$s" 2>/dev/null && on=1
  wt=-; [ -d "$w" ] && wt=$(git -C "$w" status --porcelain=v1 --untracked-files=all 2>/dev/null | wc -l | tr -d ' ')
  br=-
  if git -C "$root" rev-parse -q --verify "refs/heads/$b" >/dev/null 2>&1; then
    br=$(git -C "$root" rev-list --count "$base..refs/heads/$b" 2>/dev/null || echo -1)
  fi
  printf '%s %s %s\\n' "$on" "$wt" "$br"
done`;

/** What LOOK_ON_HOST found of one stage on its host. */
export interface StageThere {
  /** Its tmux session is there. */
  session: boolean;
  /** Its worktree is there, with this many uncommitted or untracked files. */
  dirty: number | undefined;
  /** Its branch is there, with this many commits the base there lacks (-1: unknown). */
  ahead: number | undefined;
}

/** What is on a host of each of `stages` (one ssh call); throws when the host does not answer. */
export async function lookAtStages(
  s: SshSettings,
  target: SshTarget,
  at: { root: string; socket: string; baseBranch: string; deadlineMs: number },
  stages: readonly { session: string; worktree: string; branch: string }[],
): Promise<StageThere[]> {
  const args = stages.flatMap((st) => [st.session, hostWorktree(at.root, basename(st.worktree)), st.branch]);
  const r = await runScript(s, target, LOOK_ON_HOST, { args: [at.root, at.socket, hostBaseRef(at.baseBranch), ...args], deadlineMs: at.deadlineMs });
  if (!r.ok) throw new Error(lastLine(r.stderr) ?? `exit ${r.code}`);
  const lines = r.stdout.split("\n");
  return stages.map((_, i) => {
    const [on, wt, br] = (lines[i] ?? "0 - -").split(" ");
    return { session: on === "1", dirty: wt !== undefined && wt !== "-" ? Number(wt) : undefined, ahead: br !== undefined && br !== "-" ? Number(br) : undefined };
  });
}

/** Sessions ended, clean worktrees removed, branches the base has deleted (flags 1/0 per stage), the run's directory removed. */
const DISCARD = `root=$1; sock=$2; orch=$3; shift 3
while [ $# -ge 6 ]; do
  s=$1; w=$2; b=$3; kill=$4; tree=$5; branch=$6; shift 6
  [ "$kill" = 1 ] && tmux -S "$sock" kill-session -t "=$s" 2>/dev/null
  [ "$tree" = 1 ] && git -C "$root" worktree remove -- "$w" 2>/dev/null
  [ "$branch" = 1 ] && git -C "$root" branch -D -- "$b" >/dev/null 2>&1
done
[ -d "$root" ] && git -C "$root" worktree prune 2>/dev/null
rm -rf -- "$orch"
exit 0`;

export interface HostStage {
  id: string;
  session: string | undefined;
  worktree: { path: string; dirty: number } | undefined;
  branch: { name: string; ahead: number } | undefined;
}

export interface HostLook {
  host: string;
  /** Why the host could not be looked at (nothing is done there). */
  unreached?: string;
  stages: HostStage[];
  /** What the host needs to act (its paths). */
  at?: { root: string; socket: string; orchDir: string; target: SshTarget };
}

/**
 * The stages of the run that may have left something on another host, by host: where each runs or
 * is pinned, and every host it was launched on before. A stage moved off a lost host may have its
 * session running on there still, cut off, when the run ended before that host answered again.
 */
function stagesByHost(orch: LoadedOrchestration): Map<string, string[]> {
  const byHost = new Map<string, Set<string>>();
  const add = (host: string | undefined, id: string) => {
    if (onThisMachine(host)) return;
    byHost.set(host, (byHost.get(host) ?? new Set()).add(id));
  };
  for (const [id, s] of Object.entries(orch.status.stages)) {
    add(s.host, id);
    add(s.settings.host, id);
  }
  for (const e of readAllEvents(orch.paths.events)) {
    if ((e.type === "stage_launched" || e.type === "stage_relaunched") && orch.status.stages[e.stage]) add(e.host, e.stage);
  }
  return new Map([...byHost].map(([host, ids]) => [host, [...ids]]));
}

/** What is there of the run on each of its other hosts: the hosts looked at side by side (one that does not answer costs its connect timeout once, not once per host). */
export function lookOnHosts(orch: LoadedOrchestration): Promise<HostLook[]> {
  return Promise.all([...stagesByHost(orch)].map(([host, ids]) => lookOnHost(orch, host, ids)));
}

async function lookOnHost(orch: LoadedOrchestration, host: string, ids: readonly string[]): Promise<HostLook> {
  try {
    const there = await openRunHost({ home: orch.paths.home, projectSlug: orch.status.project_slug, config: orch.config }, host);
    if (!there) throw new Error("it is not in the configuration any more");
    const { root, home } = there.info;
    const socket = hostTmuxSocket(home, there.socket);
    const looked = await lookAtStages({ home: orch.paths.home }, there.target, { root, socket, baseBranch: orch.status.base_branch, deadlineMs: 30_000 }, ids.map((id) => orch.status.stages[id]!));
    return {
      host,
      at: { root, socket, orchDir: hostOrchDir(home, basename(orch.paths.dir)), target: there.target },
      stages: ids.map((id, i) => {
        const { session, dirty, ahead } = looked[i]!;
        const s = orch.status.stages[id]!;
        return {
          id,
          session: session ? s.session : undefined,
          worktree: dirty !== undefined ? { path: hostWorktree(root, basename(s.worktree)), dirty } : undefined,
          branch: ahead !== undefined ? { name: s.branch, ahead } : undefined,
        };
      }),
    };
  } catch (error) {
    return { host, unreached: (error as Error).message, stages: [] };
  }
}

/** A branch the base has all of, whose worktree (if any) goes too (git keeps a branch checked out somewhere). */
function deletesBranch(s: HostStage): boolean {
  return s.branch?.ahead === 0 && (s.worktree === undefined || s.worktree.dirty === 0);
}

/** What discard says it will do on a host, before asking. */
export function hostLines(look: HostLook, base: string): string[] {
  if (look.unreached !== undefined) return [`- host ${look.host} cannot be reached (${look.unreached}): nothing there is changed; its sessions, worktrees and branches of this run stay`];
  const on = (what: string) => `${what} on host ${look.host}`;
  const sessions = look.stages.flatMap((s) => (s.session ? [s.session] : []));
  const trees = look.stages.flatMap((s) => (s.worktree && s.worktree.dirty === 0 ? [s.worktree.path] : []));
  const branches = look.stages.flatMap((s) => (deletesBranch(s) ? [s.branch!.name] : []));
  return [
    sessions.length ? `- ${on(`end ${sessions.length} tmux session(s)`)}: ${sessions.join(", ")}` : "",
    trees.length ? `- ${on("remove worktree(s)")}: ${trees.join(", ")}` : "",
    ...look.stages.flatMap((s) => (s.worktree && s.worktree.dirty !== 0 ? [`- ${on(`keep worktree ${s.worktree.path}`)}: it has uncommitted or untracked files`] : [])),
    branches.length ? `- ${on("delete merged branch(es)")}: ${branches.join(", ")}` : "",
    ...look.stages.flatMap((s) => (s.branch && s.branch.ahead !== 0 ? [`- ${on(`keep branch ${s.branch.name}`)}: ${s.branch.ahead > 0 ? `${s.branch.ahead} commit(s)` : "commits"} ${base} does not have there`] : [])),
    `- remove its state on host ${look.host}: ${look.at!.orchDir}`,
  ].filter(Boolean);
}

/** Does on each host (side by side) what `lookOnHosts` found; says what could not be done. */
export async function discardOnHosts(orch: LoadedOrchestration, looks: readonly HostLook[]): Promise<string[]> {
  const failed = await Promise.all(
    looks.map(async (look) => {
      if (!look.at) return undefined;
      const at = look.at;
      const orchStages = look.stages.flatMap((s) => {
        const st = orch.status.stages[s.id]!;
        return [st.session, hostWorktree(at.root, basename(st.worktree)), st.branch, s.session ? "1" : "0", s.worktree?.dirty === 0 ? "1" : "0", deletesBranch(s) ? "1" : "0"];
      });
      const r = await runScript({ home: orch.paths.home }, at.target, DISCARD, { args: [at.root, at.socket, at.orchDir, ...orchStages], deadlineMs: 60_000 }).catch((error: Error) => ({ ok: false, stderr: error.message, code: undefined }));
      return r.ok ? undefined : `host ${look.host}: ${lastLine(r.stderr) ?? `exit ${r.code}`}`;
    }),
  );
  return failed.filter((f): f is string => f !== undefined);
}
