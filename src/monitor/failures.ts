/**
 * Turns that ended on an API error, as Claude Code's StopFailure hook reports them (it fires
 * instead of Stop): the structured signal, acted on before any screen is read. A rate limit
 * pauses the run (as the usage-limit screen does: nothing is typed until it is over); a refused
 * login raises `attention: login` and asks a person; any other error asks a person with its text.
 * Until the agent shows it works again (a turn ends, a prompt is taken, its session starts again,
 * or its screen shows it busy), an idle-looking screen clears none of this and nothing is typed.
 */
import type { AutorunEvent } from "../types/schemas.js";
import type { ReviewDesk, RunView } from "./parts.js";
import { memoryOf } from "./parts.js";
import { startRateLimit } from "./pause.js";
import { cutAtWord } from "../core/text-width.js";

/** A turn that ended on an API error, not yet followed by a sign that the agent works again. */
export interface StopFailure {
  error: string;
  message: string;
  /** The monitor already paused, asked for a login or filed the review (read back from the events on replay). */
  acted: boolean;
}

/** How long the run pauses on a rate limit whose text names no reset time: Claude Code already retried for minutes. */
const RATE_LIMIT_PAUSE_MS = 5 * 60_000;

const SIGNS_OF_LIFE = new Set<AutorunEvent["type"]>(["agent_stopped", "prompt_submitted", "session_started", "stage_launched", "stage_relaunched", "phase_status", "stage_retried"]);

interface FailureMemory {
  failure?: StopFailure;
  /** It worked again after such a failure: what the failure raised is to be cleared. */
  recovered?: boolean;
}

export class StopFailures {
  private readonly memory = new Map<string, FailureMemory>();

  constructor(private readonly host: Pick<RunView, "deps" | "status" | "inProgress" | "emit">, private readonly reviews: Pick<ReviewDesk, "file" | "filed" | "isOpen" | "resolveLater">) {}

  private mem(id: string): FailureMemory {
    return memoryOf(this.memory, id, () => ({}));
  }

  /** The agent's last turn ended on an API error, and it has not worked since. */
  failed(id: string): boolean {
    return this.memory.get(id)?.failure !== undefined;
  }

  observe(event: AutorunEvent): void {
    if (event.type === "rate_limited" || event.type === "rate_limit_cleared") {
      // The pause a rate limit asks for is under way (or over): nothing more to do for it.
      for (const id of Object.keys(this.host.status.stages)) if (this.mem(id).failure?.error === "rate_limit") this.mem(id).failure = undefined;
      return;
    }
    if (event.stage === undefined) return;
    const m = this.mem(event.stage);
    if (event.type === "agent_stop_failed") {
      m.failure = { error: event.error, message: event.message, acted: false };
      return;
    }
    if (!m.failure) return;
    if (SIGNS_OF_LIFE.has(event.type)) {
      m.failure = undefined;
      m.recovered = true;
    } else if ((event.type === "stage_attention" && event.attention === "login") || (event.type === "review_requested" && (event.key === "login" || event.key === "stop_failure"))) {
      m.failure.acted = true;
    }
  }

  /** The agent works again (its screen shows it busy): what its failure raised can clear. */
  recovered(id: string): void {
    const m = this.mem(id);
    m.failure = undefined;
    m.recovered = true;
  }

  /** Acts on each new failure, and clears what a failure raised once its stage works again. */
  async check(): Promise<void> {
    for (const [id, stage] of this.host.inProgress()) {
      const m = this.mem(id);
      if (m.recovered) {
        m.recovered = false;
        if (stage.attention === "login") this.host.emit({ type: "stage_attention", stage: id, attention: null, reason: "dialog closed" });
        if (this.reviews.isOpen(id, "stop_failure")) this.reviews.resolveLater(id, (k) => k === "stop_failure", "the agent works again");
      }
      const failure = m.failure;
      if (!failure || failure.acted) continue;
      failure.acted = true;
      const text = failure.message || `(Claude Code gave no text; the error kind is ${failure.error})`;
      this.host.deps.log(`stage ${id}: its turn ended on an API error (${failure.error}): ${cutAtWord(text, 160)}`);
      if (failure.error === "rate_limit") {
        m.failure = undefined;
        if (this.host.status.paused_until === null) startRateLimit(this.host, failure.message || "rate limit (StopFailure hook)", RATE_LIMIT_PAUSE_MS);
        continue;
      }
      const s = this.host.status;
      if (failure.error === "authentication_failed") {
        // The screen may have shown the login error first: one attention, one review.
        if (stage.attention === "login" && this.reviews.filed(id, "login")) continue;
        this.host.emit({ type: "stage_attention", stage: id, attention: "login", reason: text.slice(0, 300) });
        await this.reviews.file({ id, key: "login" }, `Stage ${id} is waiting at a login problem`, `Stage ${id} (${stage.name}) in tmux session ${stage.session}: Claude Code refused its login (StopFailure hook, authentication_failed):\n\n    ${text}\n\nautorun types nothing into it until it works again.`, [
          { topic: "Fix the login", question: `Fix the agent's login (for Claude Code: /login, or a valid ANTHROPIC_API_KEY in the shell that runs \`autorun resume\`), then attach with \`autorun attach ${s.plan_name} ${id}\` and tell it to continue. Write what you did here.` },
        ]);
        continue;
      }
      await this.reviews.file({ id, key: "stop_failure" }, `Stage ${id} stopped on an API error (${failure.error.replace(/_/g, " ")})`, `Stage ${id} (${stage.name}) in tmux session ${stage.session}: Claude Code ended the agent's turn on an error (StopFailure hook, ${failure.error}):\n\n    ${text}\n\nautorun types nothing into it until it works again.`, [
        { topic: "What should the agent do?", question: `Attach with \`autorun attach ${s.plan_name} ${id}\` and tell it how to carry on, or nudge it with \`autorun nudge ${s.plan_name} ${id} "<message>"\`. Write what you did here.` },
      ]);
    }
  }
}
