/**
 * Can the orchestration's event log still be written? While it cannot (a read-only or full file
 * system, a file made read-only), nothing the monitor or the agents do is recorded, and the run
 * looks idle: `status` says so instead.
 */
import { accessSync, constants, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { describeErrno } from "../errors.js";

/** Free space under which an append is taken to be refused soon (a few events' worth). */
const LOW_BYTES = 64 * 1024;

/** Why `events` cannot be appended to, or undefined when it can. */
export function eventsUnwritable(events: string): string | undefined {
  try {
    accessSync(events, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    if (code === "ENOENT") return undefined;
    return `${code}${describeErrno(code)}`;
  }
  try {
    const fs = statfsSync(dirname(events));
    if (fs.bavail * fs.bsize < LOW_BYTES) return `ENOSPC${describeErrno("ENOSPC")}`;
  } catch {
    // No statfs here: the access check is all there is.
  }
  return undefined;
}
