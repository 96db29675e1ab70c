/**
 * The agents' transcripts, as their hooks name them: which file each stage's agent writes, how far
 * it was read, and whether it may have grown since. Reading what a transcript gained records the
 * stage's usage (`usage_recorded`). This part alone writes that memory.
 *
 * A stage on a host names a transcript there; what is read is the copy of its bytes the monitor
 * keeps here (monitor/host-keep.ts), which grows after the hook that named it. A stage moved here
 * resumes a copy of that file: the bytes already counted under the same session are skipped.
 */
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import type { AutorunEvent } from "../types/schemas.js";
import { claudeConfigDir, plainSessionId } from "../adapters/claude-projects.js";
import { keptTranscriptPath } from "./host-keep.js";
import type { RunView } from "./parts.js";
import { memoryOf } from "./parts.js";
import { readTranscript, recordUsage, resumeFrom, type StageUsage } from "./usage.js";

interface TranscriptMemory {
  transcript?: string;
  /** The session ids autorun gave the stage (its launches and relaunches): only their transcripts are its own. */
  sessions?: Set<string>;
  /** Paths its hooks named that were not read (each logged once). */
  refused?: Set<string>;
  usage?: StageUsage;
  /** A turn ended (or a session started) since the last read: the transcript may have grown. */
  due?: boolean;
  /** The copy kept here of a transcript on a host: it grows whenever bytes are fetched, so it is always looked at. */
  kept?: boolean;
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
    if ((event.type === "stage_launched" || event.type === "stage_relaunched") && plainSessionId(event.session_id)) (this.mem(event.stage).sessions ??= new Set()).add(event.session_id);
    if ((event.type === "session_started" || event.type === "agent_stopped") && event.transcript) {
      const m = this.mem(event.stage);
      const sid = basename(event.transcript, ".jsonl");
      // A hook's payload is the agent's to write: a transcript counts only when it is one of the
      // stage's own sessions, where Claude Code keeps it (not a file an agent made elsewhere).
      const why = m.sessions?.has(sid) !== true ? "it is no session of this stage" : event.host === undefined && !this.whereClaudeKeepsIt(event.transcript) ? `it is not in ${this.projectsDir()}` : undefined;
      if (why !== undefined) this.refuse(event.stage, event.transcript, why);
      // A path on a host means nothing here: its bytes are read from the copy kept of them.
      else if (event.host !== undefined) Object.assign(m, { transcript: keptTranscriptPath(this.view.deps.paths, event.stage, sid), due: true, kept: true });
      else Object.assign(m, { transcript: event.transcript, due: true, kept: false });
    }
    if (event.type === "usage_recorded") {
      const m = this.mem(event.stage);
      m.usage = recordUsage(m.usage, event);
      m.due = false;
    }
  }

  /** Claude Code's projects directory for the agents this monitor starts (their config dir's). */
  private projectsDir(): string {
    return join(this.view.deps.claudeDir ?? claudeConfigDir(process.env), "projects");
  }

  /** `<projects>/<one directory>/<file>`, written plainly (no `..`). */
  private whereClaudeKeepsIt(path: string): boolean {
    return isAbsolute(path) && resolve(path) === path && dirname(dirname(path)) === this.projectsDir();
  }

  private refuse(id: string, path: string, why: string): void {
    const m = this.mem(id);
    // (A hook that came before its launch was recorded names the transcript again at the next Stop.)
    if (m.sessions === undefined || (m.refused ??= new Set()).has(path) || m.refused.size > 16) return;
    m.refused.add(path);
    this.view.deps.log(`stage ${id}: not reading the transcript its hook named (${path}): ${why}`);
  }

  /**
   * Reads what each agent's transcript gained since its last turn (only the new bytes) and records
   * the stage's total as `usage_recorded`. `all`: every stage with a transcript, due or not.
   */
  collect(all = false): void {
    const { log, config } = this.view.deps;
    for (const id of Object.keys(this.view.status.stages)) {
      const m = this.mem(id);
      if (!m.transcript || !(m.due || m.kept || all)) continue;
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
