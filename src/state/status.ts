/** status.json: replaced atomically (temp file + fsync + rename) under the orchestration lock. */
import { readFileSync, existsSync } from "node:fs";
import writeFileAtomic from "write-file-atomic";
import { statusSchema, type Status } from "../types/schemas.js";
import { foldEvents } from "../core/fold.js";
import { readAllEvents } from "./events.js";
import { withLock } from "./lock.js";
import type { OrchPaths } from "./paths.js";
import { RuntimeError } from "../errors.js";

export function readStatusFile(file: string): Status | undefined {
  if (!existsSync(file)) return undefined;
  const parsed = statusSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success) throw new RuntimeError(`${file} is not a valid status file (${parsed.error.issues[0]?.message}); delete it: the monitor rebuilds it from events.jsonl (\`autorun resume\`).`);
  return parsed.data;
}

/** Writes `status` unless the file already holds a fold of more events (a later writer won). */
export async function writeStatusFile(paths: OrchPaths, status: Status): Promise<void> {
  await withLock(paths.lock, async () => {
    try {
      const current = existsSync(paths.status) ? safeRead(paths.status) : undefined;
      if (current && current.event_count > status.event_count) return;
      await writeFileAtomic(paths.status, JSON.stringify(status, null, 2) + "\n", { fsync: true, mode: 0o600 });
    } catch (error) {
      throw new RuntimeError(`cannot write ${paths.status}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; free disk space or fix permissions (events.jsonl is intact).`, { cause: error });
    }
  });
}

function safeRead(file: string): Status | undefined {
  try {
    return readStatusFile(file);
  } catch {
    return undefined;
  }
}

/** Folds events.jsonl into a status and writes it. The events are the truth. */
export async function rebuildStatus(paths: OrchPaths): Promise<Status | undefined> {
  const status = foldEvents(readAllEvents(paths.events));
  if (status) await writeStatusFile(paths, status);
  return status;
}

/** The current status straight from the events (never stale), without writing. */
export function loadStatus(paths: OrchPaths): Status | undefined {
  return foldEvents(readAllEvents(paths.events));
}
