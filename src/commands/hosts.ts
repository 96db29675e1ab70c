/**
 * `autorun hosts`: the configured hosts (local always), each probed over its shared connection:
 * reachable or not and why, the versions of autorun, tmux, git and the agent there, its slots and
 * how many are in use (stages running or merging there, in every running orchestration).
 */
import { loadConfig } from "../state/config.js";
import { resolveHosts } from "../core/hosts.js";
import type { Ctx } from "./ctx.js";
import { loadOrchestrations } from "../state/orchestration.js";
import { probeHost, type HostProbe } from "./host-check.js";
import { projectDir } from "./project-dir.js";

export async function runHosts(ctx: Ctx, f: { json?: boolean; project?: string }): Promise<number> {
  const root = await projectDir(ctx, f.project);
  const config = loadConfig(ctx.home, root, {}, ctx.env);
  const hosts = resolveHosts(config);
  // Stages running or merging in every running orchestration, by the host they run on.
  const inUse = new Map<string, number>();
  for (const o of loadOrchestrations(ctx.home).filter((x) => x.status.status === "running")) {
    for (const s of Object.values(o.status.stages)) if (s.status === "in_progress" || s.status === "merging") inUse.set(s.host ?? "local", (inUse.get(s.host ?? "local") ?? 0) + 1);
  }
  const probes = await Promise.all(hosts.map((h) => probeHost({ home: ctx.home }, h, config.agentCommand)));
  const rows = hosts.map((h, i) => ({
    ...withoutLacks(probes[i]!),
    sandbox_lacks: probes[i]!.sandboxLacks,
    ssh: h.ssh ?? null,
    slots: h.slots,
    in_use: inUse.get(h.name) ?? 0,
    labels: h.labels,
  }));
  if (f.json) {
    ctx.out(JSON.stringify(rows, null, 2));
  } else {
    const table = [["HOST", "SSH", "SLOTS", "LABELS", "REACHABLE", "AUTORUN", "TMUX", "GIT", "AGENT"]];
    for (const r of rows) {
      const v = (x: string | null) => (r.reachable ? (x ?? "missing") : "-");
      table.push([r.name, r.ssh ?? "(this machine)", `${r.in_use}/${r.slots}`, r.labels.join(",") || "-", r.reachable ? `yes (${r.ms} ms)` : "no", v(r.versions.autorun), v(r.versions.tmux), v(r.versions.git), v(r.versions.agent)]);
    }
    const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
    for (const row of table) ctx.out(row.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd());
    for (const r of rows) if (!r.reachable) ctx.out(`${r.name}: ${r.error}`);
  }
  return rows.every((r) => r.reachable) ? 0 : 1;
}

function withoutLacks(p: HostProbe): Omit<HostProbe, "sandboxLacks"> {
  const { sandboxLacks: _, ...rest } = p;
  return rest;
}
