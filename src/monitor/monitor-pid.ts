/** Which monitor, if any, really runs an orchestration: a pid file alone is not trusted. */
import { basename } from "node:path";
import { isOurMonitor } from "../adapters/process.js";
import { readPidFile } from "../state/pidfile.js";
import { autorunHome, type OrchPaths } from "../state/paths.js";

/** Whether `pid` is the monitor of the orchestration at `paths` (alive, not a zombie, our command line). */
export function isMonitorOf(paths: Pick<OrchPaths, "dir" | "home">, pid: number, startTime?: string): boolean {
  return isOurMonitor(pid, { planName: basename(paths.dir), home: paths.home, defaultHome: autorunHome({}), startTime });
}

/** The pid of the orchestration's running monitor, or undefined (none, or a stale pid file). */
export function runningMonitor(paths: Pick<OrchPaths, "dir" | "home" | "pid">): number | undefined {
  const held = readPidFile(paths.pid);
  return held !== undefined && isMonitorOf(paths, held.pid, held.start) ? held.pid : undefined;
}
