/**
 * A host that stopped answering: its stages' sessions are recorded dead with reason `host_lost`
 * (the host's sessions may well run on, cut off: nothing they report is read until the host is
 * fenced), and once the grace period (`hostGraceSeconds`) is over each is relaunched where
 * placement puts it: another host, or this machine, from its last fetched tip. A stage pinned to
 * the lost host waits for it.
 */
import { relaunchStage } from "./launcher.js";
import type { RunView } from "./parts.js";
import type { RunHosts } from "./run-hosts.js";
import { stagesList } from "../core/printable.js";
import type { Worktrees } from "./worktrees.js";

export async function checkHosts(view: Pick<RunView, "deps" | "status" | "emit" | "ingest">, hosts: RunHosts, worktrees: Worktrees, paused: boolean): Promise<void> {
  const { deps } = view;
  for (const host of hosts.check()) {
    const ids = hosts.stagesOn(host).filter((id) => view.status.stages[id]?.status === "in_progress");
    // A stage pinned there (Host:) waits for it; the others go elsewhere after the grace.
    const pinned = ids.filter((id) => view.status.stages[id]!.settings.host === host);
    const moving = ids.filter((id) => !pinned.includes(id));
    const fates = [
      moving.length ? `${stagesList(moving)} ${moving.length === 1 ? "is" : "are"} relaunched elsewhere after ${deps.config.hostGraceSeconds} s unless it comes back` : "",
      pinned.length ? `${stagesList(pinned)}, pinned there, wait${pinned.length === 1 ? "s" : ""} for it` : "",
    ].filter(Boolean);
    deps.log(`host ${host}: lost (no answer for ${hosts.silentSeconds(host)} s)${fates.length ? `; ${fates.join("; ")}` : ""}`);
    for (const id of ids) {
      const stage = view.status.stages[id]!;
      view.emit({ type: "session_dead", stage: id, session: stage.session, reason: "host_lost" });
    }
  }
  if (paused) return;
  const now = deps.clock.now();
  for (const host of new Set(hosts.specs.map((h) => h.name))) {
    const lostAt = hosts.lostAt(host);
    if (lostAt === undefined || now - lostAt < deps.config.hostGraceSeconds * 1000) continue;
    for (const id of hosts.stagesOn(host)) {
      const stage = view.status.stages[id];
      // A stage pinned to the lost host waits for it.
      if (stage?.status !== "in_progress" || stage.implement_done || stage.settings.host === host) continue;
      await relaunchStage({ tmux: deps.tmux, paths: deps.paths, config: deps.config, log: deps.log, worktrees, hosts }, id, stage.attempts);
      view.ingest();
    }
  }
}
