/**
 * The agents' transcripts, as their hooks name them: which file each stage's agent writes, how far
 * it was read, and whether it may have grown since. Reading what a transcript gained records the
 * stage's usage (`usage_recorded`). This part alone writes that memory.
 */
import type { AutorunEvent } from "../types/schemas.js";
import type { RunView } from "./parts.js";
import { memoryOf } from "./parts.js";
import { readTranscript, recordUsage, resumeFrom, type StageUsage } from "./usage.js";

interface TranscriptMemory {
  transcript?: string;
  usage?: StageUsage;
  /** A turn ended (or a session started) since the last read: the transcript may have grown. */
  due?: boolean;
}

export class Transcripts {
  private readonly memory = new Map<string, TranscriptMemory>();

  constructor(private readonly view: Pick<RunView, "deps" | "status" | "emit">) {}

  private mem(id: string): TranscriptMemory {
    return memoryOf(this.memory, id, () => ({}));
  }

  /** The transcript stage `id`'s hooks named last. */
  pathOf(id: string): string | undefined {
    return this.memory.get(id)?.transcript;
  }

  observe(event: AutorunEvent): void {
    if (event.stage === undefined) return;
    if ((event.type === "session_started" || event.type === "agent_stopped") && event.transcript) Object.assign(this.mem(event.stage), { transcript: event.transcript, due: true });
    if (event.type === "usage_recorded") {
      const m = this.mem(event.stage);
      m.usage = recordUsage(m.usage, event);
      m.due = false;
    }
  }

  /**
   * Reads what each agent's transcript gained since its last turn (only the new bytes) and records
   * the stage's total as `usage_recorded`. `all`: every stage with a transcript, due or not.
   */
  collect(all = false): void {
    const { log, config } = this.view.deps;
    for (const id of Object.keys(this.view.status.stages)) {
      const m = this.mem(id);
      if (!m.transcript || !(m.due || all)) continue;
      m.due = false;
      // Each transcript is read on from where it was left (a retry's new session, or hooks that
      // name two transcripts in turn, count each byte once); a new one adds to the stage's total.
      const from = resumeFrom(m.usage, m.transcript);
      if (!from) {
        log(`stage ${id}: not reading transcript ${m.transcript}: the stage's hooks named too many transcripts`);
        continue;
      }
      const next = readTranscript(from, config.prices);
      if (!next) continue;
      if ("refused" in next) {
        log(`stage ${id}: not reading the transcript its hook named: ${next.refused}`);
        continue;
      }
      this.view.emit({ type: "usage_recorded", stage: id, transcript: next.transcript, offset: next.offset, usage: next.total, ...(next.last ? { last_message: next.last } : {}) });
    }
  }
}
