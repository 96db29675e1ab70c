/**
 * What changed in a stage's section of the plan since its run started: `autorun retry` re-reads
 * the plan and says, per stage, which of title, scope, dependencies and settings changed. Pure.
 */
import { commandLine } from "./printable.js";
import type { StageSettings } from "./stage-settings.js";
import { dollars } from "./usage.js";
import { cutAtWord } from "./text-width.js";

export interface StageAsRun {
  name: string;
  depends_on: readonly string[];
  settings: StageSettings;
}

export interface StageInPlan {
  name: string;
  depends_on: readonly string[];
  settings?: StageSettings;
}

export interface StageChanges {
  /** What a retry takes over, each as a short phrase (`budget $1.00 → $2.00`). */
  applied: string[];
  /** What the plan changed that a running orchestration keeps as it started (the graph, done-ness). */
  kept: string[];
  /** The settings the retried stage runs with: the plan's, except `status`, which the run keeps. */
  settings: StageSettings;
}

const LABELS: Record<keyof StageSettings, string> = {
  model: "model",
  max_attempts: "attempts",
  exclusive_resources: "exclusive",
  budget_usd: "budget",
  validate: "validate",
  status: "status",
  host: "host",
  needs: "needs",
};

function show(key: keyof StageSettings, value: StageSettings[keyof StageSettings]): string {
  if (value === undefined) return "(none)";
  if (key === "budget_usd") return dollars(value as number);
  if (key === "validate") return (value as string[][]).map(commandLine).join("; ");
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

/** The differences between a stage as its run knows it and as the plan now gives it. */
export function stageChanges(before: StageAsRun, after: StageInPlan): StageChanges {
  const applied: string[] = [];
  const kept: string[] = [];
  if (before.name !== after.name) applied.push(`title "${cutAtWord(before.name, 60)}" → "${cutAtWord(after.name, 60)}"`);
  const now = after.settings ?? {};
  const keys = new Set([...Object.keys(before.settings), ...Object.keys(now)] as (keyof StageSettings)[]);
  for (const key of [...keys].sort()) {
    const was = show(key, before.settings[key]);
    const is = show(key, now[key]);
    if (was === is) continue;
    (key === "status" ? kept : applied).push(`${LABELS[key]} ${cutAtWord(was, 60)} → ${cutAtWord(is, 60)}`);
  }
  const deps = (d: readonly string[]): string => (d.length ? [...d].sort().join(", ") : "none");
  if (deps(before.depends_on) !== deps(after.depends_on)) kept.push(`depends on ${deps(before.depends_on)} → ${deps(after.depends_on)}`);
  const settings: StageSettings = { ...now };
  delete settings.status;
  if (before.settings.status !== undefined) settings.status = before.settings.status;
  return { applied, kept, settings };
}
