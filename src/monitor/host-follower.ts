/**
 * The follower of one host's events file for the monitor: what it reads there is accepted for the
 * stages placed on that host (from the byte offset of their current attempt), its offset kept in
 * the orchestration's directory; lines it refuses are counted by reason and logged in one line each.
 */
import { basename } from "node:path";
import type { SshSettings, SshTarget } from "../adapters/ssh.js";
import { HostEventFollower } from "../host/event-follower.js";
import { hostEventsFile, hostOrchDir } from "../host/protocol.js";
import { readFirstEvent } from "../state/events.js";
import type { OrchPaths } from "../state/paths.js";

/** Lines refused since they were last logged, by reason: the byte offset of the first, and how many. */
export type Rejected = Map<string, { first: number; count: number }>;

export function hostFollower(o: {
  ssh: SshSettings;
  target: SshTarget;
  /** The host's $AUTORUN_HOME. */
  home: string;
  paths: OrchPaths;
  name: string;
  /** The stages placed on the host now, with the byte offset their attempt there started at. */
  placements: () => Map<string, number>;
  rejected: Rejected;
}): HostEventFollower {
  const { paths } = o;
  const orchestration = basename(paths.dir);
  const first = readFirstEvent(paths.events)!;
  return new HostEventFollower({
    s: o.ssh,
    target: o.target,
    hostEvents: hostEventsFile(o.home, orchestration),
    hostOrchDir: hostOrchDir(o.home, orchestration),
    paths,
    identity: { plan_name: first.plan_name, project_slug: first.project_slug, started_ts: first.ts },
    placements: o.placements,
    stateFile: `${paths.dir}/host-${o.name}.offset`,
    onRejected: (offset, reason) => {
      // One log line per reason and frame read (a fenced session may have written many).
      const r = o.rejected.get(reason) ?? { first: offset, count: 0 };
      o.rejected.set(reason, { ...r, count: r.count + 1 });
    },
  });
}

/** One log line per reason for the lines refused since the last call. */
export function logRejected(log: (msg: string) => void, host: string, rejected: Rejected | undefined): void {
  for (const [reason, r] of rejected ?? []) log(`host ${host}: ignored ${r.count === 1 ? "the line" : `${r.count} lines from the one`} at byte ${r.first} of its events file: ${reason}`);
  rejected?.clear();
}
