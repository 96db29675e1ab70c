/** YAML plans and front matter: `stages: [{id, name, depends_on, scope}]` or `sections[].tasks[]`. */
import { LineCounter, parseDocument, isMap, isScalar, isSeq, type Node as YamlNode, type YAMLMap } from "yaml";
import { editDistance } from "./printable.js";
import { UserError } from "../errors.js";
import { normalizeId } from "./ids.js";
import { parseDepValue } from "./deps.js";
import type { DepEntry, RawStage } from "./plan.js";
import { applySetting, readAttempts, saysDone, type SettingLine, type SettingLines, type StageSettings } from "./stage-settings.js";

export interface YamlPlan {
  stages: RawStage[];
  baseBranch?: string;
  /** False when the document has no stage list at all (front matter with other keys). */
  found: boolean;
}

const DEP_KEYS = ["depends_on", "dependsOn", "depends", "dependencies", "deps", "needs", "after", "requires", "blocked_by"];
const SCOPE_KEYS = ["scope", "description", "body", "details", "summary", "prompt", "instructions", "goal"];
const STAGE_LIST_KEYS = ["stages", "tasks", "steps", "phases", "milestones"];
const SECTION_KEYS = ["sections", "waves", "groups"];
/** Setting keys in the spellings plans use (the plan-orchestrator's first). */
const SETTING_KEYS: [string, SettingLine["key"]][] = [
  ["model", "model"],
  ["max_attempts", "max_attempts"],
  ["maxAttempts", "max_attempts"],
  ["exclusive_resources", "exclusive_resources"],
  ["exclusiveResources", "exclusive_resources"],
  ["exclusive", "exclusive_resources"],
  ["budget_usd", "budget_usd"],
  ["budgetUsd", "budget_usd"],
  ["budget", "budget_usd"],
  ["validate", "validate"],
  ["status", "status"],
  ["host", "host"],
  // `needs` is a dependency key of YAML plans; the host labels a stage needs are `labels`.
  ["labels", "needs"],
  ["host_labels", "needs"],
];

export function parseYamlPlan(file: string, text: string, lineOffset = 0): YamlPlan {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false });
  const lineOf = (node: YamlNode | null | undefined): number =>
    node?.range ? lineCounter.linePos(node.range[0]).line + lineOffset : lineOffset + 1;
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const line = (err.linePos?.[0]?.line ?? 1) + lineOffset;
    throw new UserError(`${file}:${line}: invalid YAML (${err.message.split("\n")[0]}); fix the syntax.`);
  }
  const root = doc.contents;
  const result: YamlPlan = { stages: [], found: false };
  let stageSeq: YamlNode | undefined;
  let sectionSeq: YamlNode | undefined;
  if (isSeq(root)) stageSeq = root;
  else if (isMap(root)) {
    const base: unknown = root.get("base_branch") ?? root.get("baseBranch");
    if (typeof base === "string" && base.trim()) result.baseBranch = base.trim();
    for (const key of SECTION_KEYS) if (!sectionSeq && isSeq(root.get(key, true))) sectionSeq = root.get(key, true) as YamlNode;
    for (const key of STAGE_LIST_KEYS) if (!stageSeq && isSeq(root.get(key, true))) stageSeq = root.get(key, true) as YamlNode;
  } else return result;

  // A plan-orchestrator plan (`meta:` over `sections[].tasks[]`) runs its tasks one after another,
  // but for consecutive tasks sharing a `parallel_group`, unless a task names its own dependencies.
  const meta = isMap(root) ? root.get("meta", true) : undefined;
  const sequential = isMap(meta) && sectionSeq !== undefined;
  const defaults: StageSettings = {};
  if (isMap(meta) && meta.has("max_attempts_default")) defaults.max_attempts = readAttempts(meta.get("max_attempts_default"), `${file}:${lineOf(meta.get("max_attempts_default", true) as YamlNode)}: meta.max_attempts_default`);
  if (sectionSeq && isSeq(sectionSeq)) {
    result.found = true;
    let previousStep: string[] = [];
    let step: { group: string | undefined; ids: string[] } = { group: undefined, ids: [] };
    sectionSeq.items.forEach((section, sIdx) => {
      if (!isMap(section)) throw new UserError(`${file}:${lineOf(section as YamlNode)}: each section must be a mapping with a tasks list.`);
      let tasks: YamlNode | undefined;
      for (const key of STAGE_LIST_KEYS) if (!tasks && isSeq(section.get(key, true))) tasks = section.get(key, true) as YamlNode;
      if (!tasks || !isSeq(tasks)) return;
      tasks.items.forEach((task, tIdx) => {
        const stage = readStage(task as YamlNode, `${sIdx + 1}.${tIdx + 1}`, { file, lineOf, defaults });
        stage.group = sIdx + 1;
        if (sequential) {
          const group = isMap(task) && task.get("parallel_group") != null ? String(task.get("parallel_group")) : undefined;
          if (group === undefined || group !== step.group) {
            if (step.ids.length > 0) previousStep = step.ids;
            step = { group, ids: [] };
          }
          step.ids.push(stage.id);
          stage.deps ??= previousStep.map((id) => ({ ref: { kind: "id" as const, id }, line: stage.line }));
        }
        result.stages.push(stage);
      });
    });
  } else if (stageSeq && isSeq(stageSeq)) {
    result.found = true;
    stageSeq.items.forEach((item, idx) => result.stages.push(readStage(item as YamlNode, String(idx + 1), { file, lineOf })));
  }
  return result;
}

function readStage(node: YamlNode, fallbackId: string, from: { file: string; lineOf: (n: YamlNode | null | undefined) => number; defaults?: StageSettings }): RawStage {
  const { file, lineOf, defaults = {} } = from;
  const line = lineOf(node);
  if (!isMap(node)) throw new UserError(`${file}:${line}: each stage must be a mapping with id, name and depends_on.`);
  const value = (key: string): unknown => node.get(key);
  const rawId = value("id") ?? value("stage") ?? value("number");
  let id: string | undefined;
  if (rawId === undefined || rawId === null) id = fallbackId;
  else {
    const text = String(rawId).trim();
    id = normalizeId(text.replace(/^(stage|task|step|phase)[\s-]*/i, "")) ?? (/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(text) ? text : undefined);
    if (!id) throw new UserError(`${file}:${line}: stage id ${JSON.stringify(text)} is not usable; use a number like 3 or 2.1.`);
  }
  const name = String(value("name") ?? value("title") ?? `Stage ${id}`).trim();
  let scope = "";
  for (const key of SCOPE_KEYS) {
    const v = value(key);
    if (typeof v === "string" && v.trim()) {
      scope = v.trim();
      break;
    }
    if (Array.isArray(v) || isSeq(v)) {
      scope = (isSeq(v) ? (v.toJSON() as unknown[]) : v).map((x) => `- ${String(x)}`).join("\n");
      break;
    }
  }
  const stage: RawStage = { id, name, scope, line };
  for (const key of DEP_KEYS) {
    if (!node.has(key)) continue;
    const depNode = node.get(key, true) as YamlNode | null;
    const depLine = lineOf(depNode ?? node);
    const raw = node.get(key);
    stage.deps = [...(stage.deps ?? []), ...readDeps(raw, depLine)];
  }
  const settings: StageSettings = { ...defaults };
  const settingLines: SettingLines = {};
  for (const [key, setting] of SETTING_KEYS) {
    if (!node.has(key)) continue;
    const raw = node.get(key, true) as YamlNode | null;
    const json: unknown = raw && typeof (raw as { toJSON?: unknown }).toJSON === "function" ? (raw as { toJSON: () => unknown }).toJSON() : node.get(key);
    if (setting === "status") {
      // pending, in_progress, failed: the run decides; only a finished task is skipped.
      if (typeof json === "string" && saysDone(json)) settings.status = "completed";
      continue;
    }
    if (json === null || json === undefined) continue;
    applySetting(settings, setting, json, `${file}:${lineOf(raw ?? node)}: stage ${id}: ${key}`);
    settingLines[setting] = lineOf(raw ?? node);
  }
  if (Object.keys(settings).length > 0) Object.assign(stage, { settings, settingLines });
  const misspelt = misspeltKeys(node, { file, id, lineOf });
  if (misspelt.length > 0) stage.warnings = misspelt;
  return stage;
}

/** A key as compared with the ones read: case, `_` and `-` aside. */
const keyForm = (key: string): string => key.toLowerCase().replace(/[_-]/g, "");
const READ_KEYS = ["id", "stage", "number", "name", "title", ...SCOPE_KEYS, ...DEP_KEYS, ...SETTING_KEYS.map(([k]) => k)];

/**
 * A stage's key a letter or two off one autorun reads (`dependson`, `modle`, `max_attempt`) is
 * dropped without a word, the stage without what it says: a dependency so missed is refused (the
 * stage would not wait), any other said as a warning with the spelling that works. Keys far from
 * every one read (`owner`, `estimate`) are the plan's own.
 */
function misspeltKeys(node: YAMLMap, at: { file: string; id: string; lineOf: (n: YamlNode | null | undefined) => number }): string[] {
  const out: string[] = [];
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
    if (key === undefined || READ_KEYS.includes(key)) continue;
    const near = READ_KEYS.find((k) => keyForm(k) === keyForm(key)) ?? READ_KEYS.find((k) => k.length >= 5 && editDistance(keyForm(key), keyForm(k)) <= 2);
    if (near === undefined) continue;
    const where = `${at.file}:${at.lineOf(pair.key as YamlNode)}: stage ${at.id}`;
    const value: unknown = node.get(key);
    if (DEP_KEYS.includes(near) && value !== null && value !== undefined && value !== "") {
      throw new UserError(`${where}: "${key}" is not a key autorun reads, so the stage would not wait for what it lists; write "${near}".`);
    }
    out.push(`${where}: "${key}" is not a key autorun reads, so it is ignored; if it is meant as one, write "${near}"`);
  }
  return out;
}

function readDeps(raw: unknown, line: number): DepEntry[] {
  if (raw === null || raw === undefined || raw === false) return [];
  const items: unknown[] = isSeq(raw) ? (raw.toJSON() as unknown[]) : Array.isArray(raw) ? raw : [raw];
  const entries: DepEntry[] = [];
  for (const item of items) {
    if (item === null || item === undefined) continue;
    const text = String(item).trim();
    if (!normalizeId(text) && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(text) && !/\s/.test(text) && !/^(stage|task|step|phase)/i.test(text)) {
      // A word id ("setup") from a YAML plan that uses word ids.
      entries.push({ ref: { kind: "text", text }, line });
      continue;
    }
    entries.push(...parseDepValue(text).map((ref) => ({ ref, line })));
  }
  return entries;
}
