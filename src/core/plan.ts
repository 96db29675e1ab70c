/** The plan model shared by every parser, and the step that turns raw stages into a plan. */
import { compareIds, expandRange, normalizeId } from "./ids.js";
import { UserError } from "../errors.js";
import { branchIdProblem, sessionName } from "./naming.js";
import { findCycle, computeWaves } from "./graph.js";
import type { DepRef } from "./deps.js";
import { lonelyResources, type SettingLines, type StageSettings } from "./stage-settings.js";

export interface Stage {
  id: string;
  name: string;
  depends_on: string[];
  scope: string;
  line: number;
  /** What the plan sets for this stage (model, attempts, resources, budget, checks, done). */
  settings?: StageSettings;
  /** The line of the plan each setting was read from, for errors about it. */
  settingLines?: SettingLines;
}

export interface Plan {
  stages: Stage[];
  waves: string[][];
  /** A base branch the plan itself names (YAML `base_branch`), if any. */
  base_branch?: string;
  /** Stages found only inside HTML comments (`<!-- … -->`): not run, worth a warning. */
  commented?: { id: string; line: number }[];
  /** What a person should know about how the plan was read (`file:line: …`). */
  warnings?: string[];
}

/** A stage as a parser found it, before references are resolved. */
export interface RawStage {
  id: string;
  name: string;
  scope: string;
  line: number;
  /** undefined: the plan states nothing; []: it states "none". */
  deps?: DepEntry[];
  /** References from loose lines (`Requires: …`, `After: …`) that only count if they name a stage. */
  looseDeps?: DepEntry[];
  /** Index of the wave section (or W of a `W.S` id) the stage sits in, for implicit deps. */
  group?: number;
  settings?: StageSettings;
  settingLines?: SettingLines;
  /** What a person should know about how its section was read (`file:line: …`). */
  warnings?: string[];
}

export interface DepEntry {
  ref: DepRef;
  line: number;
}

/** The example text `autorun init` writes under its stages: a stage still holding it asks its agent for nothing real. */
export const INIT_EXAMPLES = [
  "Describe what the first stage must deliver: the files, the behaviour, how to know it is done.",
  "What this stage builds on top of stage 1.",
  "Runs beside stage 2: both wait only for stage 1.",
] as const;

const ACCEPTED_FORMATS =
  "stage headings (`## Stage 1: Name`, `### Phase 2 — Name`, `**Step 3: Name**`), a dependency table (| Stage | Name | Depends on |), `## Wave N` sections, `### Task W.S: Name` ids, or a YAML plan / front matter with `stages:` or `sections[].tasks[]`";

export function buildPlan(file: string, raw: RawStage[], baseBranch?: string, commented: readonly { id: string; line: number }[] = []): Plan {
  if (raw.length === 0 && commented.length > 0) {
    throw new UserError(
      `${file}:${commented[0]!.line}: every stage of this plan is inside an HTML comment (<!-- … -->), so none would run; uncomment the stages to run.`,
    );
  }
  if (raw.length === 0) {
    throw new UserError(
      `${file}: no stages found. Accepted formats: ${ACCEPTED_FORMATS}. For free-form instructions use --parse-with claude.`,
    );
  }
  const seen = checkIds(file, raw);
  const ids = [...seen.keys()].sort(compareIds);
  const byName = new Map<string, string>();
  for (const s of raw) byName.set(normalizeName(s.name), s.id);
  const { resolved, lines } = resolveDeps(file, raw, { ids, byName, commented });
  applyImplicitWaveDeps(raw, resolved);

  const stages: Stage[] = raw
    .map((s) => ({ id: s.id, name: s.name, depends_on: resolved.get(s.id) ?? [], scope: s.scope, line: s.line, ...(s.settings ? { settings: s.settings } : {}), ...(s.settingLines ? { settingLines: s.settingLines } : {}) }))
    .sort((a, b) => compareIds(a.id, b.id));
  // "Needs: setup" naming a stage is a dependency (read as one above), not a host label.
  for (const s of stages) {
    if (!s.settings?.needs) continue;
    const labels = s.settings.needs.filter((l) => !seen.has(l) && !byName.has(normalizeName(l)));
    if (labels.length > 0) s.settings.needs = labels;
    else delete s.settings.needs;
  }
  const cycle = findCycle(stages);
  if (cycle) throw cycleError(file, cycle, stages, lines);
  const warnings = [
    ...raw.flatMap((s) => s.warnings ?? []),
    ...lonelyResources(stages).map(
      (r) => `${file}:${r.line}: stage ${r.id} is the only stage that names the exclusive resource "${r.name}", so it holds nothing back; check the spelling or name it in the stages that share it`,
    ),
    ...stages.filter((s) => INIT_EXAMPLES.some((text) => s.scope.includes(text))).map((s) => `${file}:${s.line}: stage ${s.id} still has the example text autorun init wrote; write what its agent should do under its heading`),
  ];
  return { stages, waves: computeWaves(stages), ...(baseBranch ? { base_branch: baseBranch } : {}), ...(warnings.length > 0 ? { warnings } : {}) };
}

/**
 * A cycle named by the lines that make it: each "b depends on a" at the line that says so (a
 * dependency a wave section implies, at b's heading), so the person can go to the one to remove.
 */
function cycleError(file: string, cycle: readonly string[], stages: readonly Stage[], lines: ReadonlyMap<string, number>): UserError {
  const stageLine = (id: string) => stages.find((s) => s.id === id)?.line ?? 1;
  const edges = cycle.slice(1).map((id, i) => ({ id, dep: cycle[i]!, line: lines.get(edgeKey(id, cycle[i]!)) ?? stageLine(id) }));
  const said = edges.map((e, i) => `${i === 0 ? "stage " : ""}${e.id} ${i === 0 ? "depends " : ""}on ${e.dep} at line ${e.line}`);
  return new UserError(`${file}:${edges[0]!.line}: dependency cycle ${cycle.join(" → ")} (${said.join(", ")}); remove one of these dependencies.`);
}

const edgeKey = (stage: string, dep: string) => `${stage}\0${dep}`;

/** Each stage id once, valid in a branch name, with a tmux session of its own; the stages by id. */
function checkIds(file: string, raw: RawStage[]): Map<string, RawStage> {
  const seen = new Map<string, RawStage>();
  for (const stage of raw) {
    const prev = seen.get(stage.id);
    if (prev) {
      throw new UserError(
        `${file}:${stage.line}: duplicate stage id ${stage.id} (first defined at line ${prev.line}); give each stage its own id.`,
      );
    }
    seen.set(stage.id, stage);
    const problem = branchIdProblem(stage.id);
    if (problem) throw new UserError(`${file}:${stage.line}: stage id ${stage.id} ${problem}, which git does not allow in a branch name; rename the stage.`);
  }
  // tmux session names turn "." into "_": two ids that differ only there would share one session.
  const bySession = new Map<string, RawStage>();
  for (const stage of raw) {
    const key = sessionName("x", stage.id);
    const prev = bySession.get(key);
    if (prev) {
      throw new UserError(`${file}:${stage.line}: stage ids ${prev.id} (line ${prev.line}) and ${stage.id} would share the tmux session and worktree names; rename one of them.`);
    }
    bySession.set(key, stage);
  }
  return seen;
}

/**
 * Each stage's stated dependencies (and loose mentions) as stage ids, a stage stating none absent;
 * and the plan line each dependency was read from (keyed by `edgeKey`).
 */
function resolveDeps(file: string, raw: RawStage[], known: { ids: string[]; byName: Map<string, string>; commented: readonly { id: string; line: number }[] }): { resolved: Map<string, string[]>; lines: Map<string, number> } {
  const order = raw.map((s) => s.id);
  const has = new Set(order);
  const resolved = new Map<string, string[]>();
  const lines = new Map<string, number>();
  raw.forEach((stage, position) => {
    // The stages written before this one, for "the previous stage" (ids are unique, checked before).
    const before = { ids: order, count: position };
    const resolveRef = (ref: DepRef) => resolveOne(ref, known.ids, known.byName, before);
    const loose = (stage.looseDeps ?? []).flatMap(({ ref, line }) => resolveRef(ref).map((id) => ({ id, line }))).filter(({ id }) => has.has(id) && id !== stage.id);
    if (!stage.deps && loose.length === 0) return;
    const out = new Set<string>();
    for (const { id, line } of loose) {
      out.add(id);
      if (!lines.has(edgeKey(stage.id, id))) lines.set(edgeKey(stage.id, id), line);
    }
    for (const { ref, line } of stage.deps ?? []) {
      const targets = resolveRef(ref);
      if (ref.kind === "previous" && targets.length === 0) {
        throw new UserError(`${file}:${line}: stage ${stage.id} depends on the previous stage, but it is the first; remove the dependency.`);
      }
      for (const id of targets) {
        const parked = has.has(id) ? undefined : known.commented.find((c) => c.id === id);
        if (parked) {
          throw new UserError(`${file}:${line}: stage ${stage.id} depends on stage ${id}, which is inside an HTML comment (line ${parked.line}) and so does not run; uncomment stage ${id}, or remove the dependency.`);
        }
        if (!has.has(id)) {
          throw new UserError(
            `${file}:${line}: stage ${stage.id} depends on unknown stage ${describeRef(ref)} (known: ${known.ids.join(", ")}); fix the reference or add the stage.`,
          );
        }
        if (id === stage.id) {
          throw new UserError(`${file}:${line}: stage ${stage.id} depends on itself; remove it from its own dependencies.`);
        }
        out.add(id);
        lines.set(edgeKey(stage.id, id), line);
      }
    }
    resolved.set(stage.id, [...out].sort(compareIds));
  });
  return { resolved, lines };
}

/** A stage that states no dependencies inside a wave group depends on every stage of the previous group. */
function applyImplicitWaveDeps(raw: RawStage[], resolved: Map<string, string[]>): void {
  const groups = [...new Set(raw.map((s) => s.group).filter((g): g is number => g !== undefined))].sort((a, b) => a - b);
  for (const stage of raw) {
    if (resolved.has(stage.id) || stage.group === undefined) continue;
    const idx = groups.indexOf(stage.group);
    const prevGroup = idx > 0 ? groups[idx - 1] : undefined;
    if (prevGroup === undefined) continue;
    resolved.set(
      stage.id,
      raw.filter((s) => s.group === prevGroup).map((s) => s.id).sort(compareIds),
    );
  }
}

function resolveOne(ref: DepRef, ids: readonly string[], byName: Map<string, string>, before: { ids: readonly string[]; count: number }): string[] {
  switch (ref.kind) {
    case "previous":
      return ref.all ? before.ids.slice(0, before.count) : before.ids.slice(Math.max(0, before.count - 1), before.count);
    case "id":
      return [ref.id];
    case "range": {
      const ids_ = expandRange(ref.from, ref.to, ids);
      return ids_.length > 0 ? ids_ : [ref.from];
    }
    case "text": {
      const id = byName.get(normalizeName(ref.text)) ?? (ref.parts ? undefined : normalizeId(ref.text));
      if (id || !ref.parts) return [id ?? `"${ref.text}"`];
      // No stage has the whole name: the stages it lists (one that is no stage's stays unknown).
      return ref.parts.flatMap((part) => resolveOne(part, ids, byName, before));
    }
  }
}

function describeRef(ref: DepRef): string {
  switch (ref.kind) {
    case "id":
      return ref.id;
    case "range":
      return `${ref.from}-${ref.to}`;
    case "previous":
      return ref.all ? "all previous stages" : "the previous stage";
    case "text":
      return `"${ref.text}"`;
  }
}

function normalizeName(name: string): string {
  return name
    .toLowerCase()
    .replace(/^(stage|phase|step|milestone|task)\s*#?\d+(\.\d+)*\s*[:.\-–—)]?\s*/i, "")
    .replace(/[`*_"']/g, "")
    .replace(/\s+/g, " ")
    .trim();
}
