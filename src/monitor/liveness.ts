/**
 * Sessions that die: whose agent exited (its status and last words read before the pane goes),
 * a tmux server that died with all of them, the backoff before a relaunch, and when to stop
 * relaunching and fail the stage.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { lastWords, withoutFurniture } from "../core/words.js";
import { stagesList } from "../core/printable.js";
import { onThisMachine } from "../core/hosts.js";
import { relaunchStage } from "./launcher.js";
import type { AutorunEvent } from "../types/schemas.js";
import type { RunView, StageRecord } from "./parts.js";
import { memoryOf } from "./parts.js";
import { budgetStopped } from "./controls.js";
import type { Worktrees } from "./worktrees.js";

type Host = Pick<RunView, "deps" | "status" | "inProgress" | "ingest" | "emit">;

/** A stage's session history: when it was last launched (event time), when it last died, and how often it died within 10 s of a launch. */
interface SessionMemory {
  launchedAt?: number;
  deadAt?: number;
  /**
   * The session's death is recorded (`session_dead`) and no session was launched since: not to be
   * recorded again. (Its `crashed` attention is no guard: a dying agent's last event clears it.)
   */
  recordedDead?: boolean;
  quickDeaths: number;
  /** Its worktree was missing at the last look (acted on only when it still is at the next). */
  worktreeMissing?: boolean;
}

/**
 * The panes are looked at once a second at most (a pass follows every change of events.jsonl, and
 * a busy run writes several a second), and at the first pass after a session started, said it
 * ended or was found dead (an agent that dies at once, a relaunch after its backoff).
 */
const LOOK_EVERY_MS = 1_000;

export class Liveness {
  private readonly memory = new Map<string, SessionMemory>();
  /** When the panes were last looked at; undefined: look at the next pass. */
  private lookedAt: number | undefined;

  constructor(private readonly host: Host, private readonly worktrees: Worktrees) {}

  private mem(id: string): SessionMemory {
    return memoryOf(this.memory, id, () => ({ quickDeaths: 0 }));
  }

  observe(event: AutorunEvent): void {
    // A person's resume: deaths before it say nothing about whether the agent starts.
    if (event.type === "orchestration_resumed") for (const id of event.relaunch) this.mem(id).quickDeaths = 0;
    if (event.stage === undefined) return;
    if (event.type === "session_ended" || event.type === "session_dead" || event.type === "stage_launched" || event.type === "stage_relaunched") this.lookedAt = undefined;
    const m = this.mem(event.stage);
    switch (event.type) {
      case "stage_launched":
      case "stage_relaunched":
        m.launchedAt = Date.parse(event.ts);
        m.recordedDead = false;
        break;
      case "stage_retried":
      case "stage_escalated":
        Object.assign(m, { quickDeaths: 0, deadAt: undefined, recordedDead: false });
        break;
      case "session_dead":
        // (A lost host's session may still run there: found dead later, that is its death.)
        m.recordedDead = event.reason !== "host_lost";
        m.deadAt = this.host.deps.clock.now();
        if (!event.server_gone && event.reason !== "worktree_gone" && m.launchedAt !== undefined && Date.parse(event.ts) - m.launchedAt < 10_000) m.quickDeaths += 1;
        break;
      default:
        break;
    }
  }

  async check(paused: boolean): Promise<void> {
    const now = this.host.deps.clock.now();
    if (this.lookedAt !== undefined && now - this.lookedAt >= 0 && now - this.lookedAt < LOOK_EVERY_MS) return;
    this.lookedAt = now;
    await checkLiveness(this.host, this.worktrees, (id) => this.mem(id), paused);
  }
}

/**
 * Sessions that ended while their stage was in progress. Panes stay after their program exits
 * (remain-on-exit), so the exit status and last words are read before the pane is removed.
 * A relaunch waits a backoff; an agent that exits within 10 s of its launch twice is failed
 * with what it said, not relaunched in a loop. A dead tmux server is told by the server being gone.
 */
async function checkLiveness(host: Host, worktrees: Worktrees, mem: (id: string) => SessionMemory, paused: boolean): Promise<void> {
  const { tmux, clock } = host.deps;
  let gone: { id: string; exit?: { status: number | undefined; signal: number | undefined } }[] = [];
  // A stage ended for its budget (`onBudget: stop`) is relaunched only once a person raises it.
  const watched = host.inProgress().filter(([, stage]) => !stage.implement_done && !budgetStopped(host.status, host.deps.config, stage));
  if (watched.length === 0) return;
  // Every pane's state in one tmux call, not one per stage.
  const panes = await tmux.paneStatuses(watched.map(([, stage]) => stage.session));
  // tmux marks a pane dead when its terminal closes, and learns the exit status a moment later
  // (tmux 3.3 at times never does, when the program had started one of its own): each dead pane
  // is looked at again until a second has passed in all, not a second per look.
  const until = clock.now() + 1_000;
  for (const [id, stage] of watched) {
    let pane = panes.get(stage.session) ?? { state: "gone" as const };
    if (pane.state === "running") {
      if (await endedForItsWorktree(host, id, stage, mem(id))) gone.push({ id });
      continue;
    }
    for (let look = 0; look < 10 && clock.now() < until && pane.state === "exited" && pane.status === undefined && pane.signal === undefined; look++) {
      await clock.sleep(100);
      pane = await tmux.paneStatus(stage.session);
    }
    gone.push(pane.state === "exited" ? { id, exit: { status: pane.status, signal: pane.signal } } : { id });
  }
  if (gone.length === 0) return;
  // An agent that reports "implement done" and exits is finished, not dead: read what it wrote
  // between our last read and its exit before judging.
  host.ingest();
  gone = gone.filter(({ id }) => host.status.stages[id]?.status === "in_progress" && !host.status.stages[id]?.implement_done);
  if (gone.length === 0) return;
  // tmux exits with its last session, so one gone session alone cannot tell a dead server.
  const serverGone = gone.length >= 2 && gone.every((g) => !g.exit) && !(await tmux.serverRunning());
  if (serverGone) host.deps.log(`the tmux server is gone; relaunching ${stagesList(gone.map((g) => g.id))}`);
  for (const { id, exit } of gone) {
    const stage = host.status.stages[id]!;
    const m = mem(id);
    if (exit && !m.recordedDead) {
      let lastLines = await tmux.lastLines(stage.session, 15);
      // Output the pane had not drawn yet when its program exited shows up a moment later.
      for (let look = 0; look < 5 && lastLines.length === 0; look++) {
        await clock.sleep(100);
        lastLines = await tmux.lastLines(stage.session, 15);
      }
      await tmux.killSession(stage.session);
      // What the agent said, without the input box and hints drawn around it.
      lastLines = withoutFurniture(lastLines);
      host.emit({ type: "session_dead", stage: id, session: stage.session, ...(exit.status !== undefined ? { exit_status: exit.status } : {}), ...(exit.signal !== undefined ? { signal: exit.signal } : {}), last_lines: lastLines });
      host.deps.log(`stage ${id}: its agent exited${exit.status !== undefined ? ` with status ${exit.status}` : ""}${exit.signal !== undefined ? ` on signal ${exit.signal}` : ""}${lastLines.length ? `; last words: ${lastWords(lastLines, 3)}` : ""}`);
    } else if (exit) {
      await tmux.killSession(stage.session); // its death is recorded; the pane goes before a relaunch
    } else if (!m.recordedDead) {
      host.emit({ type: "session_dead", stage: id, session: stage.session, ...(serverGone ? { server_gone: true } : {}) });
      host.deps.log(`stage ${id}: its session ${stage.session} is gone${serverGone ? " (its tmux server ended)" : ""}`);
    }
    if (paused) continue;
    const now = host.status.stages[id]!;
    const said = now.last_exit ? lastWords(now.last_exit.last_lines, 5) : undefined;
    const code = now.last_exit?.exit_status;
    if (m.quickDeaths >= 2 && !serverGone) {
      await failOrEscalate(host, worktrees, id, `the agent exited${code !== undefined && code !== null ? ` ${code}` : ""} within 10 s of its launch, twice${said ? `: ${said}` : ""}`);
      continue;
    }
    const limit = (serverGone ? 6 : 2) + freeRelaunches(now);
    if (now.attempts >= limit || attemptsUsed(now)) {
      const cap = now.settings.max_attempts;
      await failOrEscalate(host, worktrees, id, `its session ended ${now.attempts === 1 ? "once" : `${now.attempts} times`}${cap !== undefined && now.sessions >= cap ? ` (${now.sessions} of its ${cap} attempts used)` : ""}${said ? `; last words: ${said}` : ""}`);
      continue;
    }
    // Back off before relaunching (1 s, 2 s, 4 s … up to 30 s), unless the server itself died.
    const wait = serverGone ? 0 : Math.min(30_000, 1000 * 2 ** Math.max(0, now.attempts - 1));
    if (m.deadAt !== undefined && clock.now() - m.deadAt < wait) continue;
    await relaunchStage({ tmux, paths: host.deps.paths, config: host.deps.config, log: host.deps.log, worktrees, ...(host.deps.hosts ? { hosts: host.deps.hosts } : {}) }, id, now.attempts);
    host.ingest();
  }
}

/**
 * A running stage here whose worktree was removed (by hand, or by its agent): nothing it does can
 * be committed, so its session is ended, to be relaunched like a dead one in a worktree made again
 * from its branch (with its conversation). The relaunch counts as one of its sessions, as any
 * does: a stage whose worktree keeps going fails instead of running again for ever. It is no quick
 * death (the agent did not exit). A stage here is launched only once its worktree is made, so one
 * missing was removed since, even before this monitor started; but only when nothing is left at its
 * path: files there are someone's, and `autorun doctor` says how to move them aside.
 */
async function endedForItsWorktree(host: Host, id: string, stage: StageRecord, m: SessionMemory): Promise<boolean> {
  if (!onThisMachine(stage.host)) return false;
  if (existsSync(join(stage.worktree, ".git"))) {
    m.worktreeMissing = false;
    return false;
  }
  if (existsSync(stage.worktree)) return false;
  // Missing at two looks in a row, its agent still running: one exiting after removing its own
  // worktree (as claude's /exit does) is let go and relaunched as any exited agent.
  if (!m.worktreeMissing) {
    m.worktreeMissing = true;
    return false;
  }
  m.worktreeMissing = false;
  await host.deps.tmux.killSession(stage.session);
  host.emit({ type: "session_dead", stage: id, session: stage.session, reason: "worktree_gone" });
  host.deps.log(`stage ${id}: its worktree ${stage.worktree} was removed; its session is ended, to run again in a worktree made from its branch ${stage.branch}`);
  return true;
}

/**
 * The model a failed stage is tried with next: the one after its current model in `escalation`
 * (the first, when its model is not on the list), or none when the list is used up.
 */
export function nextModel(ladder: readonly string[], current: string | undefined): string | undefined {
  const at = current === undefined ? -1 : ladder.indexOf(current);
  return ladder[at + 1];
}

/** The relaunches that do not count: those made, and the next one when a person granted it. */
function freeRelaunches(stage: StageRecord): number {
  return stage.free_relaunches + (stage.relaunch_free ? 1 : 0);
}

/** The plan's `max_attempts` for the stage (sessions in all; relaunches after a dead tmux server are free) is used up. */
function attemptsUsed(stage: StageRecord): boolean {
  const cap = stage.settings.max_attempts;
  return cap !== undefined && stage.sessions >= cap + freeRelaunches(stage);
}

/** A stage out of sessions runs again with the next model of `escalation` while its attempts allow; else it fails. */
async function failOrEscalate(host: Host, worktrees: Worktrees, id: string, reason: string): Promise<void> {
  const { config, log } = host.deps;
  const stage = host.status.stages[id]!;
  const current = stage.model ?? config.model;
  const next = nextModel(config.escalation, current);
  if (next === undefined || attemptsUsed(stage)) {
    host.emit({ type: "stage_failed", stage: id, reason });
    log(`stage ${id}: failed: ${reason}`);
    return;
  }
  host.emit({ type: "stage_escalated", stage: id, model: next, from: current ?? null, reason });
  log(`stage ${id}: ${reason}; trying again with the model ${next}${current ? ` (was ${current})` : ""}`);
  await relaunchStage({ tmux: host.deps.tmux, paths: host.deps.paths, config, log, worktrees, ...(host.deps.hosts ? { hosts: host.deps.hosts } : {}) }, id, 0);
  host.ingest();
}
