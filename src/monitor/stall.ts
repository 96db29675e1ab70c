/**
 * Stalls: when a stage's agent counts as idle (a hook said its turn ended, or its screen stayed
 * unchanged), for how long, how often it was nudged in a row, and what a stall leads to (a nudge,
 * or after `maxNudges` a review). This part alone writes that memory; every event that restarts
 * the stall timer goes through `restart`.
 */
import type { AutorunEvent } from "../types/schemas.js";
import type { ReviewDesk, RunView } from "./parts.js";
import { memoryOf } from "./parts.js";

/** A stage's stall memory, rebuilt from events on replay. */
export interface StallMemory {
  /** The agent output on the screen seen last, when it last changed (or a nudge or report restarted the timer), and when that screen was first seen. */
  lastScreen?: string;
  screenSince: number;
  bodySeenAt?: number;
  /** A hook said the turn ended (the hook path's stall timer runs from `idleSince`). */
  idleHint: boolean;
  idleSince?: number;
  consecutiveNudges: number;
}

/** What a stall leads to: nothing more (a person is asked, or was), or a nudge typed for `why`. */
export type StallAction = { kind: "asked" } | { kind: "nudge"; why: string };

export class Stalls {
  private readonly memory = new Map<string, StallMemory>();

  constructor(private readonly view: Pick<RunView, "deps" | "status" | "emit">, private readonly reviews: Pick<ReviewDesk, "file">) {}

  /** The stall memory of stage `id` (read-only outside this module). */
  of(id: string): Readonly<StallMemory> {
    return this.mem(id);
  }

  private mem(id: string): StallMemory {
    return memoryOf(this.memory, id, () => ({ screenSince: this.view.deps.clock.now(), idleHint: false, consecutiveNudges: 0 }));
  }

  /**
   * The agent did something (or was told something) at `at` (now when not given): the stall timer
   * starts again from then, and no hook says it is idle. The timer never goes back before the
   * last activity known.
   */
  restart(id: string, at?: number): void {
    const m = this.mem(id);
    m.idleHint = false;
    m.screenSince = Math.max(m.screenSince, at ?? this.view.deps.clock.now());
  }

  /**
   * When `event` happened, by the monitor's clock: the time it was written (the monitor reads it
   * later, after its watcher fired and the pass got to it), never later than now nor more than
   * `stallSeconds` before (an event's time is written by whoever appended it).
   */
  private happened(event: AutorunEvent): number {
    const now = this.view.deps.clock.now();
    const at = Date.parse(event.ts);
    if (this.replaying || !Number.isFinite(at)) return now;
    return Math.min(now, Math.max(at, now - this.view.deps.config.stallSeconds * 1000));
  }

  private replaying = true;

  /** A person's nudge: the count of nudges in a row starts again. */
  forgetNudges(id: string): void {
    this.mem(id).consecutiveNudges = 0;
  }

  /** The screen's agent output is `body` now; true when it changed (the screen-path timer restarts). */
  sawScreen(id: string, body: string, now: number): boolean {
    const m = this.mem(id);
    if (body === m.lastScreen) return false;
    Object.assign(m, { lastScreen: body, screenSince: now, bodySeenAt: now });
    return true;
  }

  observe(event: AutorunEvent, replaying: boolean): void {
    this.replaying = replaying;
    if (event.stage === undefined) return;
    const m = this.mem(event.stage);
    switch (event.type) {
      case "stage_idle":
      case "agent_stopped": {
        // The hook path's timer runs from when the turn ended (the hook's event), not from when the
        // monitor got to read it.
        const idleSince = m.idleHint ? (m.idleSince ?? this.happened(event)) : this.happened(event);
        Object.assign(m, { idleHint: true, idleSince });
        // Look again right when the stall would be due, not at the next safety-net tick.
        if (!replaying) this.view.deps.wake?.(Math.max(0, idleSince + this.view.deps.config.stallSeconds * 1000 + 10 - this.view.deps.clock.now()));
        break;
      }
      case "phase_status":
        m.consecutiveNudges = 0;
        this.restart(event.stage, this.happened(event));
        break;
      case "stage_launched":
      case "stage_relaunched":
      case "prompt_submitted":
      // The agent's last Stop came before a merge: it is not a stall, and a message is on its way.
      case "merge_started":
      case "merge_conflict":
        this.restart(event.stage, this.happened(event));
        break;
      case "stage_retried":
      case "stage_escalated":
        m.consecutiveNudges = 0;
        m.idleHint = false;
        break;
      case "stall_continue_sent":
        m.consecutiveNudges += 1;
        m.idleHint = false;
        break;
      case "agent_stop_failed":
        m.idleHint = false;
        break;
      default:
        break;
    }
  }

  /**
   * Whether the stage stalled, on a screen judged `idle` (or not) at `now`: by the hook (its turn
   * ended `stallSeconds` ago) or by the screen (unchanged that long with no hook).
   */
  stalled(id: string, screenIdle: boolean, now: number): "hook" | "screen" | undefined {
    const m = this.mem(id);
    const idleMs = this.view.deps.config.stallSeconds * 1000;
    // The hook path waits stallSeconds too, so a person attached to the pane is not typed over.
    if (m.idleHint && now - (m.idleSince ?? now) >= idleMs) return "hook";
    // The screen's own clock is for agents whose idleness nothing pushed.
    if (!m.idleHint && screenIdle && now - m.screenSince >= idleMs) return "screen";
    return undefined;
  }

  /** Seconds the stage has been idle by `source`'s clock. */
  idleSeconds(id: string, source: "hook" | "screen", now: number): number {
    const m = this.mem(id);
    return Math.round((now - (source === "hook" ? (m.idleSince ?? now) : m.screenSince)) / 1000);
  }

  /**
   * A stall of stage `id`: recorded, and a nudge to type; after `maxNudges` in a row, the stage's
   * attention is `idle` and a person is asked instead.
   */
  async onStall(id: string, source: "hook" | "screen", idleSeconds: number): Promise<StallAction> {
    const { config } = this.view.deps;
    const m = this.mem(id);
    const status = this.view.status;
    const stage = status.stages[id]!;
    this.restart(id);
    if (m.consecutiveNudges >= config.maxNudges) {
      if (stage.attention !== "idle") {
        const nudges = m.consecutiveNudges === 1 ? "one nudge" : `${m.consecutiveNudges} nudges`;
        this.view.emit({ type: "stage_attention", stage: id, attention: "idle", reason: m.consecutiveNudges === 0 ? "idle, and not nudged (maxNudges is 0)" : `still idle after ${nudges}` });
        await this.reviews.file({ id, key: "idle" }, `Stage ${id} is stuck at its prompt`, `Stage ${id} (${stage.name}) stayed idle${m.consecutiveNudges === 0 ? " (maxNudges is 0: it is not nudged)" : ` after ${nudges}`}.`, [
          { topic: "What should the agent do?", question: `Attach with \`autorun attach ${status.plan_name} ${id}\` or nudge it with \`autorun nudge ${status.plan_name} ${id} "<message>"\`.` },
        ]);
      }
      return { kind: "asked" };
    }
    this.view.emit({ type: "stall_detected", stage: id, source, idle_seconds: idleSeconds });
    const how = source === "hook" ? "since its turn ended" : "with its screen unchanged";
    return { kind: "nudge", why: `idle ${idleSeconds} s at its prompt ${how}` };
  }
}
