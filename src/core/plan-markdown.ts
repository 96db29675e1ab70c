/**
 * Markdown master plans: stage headings (any one level, ATX or setext, or bold lines), dependency
 * lines in the body or the heading, dependency tables, and `## Wave N` sections. Expressed over
 * the CommonMark block structure (markdown-blocks.ts): nothing in a code block or an HTML comment
 * is a stage or a dependency. Pure.
 */
import { normalizeId } from "./ids.js";
import { matchDepLine, parseDepValue, splitHeadingDeps, stripInline, type DepRef } from "./deps.js";
import { editDistance } from "./printable.js";
import { markdownBlocks, unescapeMarkdown, type MdBlocks } from "./markdown-blocks.js";
import { applySetting, matchSettingLine, type SettingLines, type StageSettings } from "./stage-settings.js";

function stripEmphasis(text: string): string {
  return text.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/\*\*|__/g, "").trim();
}
import type { DepEntry, RawStage } from "./plan.js";
import { UserError } from "../errors.js";

interface Candidate {
  index: number;
  /** The line after the heading: where its body starts. */
  end: number;
  level: number;
  keyword: string;
  id: string;
  name: string;
  headingDeps?: string;
}

interface Heading {
  index: number;
  end: number;
  level: number;
  text: string;
}

const STAGE_TITLE =
  /^(stage|phase|step|milestone|task)\s*#?\s*(\d+(?:\.\d+)*)(?![\d.]*\d)\s*(?:[:.\-–—)\]|]+\s*|\s+|$)(.*)$/i;
/** `## 1. Setup`, `### 2) API`: numbered headings, used only when no keyword heading exists. */
const NUMBERED_TITLE = /^(\d+(?:\.\d+)*)(?:[.)]|\s*[:\-–—])\s+(\S.*)$/;
const WAVE_TITLE = /^wave\s*#?\s*(\d+)\b/i;
const BOLD_LEVEL = 7;

export function parseMarkdownStages(text: string, blocks: MdBlocks = markdownBlocks(text), file = "plan"): RawStage[] {
  const lines = text.split("\n");
  const fenced = blocks.hidden;
  const headings: Heading[] = blocks.headings.map((h) => ({ ...h, text: unescapeMarkdown(h.text) }));
  const headingLine = new Set<number>();
  for (const h of headings) for (let l = h.index; l < h.end; l++) headingLine.add(l);
  const bolds: Heading[] = [];
  lines.forEach((line, index) => {
    if (fenced[index] || headingLine.has(index)) return;
    const bold = boldLine(line);
    if (bold) bolds.push({ index, end: index + 1, level: BOLD_LEVEL, text: bold });
  });

  let candidates = headings.map(toCandidate).filter((c): c is Candidate => c !== undefined);
  if (candidates.length === 0) candidates = bolds.map(toCandidate).filter((c): c is Candidate => c !== undefined);
  if (candidates.length === 0) candidates = numberedCandidates(headings, lines, fenced);
  const level = candidates.length > 0 ? chooseStageLevel(candidates) : undefined;
  const stageHeads = candidates.filter((c) => c.level === level);
  refuseUnusableIds(headings, stageHeads, file);
  if (level === undefined) return [];
  refuseStrayStages(candidates, stageHeads, file);
  const boundaries = [...headings, ...(level === BOLD_LEVEL ? bolds : [])].sort((a, b) => a.index - b.index);

  const waves = headings
    .map((h) => ({ h, m: WAVE_TITLE.exec(cleanTitle(h.text)) }))
    .filter((w) => w.m && w.h.level < level)
    .map((w) => ({ index: w.h.index, level: w.h.level, wave: Number(w.m![1]) }));

  const dottedTasks = stageHeads.every((c) => /^\d+\.\d+$/.test(c.id)) && waves.length === 0;

  let nextBoundary = 0;
  return stageHeads.map((head, k) => {
    // Its body runs to the next stage heading or a heading of its level or above, whichever is first.
    const nextHead = stageHeads[k + 1]?.index ?? lines.length;
    while (nextBoundary < boundaries.length && boundaries[nextBoundary]!.index <= head.index) nextBoundary++;
    let end = nextHead;
    for (let b = nextBoundary; b < boundaries.length && boundaries[b]!.index < nextHead; b++) {
      if (boundaries[b]!.level <= head.level) {
        end = boundaries[b]!.index;
        break;
      }
    }
    const bodyLines = lines.slice(head.end, end);
    // Without a name and with nothing but dependency and setting lines, its agent would have nothing to do.
    if (!head.name && !hasInstructions(bodyLines.join("\n"))) {
      throw new UserError(`${file}:${head.index + 1}: stage ${head.id} has neither a name nor any text, so its agent would have nothing to do; write what it must deliver under its heading, or remove it.`);
    }
    const stage: RawStage = {
      id: head.id,
      name: head.name || `Stage ${head.id}`,
      scope: trimBlank(bodyLines).join("\n"),
      line: head.index + 1,
    };
    const deps = readBodyDeps(bodyLines, fenced.slice(head.end, end), head.end + 1);
    if (head.headingDeps !== undefined) {
      deps.stated = true;
      deps.entries.push(...parseDepValue(head.headingDeps).map((ref) => ({ ref, line: head.index + 1 })));
    }
    if (deps.stated) stage.deps = deps.entries;
    const read = readBodySettings(bodyLines, fenced.slice(head.end, end), { firstLine: head.end + 1, file, id: head.id });
    refuseMisspeltDeps(bodyLines, fenced.slice(head.end, end), { firstLine: head.end + 1, file, id: head.id });
    if (read) Object.assign(stage, read);
    const misspelt = misspeltSettings(bodyLines, fenced.slice(head.end, end), { firstLine: head.end + 1, file, id: head.id });
    if (misspelt.length > 0) stage.warnings = misspelt;
    if (deps.loose.length > 0) stage.looseDeps = deps.loose;
    const wave = [...waves].reverse().find((w) => w.index < head.index);
    if (wave) stage.group = wave.wave * 1_000_000 + wave.index;
    else if (dottedTasks) stage.group = Number(head.id.split(".")[0]);
    return stage;
  });
}

/** `Stage a/b: B`, `Stage -1: A`, `Phase A: Setup`: a stage's heading, but its id is no number. */
const UNUSABLE_ID = /^(stage|phase|step|milestone|task)\s*#?\s*([^\s:]+)\s*:/i;

/**
 * A heading written as a stage's (the stages' keyword and level, or any when the plan has no stage)
 * whose id is not a number would silently be text of the stage above it, or leave the plan with
 * no stage: refused, naming it. Only ids a person meant as one (a digit, a slash, three letters or
 * fewer) count, so "## Stage overview: notes" stays a heading of prose.
 */
function refuseUnusableIds(headings: readonly Heading[], stageHeads: readonly Candidate[], file: string): void {
  const level = stageHeads[0]?.level;
  const keyword = stageHeads[0]?.keyword.toLowerCase();
  for (const h of headings) {
    if (level !== undefined && h.level !== level) continue;
    const title = cleanTitle(h.text);
    const m = UNUSABLE_ID.exec(title);
    if (!m || (keyword !== undefined && m[1]!.toLowerCase() !== keyword) || normalizeId(m[2]!) !== undefined) continue;
    if (!/\d|\//.test(m[2]!) && m[2]!.length > 3) continue;
    throw new UserError(`${file}:${h.index + 1}: "${title}" reads as a stage heading, but "${m[2]}" is not a stage id; number it like ${stageHeads.length > 0 ? "the other stages" : "1, 2, 3"} (2.1 for a part of stage 2).`);
  }
}

/**
 * A heading deeper than the stages that reads as a stage of its own (`### Stage 2` inside
 * `## Stage 1`: the same keyword, an id that is no stage's and not one of its stage's parts such
 * as 1.1) would silently be part of the stage above it, its dependencies that stage's: refused.
 */
function refuseStrayStages(candidates: readonly Candidate[], stageHeads: readonly Candidate[], file: string): void {
  const ids = new Set(stageHeads.map((c) => c.id));
  for (const c of candidates) {
    if (c.level <= stageHeads[0]!.level) continue;
    const owner = [...stageHeads].reverse().find((h) => h.index < c.index);
    if (!owner || c.keyword !== owner.keyword || ids.has(c.id) || c.id.startsWith(`${owner.id}.`)) continue;
    const title = `${c.keyword[0]!.toUpperCase()}${c.keyword.slice(1)} ${c.id}${c.name ? `: ${c.name}` : ""}`;
    const stages = owner.level === BOLD_LEVEL ? "bold lines" : `"${"#".repeat(owner.level)}" headings`;
    throw new UserError(
      `${file}:${c.index + 1}: "${title}" lies inside stage ${owner.id}, so it would be part of that stage, not a stage of its own: this plan's stages are ${stages}. Make it one to run it as a stage, or number it ${owner.id}.1 if it belongs to stage ${owner.id}.`,
    );
  }
}

function toCandidate(h: Heading): Candidate | undefined {
  const m = STAGE_TITLE.exec(cleanTitle(h.text));
  if (!m?.[1] || !m[2]) return undefined;
  const id = normalizeId(m[2]);
  if (!id) return undefined;
  // Names keep what the author wrote (code spans, quotes, a leading dash); only emphasis and links go.
  const split = splitHeadingDeps(stripEmphasis(m[3] ?? ""));
  const name = split.name.replace(/[:\s]+$/, "").replace(/[ \t]+/g, " ").trim();
  return { index: h.index, end: h.end, level: h.level, keyword: m[1].toLowerCase(), id, name, headingDeps: split.value };
}

/** A line that is only bold text (`**Stage 3: Name**`, `__Step 2__ — Name`): its text. */
function boldLine(line: string): string | undefined {
  const bold = /^\s{0,3}(?:\*\*|__)(.+?)(?:\*\*|__)\s*(.*)$/.exec(line);
  return bold?.[1] ? `${bold[1]} ${bold[2] ?? ""}`.trim() : undefined;
}

/**
 * Stages a plan has only inside HTML comments (`<!-- ## Stage 4: Later -->`), parked by their
 * author: never run, but worth a warning.
 */
export function commentedStages(text: string, blocks: MdBlocks): { id: string; line: number }[] {
  const lines = text.split("\n");
  const out: { id: string; line: number }[] = [];
  for (const c of blocks.comments) {
    for (let i = c.start; i < c.end; i++) {
      const line = lines[i]!.replace(/^\s*<!--/, "").replace(/-->.*$/, "");
      const atx = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
      const title = atx ? atx[1] : boldLine(line);
      const candidate = title === undefined ? undefined : toCandidate({ index: i, end: i + 1, level: atx ? 1 : BOLD_LEVEL, text: title });
      if (candidate) out.push({ id: candidate.id, line: i + 1 });
    }
  }
  return out;
}

/**
 * Numbered headings count as stages only when at least two share a level and one of them states a
 * dependency: a plain numbered document ("1. Overview, 2. Goals") is not a plan.
 */
function numberedCandidates(headings: Heading[], lines: string[], fenced: boolean[]): Candidate[] {
  const numbered = headings
    .map((h) => ({ h, m: NUMBERED_TITLE.exec(cleanTitle(h.text)) }))
    .filter((x) => x.m?.[1] && normalizeId(x.m[1]))
    .map(({ h, m }) => {
      const split = splitHeadingDeps(stripEmphasis(m![2] ?? ""));
      return { index: h.index, end: h.end, level: h.level, keyword: "numbered", id: normalizeId(m![1]!)!, name: split.name.replace(/[:\s]+$/, "").trim(), headingDeps: split.value } as Candidate;
    });
  const level = Math.min(...numbered.map((c) => c.level));
  const atLevel = numbered.filter((c) => c.level === level);
  if (atLevel.length < 2) return [];
  const statesDeps = atLevel.some((c, i) => {
    if (c.headingDeps !== undefined) return true;
    const end = atLevel[i + 1]?.index ?? lines.length;
    return lines.slice(c.end, end).some((l, k) => !fenced[c.end + k] && matchDepLine(l)?.strict);
  });
  return statesDeps ? atLevel : [];
}

/** Removes emphasis and leading decoration (emoji, checkboxes, list numbers) from a heading. */
function cleanTitle(text: string): string {
  return text
    .replace(/\*\*|__/g, "")
    .replace(/^\s*(?:\[[ xX]\]\s*)?/, "")
    .replace(/^[^\p{L}\p{N}]+/u, "")
    .trim();
}

/**
 * Which heading level holds the stages. "Stage" headings win wherever they are; otherwise the
 * shallowest level with at least two candidates (a lone `# Phase 2 Plan` title is not a stage).
 */
function chooseStageLevel(candidates: Candidate[]): number {
  const levels = [...new Set(candidates.map((c) => c.level))].sort((a, b) => a - b);
  const stageLevel = levels.find((l) => candidates.some((c) => c.level === l && c.keyword === "stage"));
  if (stageLevel !== undefined) return stageLevel;
  return levels.find((l) => candidates.filter((c) => c.level === l).length >= 2) ?? levels[0]!;
}

function readBodyDeps(
  body: string[],
  fenced: boolean[],
  firstLine: number,
): { stated: boolean; entries: DepEntry[]; loose: DepEntry[] } {
  const result = { stated: false, entries: [] as DepEntry[], loose: [] as DepEntry[] };
  for (let i = 0; i < body.length; i++) {
    if (fenced[i]) continue;
    const dep = matchDepLine(body[i]!);
    if (!dep) continue;
    const lineNo = firstLine + i;
    let items: { value: string; line: number }[] = [{ value: dep.value, line: lineNo }];
    if (stripInline(dep.value) === "") {
      // The list form: "**Dependencies**:" followed by "- Stage 1" items.
      items = [];
      for (let j = i + 1; j < body.length; j++) {
        const item = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/.exec(body[j]!);
        if (!item) {
          if (body[j]!.trim() === "" && items.length === 0) continue;
          break;
        }
        items.push({ value: item[1] ?? "", line: firstLine + j });
      }
    }
    const perItem = items.map((item) => parseDepValue(item.value).map((ref: DepRef): DepEntry => ({ ref, line: item.line })));
    const refs = perItem.flat();
    const hasIds = refs.some((r) => r.ref.kind !== "text");
    const saysNone = items.length > 0 && perItem.every((r) => r.length === 0);
    if (dep.strict || hasIds || saysNone) {
      result.stated = true;
      result.entries.push(...(dep.strict ? refs : refs.filter((r) => r.ref.kind !== "text")));
      if (!dep.strict) result.loose.push(...refs.filter((r) => r.ref.kind === "text"));
    } else {
      result.loose.push(...refs);
    }
  }
  return result;
}

/** `Model: opus`, `Exclusive: database`, `Budget: $5` … lines of a stage body (outside code blocks), and where each is. */
function readBodySettings(body: string[], fenced: boolean[], at: { firstLine: number; file: string; id: string }): { settings: StageSettings; settingLines: SettingLines } | undefined {
  const { firstLine, file, id } = at;
  const settings: StageSettings = {};
  const settingLines: SettingLines = {};
  body.forEach((line, i) => {
    if (fenced[i]) return;
    const setting = matchSettingLine(line);
    if (!setting) return;
    applySetting(settings, setting.key, setting.value, `${file}:${firstLine + i}: stage ${id}: ${setting.label}`);
    settingLines[setting.key] = firstLine + i;
  });
  return Object.keys(settings).length > 0 ? { settings, settingLines } : undefined;
}

/** The labels a misspelt dependency line is told apart from, as people write them. */
const DEP_LABELS = ["Depends on", "Dependencies", "Blocked by"];

/**
 * `Depnds on: 1`: a label a letter or two off a dependency label, followed by stage ids, is a typo
 * that would let the stage start before what it names; refused with the line and the fix.
 */
function refuseMisspeltDeps(body: string[], fenced: boolean[], at: { firstLine: number; file: string; id: string }): void {
  body.forEach((line, i) => {
    if (fenced[i] || matchDepLine(line) || matchSettingLine(line)) return;
    const m = /^\s*(?:[-*+]\s+)?(?:\*\*|__)?([A-Za-z][A-Za-z ]{2,20}?)(?:\*\*|__)?\s*:(?:\*\*|__)?\s*(\S.*)$/.exec(line);
    if (!m) return;
    const label = m[1]!.trim();
    const near = DEP_LABELS.find((w) => editDistance(label.toLowerCase().replace(/\s+/g, " "), w.toLowerCase()) <= 2);
    if (!near || !parseDepValue(m[2]!).some((r) => r.kind !== "text")) return;
    throw new UserError(`${at.file}:${at.firstLine + i}: stage ${at.id}: "${label}" is not a dependency label, so the stage would not wait for ${m[2]!.trim()}; write "${near}: ${m[2]!.trim()}".`);
  });
}

/** The setting labels a misspelt one is told apart from, as people write them. */
const SETTING_LABELS = ["Model", "Max attempts", "Exclusive", "Exclusive resources", "Budget", "Validate", "Host", "Needs", "Status"];

/**
 * `Modell: opus`, `Max attempt: 2`: a label a letter or two off a setting's, with a value that
 * setting would take, is most likely a typo that leaves the stage without it (the line is read as
 * instructions for its agent). Said as warnings, each with the line and the spelling that works:
 * unlike a dependency, a setting missed holds nothing back that must wait.
 */
function misspeltSettings(body: string[], fenced: boolean[], at: { firstLine: number; file: string; id: string }): string[] {
  const out: string[] = [];
  body.forEach((line, i) => {
    if (fenced[i] || matchDepLine(line) || matchSettingLine(line)) return;
    const m = /^\s{0,3}(?:[-*+]\s+)?(?:\*\*|__)?([A-Za-z][A-Za-z _]{1,24}?)(?:\*\*|__)?\s*:(?:\*\*|__)?\s*(\S.*)$/.exec(line);
    if (!m) return;
    const label = m[1]!.trim();
    const written = label.toLowerCase().replace(/[\s_]+/g, " ");
    const near = SETTING_LABELS.find((w) => {
      const d = editDistance(written, w.toLowerCase());
      return d > 0 && d <= (w.length <= 5 ? 1 : 2);
    });
    if (!near || !matchSettingLine(`${near}: ${m[2]!}`)) return;
    // "Mode: fast" is prose: only a model's name makes a misspelt "Model".
    if (near === "Model" && !/^(?:claude|opus|sonnet|haiku)/.test(m[2]!)) return;
    out.push(`${at.file}:${at.firstLine + i}: stage ${at.id}: "${label}" is not a setting, so "${line.trim()}" is read as instructions for its agent; if it is meant as one, write "${near}: ${m[2]!.trim()}"`);
  });
  return out;
}

function trimBlank(lines: string[]): string[] {
  let a = 0;
  let b = lines.length;
  while (a < b && lines[a]!.trim() === "") a++;
  while (b > a && lines[b - 1]!.trim() === "") b--;
  return lines.slice(a, b);
}

/** Whether a stage's text says anything beyond its dependency and setting lines. */
export function hasInstructions(scope: string): boolean {
  return scope.split("\n").some((l) => l.trim() !== "" && !matchDepLine(l) && !matchSettingLine(l));
}
