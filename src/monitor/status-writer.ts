/**
 * The status file (status.json, for people and agents to read; events.jsonl is the truth), kept up
 * to the monitor's folded status. A write waits for the run's lock, which every agent's report takes
 * too, and for the disk (fsync): the monitor's passes do not wait for it (`beside`), so a stall that
 * falls due or a stage handed over is not held up behind it.
 */
import { writeStatusFile } from "../state/status.js";
import type { OrchPaths } from "../state/paths.js";
import type { Status } from "../types/schemas.js";

export class StatusWriter {
  private writtenCount = -1;
  /** The write under way beside the passes, and whether the status changed since it began. */
  private writing: Promise<void> | undefined;
  private stale = false;

  constructor(
    private readonly paths: OrchPaths,
    private readonly current: () => Status,
    private readonly log: (msg: string) => void,
  ) {}

  /** The file brought up to the current status now, after the write under way. */
  async write(): Promise<void> {
    await this.settle();
    await this.writeNow();
  }

  /** The file brought up to the current status beside the passes: one write at a time, of the latest status. */
  beside(): void {
    if (this.writing) {
      this.stale = true;
      return;
    }
    const loop = async (): Promise<void> => {
      do {
        this.stale = false;
        await this.writeNow();
      } while (this.stale);
    };
    this.writing = loop()
      .catch((error: Error) => this.log(`could not write the status file: ${error.message}`))
      .finally(() => {
        this.writing = undefined;
      });
  }

  /** Waits for the write under way. */
  async settle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeNow(): Promise<void> {
    const status = this.current();
    if (status.event_count === this.writtenCount) return;
    await writeStatusFile(this.paths, status);
    this.writtenCount = status.event_count;
  }
}
