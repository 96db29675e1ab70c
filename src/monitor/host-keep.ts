/**
 * "Nothing is lost when a machine drops", as far as it can hold: while a stage runs on another
 * host, the controller keeps a copy of its work. At each Stop and phase event from there, the host
 * makes a snapshot of the stage's worktree (its HEAD, and its uncommitted files in a commit made
 * with a temporary index: the agent's index and files are never touched) and the controller
 * fetches it into `refs/autorun/hosts/<host>/<orchestration>/<stage>` (never one of the person's
 * branches), with the new bytes of the stage's transcript appended to a copy under the
 * orchestration. One call and one fetch per host at a time; events that come meanwhile are
 * coalesced into the next.
 *
 * A stage moved off a lost host starts from that copy (`restoreHere`): its branch at the kept
 * tip, the uncommitted files put back uncommitted, and its conversation placed where Claude Code
 * looks for it in the new worktree, so `--resume` goes on with it. After its merge, its notes come
 * back from the host the same way (`bringNotes`).
 */
import { appendFileSync, copyFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { run } from "../adapters/git.js";
import type { SshSettings, SshTarget } from "../adapters/ssh.js";
import { fetchFromHost } from "../adapters/git-ssh.js";
import { claudeConfigDir, claudeProjectName, claudeTranscriptPath, plainSessionId } from "../adapters/claude-projects.js";
import { keepOnHost, type KeepRequest } from "../host/stage-keep.js";
import { hostWorktree } from "../host/protocol.js";
import type { Clock } from "../core/clock.js";
import type { OrchPaths } from "../state/paths.js";
import type { AutorunEvent, Status } from "../types/schemas.js";
import { lastLine } from "../adapters/exec.js";

/** At most this long between two keeps of one host's stages (events meanwhile wait for the next). */
const GAP_MS = 1_000;
/** Transcript bytes per stage and call (the rest on the next). */
const TRANSCRIPT_CHUNK = 4 * 1024 * 1024;

export interface KeepDeps {
  ssh: SshSettings;
  paths: OrchPaths;
  clock: Clock;
  log: (msg: string) => void;
  status: () => Status;
  hostOf: (stage: string) => string;
  up: (host: string) => boolean;
  /** The host's ssh target and project root there (made ready). */
  remote: (host: string) => Promise<{ target: SshTarget; root: string }>;
}

/** Where the bytes of the transcript of session `sid` of stage `id` on a host are copied here. */
export function keptTranscriptPath(paths: Pick<OrchPaths, "stagesDir">, id: string, sid: string): string {
  return join(paths.stagesDir, `stage-${id}-transcripts`, `${sid}.jsonl`);
}

/** A ref name part git takes as it is. */
function refPart(s: string): boolean {
  return /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(s) && !s.includes("..") && !s.endsWith(".lock") && !s.endsWith(".");
}

async function git(cwd: string, args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  const r = await run(cwd, args);
  return { ok: r.ok, out: r.stdout.trim(), err: r.stderr.trim() };
}

export interface Kept {
  snapshot: string;
  tip: string;
  /** The local copy of the conversation of the stage's current session, when one was fetched. */
  transcript?: string;
}

export class HostKeep {
  private readonly due = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly last = new Map<string, number>();
  /** The transcript each stage's hooks named, and the host they ran on. */
  private readonly named = new Map<string, { host: string; path: string }>();
  private readonly complained = new Set<string>();

  constructor(private readonly d: KeepDeps) {}

  private get orchestration(): string {
    return basename(this.d.paths.dir);
  }

  /** The ref on the host, and the one here, that hold stage `id`'s snapshot (undefined: names git would not take). */
  refs(host: string, id: string): { there: string; here: string } | undefined {
    if (![host, this.orchestration, id].every(refPart)) return undefined;
    return { there: `refs/autorun/snapshot/${this.orchestration}/${id}`, here: `refs/autorun/hosts/${host}/${this.orchestration}/${id}` };
  }

  /** Where the bytes of the transcript of session `sid` of stage `id` are copied. */
  transcriptCopy(id: string, sid: string): string {
    return keptTranscriptPath(this.d.paths, id, sid);
  }

  observe(event: AutorunEvent): void {
    if (event.stage === undefined || event.host === undefined) return;
    if ((event.type === "session_started" || event.type === "agent_stopped") && event.transcript) this.named.set(event.stage, { host: event.host, path: event.transcript });
    if (event.type === "agent_stopped" || event.type === "phase_status" || event.type === "session_started") this.due.add(event.stage);
  }

  /** On the monitor's tick: a keep for each host with stages due, not one in flight there, not lost. */
  tick(): void {
    const now = this.d.clock.now();
    const byHost = new Map<string, string[]>();
    for (const id of this.due) {
      const host = this.d.hostOf(id);
      const stage = this.d.status().stages[id];
      if (host === "local" || !stage || (stage.status !== "in_progress" && stage.status !== "merging")) {
        this.due.delete(id);
        continue;
      }
      byHost.set(host, [...(byHost.get(host) ?? []), id]);
    }
    for (const [host, ids] of byHost) {
      if (this.inFlight.has(host) || !this.d.up(host) || now - (this.last.get(host) ?? 0) < GAP_MS) continue;
      for (const id of ids) this.due.delete(id);
      void this.start(host, ids, false);
    }
  }

  private start(host: string, ids: string[], notes: boolean): Promise<void> {
    this.last.set(host, this.d.clock.now());
    const job = this.keep(host, ids, notes)
      .then(() => void this.complained.delete(host))
      .catch((error: Error) => {
        // One line per host until a keep there works again.
        if (!this.complained.has(host)) this.d.log(`host ${host}: could not keep a copy of the work of stage${ids.length > 1 ? "s" : ""} ${ids.join(", ")}: ${error.message}`);
        this.complained.add(host);
        if (notes) throw error;
      })
      .finally(() => this.inFlight.delete(host));
    this.inFlight.set(host, job.catch(() => undefined));
    return job;
  }

  /** One call there (snapshots and transcript bytes), then one fetch of the snapshots. */
  private async keep(host: string, ids: readonly string[], notes: boolean): Promise<void> {
    const status = this.d.status();
    const { target, root } = await this.d.remote(host);
    const asked: { id: string; refs: { there: string; here: string }; copy?: string; req: KeepRequest }[] = [];
    for (const id of ids) {
      const stage = status.stages[id];
      const refs = this.refs(host, id);
      if (!stage || !refs) continue;
      const worktree = hostWorktree(root, basename(stage.worktree));
      const sid = stage.session_id;
      const copy = plainSessionId(sid) ? this.transcriptCopy(id, sid) : undefined;
      const named = this.named.get(id);
      const transcript = !copy ? "" : named?.host === host && basename(named.path) === `${sid}.jsonl` ? named.path : `${claudeProjectName(worktree)}/${sid}.jsonl`;
      const offset = copy && existsSync(copy) ? statSync(copy).size : 0;
      asked.push({ id, refs, ...(copy ? { copy } : {}), req: { worktree, ref: refs.there, transcript, offset, maxBytes: TRANSCRIPT_CHUNK } });
    }
    if (asked.length === 0) return;
    const answers = await keepOnHost(this.d.ssh, target, asked.map((a) => a.req), { notes, deadlineMs: 30_000 });
    const fetched = asked.filter((_, i) => answers[i]!.snapshot !== undefined);
    if (fetched.length > 0) await fetchFromHost(this.d.ssh, target, { cwd: status.project_root, remoteDir: root, timeoutMs: 60_000 }, fetched.map((a) => `+${a.refs.there}:${a.refs.here}`));
    for (const [i, a] of asked.entries()) {
      const answer = answers[i]!;
      if (!a.copy || answer.bytes.length === 0) continue;
      mkdirSync(dirname(a.copy), { recursive: true, mode: 0o700 });
      appendFileSync(a.copy, answer.bytes, { mode: 0o600 });
      // More there than one call brings: the next keep goes on.
      if (answer.transcriptSize > a.req.offset + answer.bytes.length) this.due.add(a.id);
    }
  }

  /** What was kept of stage `id` from `host`, or undefined when nothing was fetched. */
  async kept(host: string, id: string): Promise<Kept | undefined> {
    const status = this.d.status();
    const refs = this.refs(host, id);
    if (!refs) return undefined;
    const snap = await git(status.project_root, ["rev-parse", "--verify", "--quiet", `${refs.here}^{commit}`]);
    const tip = snap.ok ? await git(status.project_root, ["rev-parse", "--verify", "--quiet", `${snap.out}^1`]) : undefined;
    if (!snap.ok || !tip?.ok) return undefined;
    const sid = status.stages[id]?.session_id;
    const copy = plainSessionId(sid) ? this.transcriptCopy(id, sid) : undefined;
    return { snapshot: snap.out, tip: tip.out, ...(copy && existsSync(copy) && statSync(copy).size > 0 ? { transcript: copy } : {}) };
  }

  /** The stage's branch here at the tip kept from `host` (before it runs anywhere else). */
  async adoptTip(host: string, id: string): Promise<Kept | undefined> {
    const kept = await this.kept(host, id);
    const stage = this.d.status().stages[id];
    if (!kept || !stage) return undefined;
    // Its branch checked out here already: moving it would leave that worktree's files behind its HEAD.
    if (existsSync(stage.worktree)) throw new Error(`its worktree ${stage.worktree} is here already; it goes on in it, and what was kept stays in ${this.refs(host, id)!.here}`);
    const r = await git(this.d.status().project_root, ["update-ref", `refs/heads/${stage.branch}`, kept.tip]);
    if (!r.ok) throw new Error(`could not set ${stage.branch} to ${kept.tip.slice(0, 10)}: ${r.err}`);
    return kept;
  }

  /**
   * Stage `id`, moving off lost host `from` to this machine, after its worktree was made here on
   * its branch (at the kept tip, `adoptTip`): the kept uncommitted files put back (uncommitted),
   * and its conversation placed where `claude --resume` in that worktree finds it. True when the
   * conversation was placed (resume it); a line for the log either way.
   */
  async restoreHere(kept: Kept, id: string, worktree: string, env: NodeJS.ProcessEnv): Promise<{ resume: boolean; said: string }> {
    const r = await git(worktree, ["restore", `--source=${kept.snapshot}`, "--worktree", "--", "."]);
    if (!r.ok) this.d.log(`stage ${id}: could not put back its uncommitted files kept from its host: ${lastLine(r.err) ?? "no reason given"}`);
    const sid = this.d.status().stages[id]?.session_id;
    const said = `its commits up to ${kept.tip.slice(0, 10)}${r.ok ? " and its uncommitted files" : ""}`;
    if (!kept.transcript || !plainSessionId(sid)) return { resume: false, said: `${said}; no transcript of its conversation was fetched, so it starts a new one` };
    const to = claudeTranscriptPath(claudeConfigDir(env), worktree, sid);
    mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
    copyFileSync(kept.transcript, to);
    return { resume: true, said: `${said} and its conversation (${to})` };
  }

  /** After its merge: a last snapshot with its ignored files too; resolves to what was kept, or throws. */
  async bringNotes(host: string, id: string): Promise<Kept | undefined> {
    await this.inFlight.get(host);
    await this.start(host, [id], true);
    return this.kept(host, id);
  }

  /** The refs kept here for stage `id` go (after its merge). */
  async forget(id: string): Promise<void> {
    await forgetKept(this.d.status().project_root, this.orchestration, id);
  }
}

/** The copies of stage `id`'s work kept here from any host go (after its merge, or a retry that starts it afresh). */
export async function forgetKept(root: string, orchestration: string, id: string): Promise<void> {
  const list = await git(root, ["for-each-ref", "--format=%(refname)", "refs/autorun/hosts/"]);
  const mine = list.out.split("\n").filter((r) => r.endsWith(`/${orchestration}/${id}`));
  for (const ref of mine) await git(root, ["update-ref", "-d", ref]);
}
