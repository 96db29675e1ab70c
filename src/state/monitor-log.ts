/** The orchestration's monitor log: what the monitor did, and what people did to the run. */
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { localStamp } from "../core/time.js";
import { printable } from "../core/printable.js";
import type { OrchPaths } from "./paths.js";

/**
 * The orchestration's monitor log, each line stamped with the time and the run. `echo` prints
 * each line too: `stamped` as written (a monitor in the foreground), else only the message (a
 * person's command, whose output is read as it comes).
 */
export function monitorLogger(paths: OrchPaths, echo?: { out: (line: string) => void; stamped: boolean }): (msg: string) => void {
  mkdirSync(dirname(paths.monitorLog), { recursive: true, mode: 0o700 });
  return (msg: string) => {
    const text = printable(msg);
    const line = `${localStamp(new Date())} [${paths.dir.split("/").pop()}] ${text}`;
    try {
      appendFileSync(paths.monitorLog, line + "\n", { mode: 0o600 });
    } catch {
      // The log is for people; a full disk must not stop the monitor.
    }
    echo?.out(echo.stamped ? line : text);
  };
}
