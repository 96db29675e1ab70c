/**
 * The configured hosts, resolved: `local` (this machine) always, with `slots = maxParallel`
 * unless configured, then the others in the configuration's order, each with its ssh options
 * (the top-level `sshOptions`, then its own). And the plan's `Host:` / `Needs:` checked against
 * them. Pure.
 */
import { isDeepStrictEqual } from "node:util";
import { UserError } from "../errors.js";
import type { HostConfig } from "../types/hosts-schema.js";
import { settingLine, type SettingLines, type StageSettings } from "./stage-settings.js";

export interface HostSpec {
  name: string;
  local: boolean;
  slots: number;
  labels: string[];
  /** The ssh destination (every host but local). */
  ssh?: string;
  /** ssh arguments: the top-level `sshOptions`, then the host's. */
  sshOptions: string[];
  root?: string;
  env: string[];
  /** The autorun command on the host. */
  autorun: string;
  agentCommand?: string[];
}

export interface HostsInput {
  hosts?: Record<string, HostConfig>;
  sshOptions?: readonly string[];
  maxParallel: number;
}

/** Another machine than this one can take stages. */
export function otherHostsHaveSlots(hosts: readonly HostSpec[]): boolean {
  return hosts.some((h) => !h.local && h.slots > 0);
}

/** A host name (a stage's, or its `Host:`) that means this machine: none, or `local`. */
export function onThisMachine(host: string | undefined): host is "local" | undefined {
  return host === undefined || host === "local";
}

export function resolveHosts(config: HostsInput): HostSpec[] {
  const hosts = config.hosts ?? {};
  const local = hosts.local ?? {};
  const out: HostSpec[] = [
    { name: "local", local: true, slots: local.slots ?? config.maxParallel, labels: local.labels ?? [], sshOptions: [], env: local.env ?? [], autorun: "autorun", ...(local.agentCommand ? { agentCommand: local.agentCommand } : {}) },
  ];
  for (const [name, h] of Object.entries(hosts)) {
    if (name === "local") continue;
    out.push({
      name,
      local: false,
      slots: h.slots ?? 0,
      labels: h.labels ?? [],
      ...(h.ssh !== undefined ? { ssh: h.ssh } : {}),
      sshOptions: [...(config.sshOptions ?? []), ...(h.sshOptions ?? [])],
      ...(h.root !== undefined ? { root: h.root } : {}),
      env: h.env ?? [],
      autorun: h.autorun ?? "autorun",
      ...(h.agentCommand ? { agentCommand: h.agentCommand } : {}),
    });
  }
  return out;
}

interface PlanStage {
  id: string;
  line: number;
  settings?: StageSettings;
  settingLines?: SettingLines;
}

/**
 * Refuses a plan whose stages name a host that is not configured, pin a host without a slot or
 * without the labels they need, or need labels no host with a slot has (`file:line: stage N: …`).
 */
export function checkStageHosts(file: string, stages: readonly PlanStage[], hosts: readonly HostSpec[]): void {
  const names = hosts.map((h) => h.name).join(", ");
  const offered = [...new Set(hosts.filter((h) => h.slots > 0).flatMap((h) => h.labels))];
  for (const s of stages) {
    const needs = s.settings?.needs ?? [];
    if (s.settings?.host !== undefined) {
      const at = `${file}:${settingLine(s, "host")}: stage ${s.id}`;
      const host = hosts.find((h) => h.name === s.settings!.host);
      if (!host) throw new UserError(`${at}: host ${s.settings.host} is not configured (known: ${names}); fix the name or add it under hosts in autorun.config.json.`);
      if (host.slots === 0) throw new UserError(`${at}: host ${host.name} has no slots (slots: 0), so the stage could never run; give it slots or pin another host.`);
      const missing = needs.filter((l) => !host.labels.includes(l));
      if (missing.length) throw new UserError(`${at}: host ${host.name} does not have ${missing.join(", ")}, which the stage needs; add the label to the host or pin another host.`);
    }
    const missing = needs.filter((l) => !offered.includes(l));
    if (missing.length) throw new UserError(`${file}:${settingLine(s, "needs")}: stage ${s.id}: no host with slots has ${missing.join(", ")} (labels: ${offered.join(", ") || "none"}); add the label to a host's labels or fix the stage's Needs.`);
  }
  if (!hosts.some((h) => h.slots > 0)) throw new UserError(`no host has a slot (local has slots: 0 and no other host has any); give a host slots in autorun.config.json.`);
}

/** A stage as far as its host matters: where it runs now, and the host it is pinned to. */
export interface StageOnHost {
  id: string;
  running: boolean;
  host?: string | undefined;
  pinned?: string | undefined;
}

/**
 * What the configuration's hosts (`now`) change for a run started with `before`: the names added,
 * removed or changed, or why the run cannot take them (a stage running on, or pinned to, a host
 * that `now` no longer names: it would be left where nothing reaches it). Pure.
 */
export function hostChanges(before: Record<string, HostConfig>, now: Record<string, HostConfig>, stages: readonly StageOnHost[]): { changed: string[] } | { refused: string } {
  const names = [...new Set([...Object.keys(before), ...Object.keys(now)])];
  const changed = names.filter((name) => !isDeepStrictEqual(before[name], now[name]));
  const gone = (name: string | undefined) => name !== undefined && name !== "local" && now[name] === undefined;
  for (const s of stages) {
    if (s.running && gone(s.host)) return { refused: `stage ${s.id} runs on host ${s.host}, which the configuration no longer names; name it again under hosts, or end that stage first (autorun done or skip)` };
    if (gone(s.pinned)) return { refused: `stage ${s.id} is pinned to host ${s.pinned} (Host: ${s.pinned}), which the configuration no longer names; name it again under hosts, or skip that stage (autorun skip)` };
  }
  return { changed };
}
