/** Reading dependency text: `Stage 1, Stage 2`, `1 and 2`, `#3`, `Stages 1-3`, `None`, `—`. */
import { normalizeId } from "./ids.js";

export type DepRef =
  | { kind: "id"; id: string }
  | { kind: "range"; from: string; to: string }
  /** "the previous stage" / "all previous stages", relative to the stage's place in the plan. */
  | { kind: "previous"; all: boolean }
  /**
   * A stage name; `parts`: what it lists when read as several (split at `,` `;`, then `&` `and` `/`…),
   * for when no stage has the whole name ("Auth & sessions" is one stage's name, or two).
   */
  | { kind: "text"; text: string; parts?: DepRef[] };

const NONE = /^(none|n\/?a|nothing|no(ne)?\s+(dependencies|deps|prerequisites)|-+|—|–|null|nil|\[\]|independent|\(none\))$/i;
const KEYWORD = String.raw`(?:stages?|phases?|steps?|tasks?|milestones?|waves?)`;
const ID = String.raw`#?\d+(?:\.\d+)*`;
const REF = new RegExp(
  String.raw`^(?:${KEYWORD}[\s_-]*)?(${ID})(?:\s*(?:-|–|—|to|through|\.\.)\s*(?:${KEYWORD}[\s_-]*)?(${ID}))?(?:\s*(?:[:(\-–—]|\s).*)?$`,
  "i",
);
const PREVIOUS = /^(?:the\s+)?(all\s+(?:of\s+the\s+)?)?(?:previous|prior|preceding|earlier|above)(?:\s+(?:stages?|phases?|steps?|tasks?|milestones?|ones?))?(?:\s+(?:stages?|phases?))?$/i;

/** Strips markdown decoration that never changes meaning: links, emphasis, code ticks. */
export function stripInline(text: string): string {
  return text
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/\[\[([^\]]*)\]\]/g, "$1")
    .replace(/[*_`~]/g, "")
    .trim();
}

/** The references in a dependency value; words that are not an id or a range stay text (a stage name?). */
export function parseDepValue(value: string): DepRef[] {
  let text = stripInline(value).replace(/\s+/g, " ").trim();
  text = text.replace(/[.;]+$/, "").trim();
  if (text === "" || NONE.test(text) || /^(none|n\/a|—|–|-)\b/i.test(text)) return [];
  // Notes in parentheses are commentary ("Stage 1 (needs the 2 tables)"), not references; list
  // brackets ("[1, 2]") carry nothing.
  text = text.replace(/\([^)]*\)/g, " ").replace(/[[\]{}]/g, " ").replace(/\s+/g, " ").trim();
  const previous = PREVIOUS.exec(text) ?? /^(all)\s+(?:stages|phases|steps|tasks)\s+(?:before|above)(?:\s+this(?:\s+one)?)?$/i.exec(text);
  if (previous) return [{ kind: "previous", all: Boolean(previous[1]) }];
  // A list at `,` `;`, each item at `&` `and` `/`…; names that split apart are kept whole too.
  const refs = pieces(text, /\s*[,;]\s*/).flatMap((item) => wholeOrParts(item, pieces(item, /\s*(?:&|\+|\/|\band\b|\bor\b|\bas well as\b)\s*/i).flatMap(refOf)));
  return wholeOrParts(text, refs);
}

function pieces(text: string, at: RegExp): string[] {
  return text
    .split(at)
    .map((p) => p.trim())
    .filter((p) => p !== "" && !/^(and|or|both)$/i.test(p));
}

/** Names only: one name (`text`) that may be several (`refs`); else the references themselves. */
function wholeOrParts(text: string, refs: DepRef[]): DepRef[] {
  return refs.length > 1 && refs.every((r) => r.kind === "text") ? [{ kind: "text", text, parts: refs }] : refs;
}

/** Ids with only spaces between them: "1 2", "Stages 1 2 3". */
const SPACED_IDS = new RegExp(String.raw`^(?:${KEYWORD}[\s_-]*)?${ID}(?:\s+${ID})+$`, "i");

/** One item: an id or a range ("Stages 1, 2", "Stage 1 and 2": a bare number is still an id), else a name. */
function refOf(part: string): DepRef[] {
  if (NONE.test(part)) return [];
  // Each id of "1 2" (not only the first, with the rest taken for a note about it).
  if (SPACED_IDS.test(part)) return [...part.matchAll(new RegExp(ID, "g"))].flatMap((m) => refOf(m[0]));
  const m = REF.exec(part);
  if (!m?.[1]) return [{ kind: "text", text: part }];
  const from = normalizeId(m[1]);
  const to = m[2] ? normalizeId(m[2]) : undefined;
  if (from && to && to !== from) return [{ kind: "range", from, to }];
  return from ? [{ kind: "id", id: from }] : [];
}

const DEP_LABEL = String.raw`(depends\s+on|dependencies|dependency|deps|depends|requires|required|prerequisites?|prereqs?|blocked\s+by|after|needs|waits\s+(?:on|for))`;
const DEP_LINE = new RegExp(String.raw`^\s*(?:[-*+]\s+|\d+[.)]\s+)?(?:>\s*)?${DEP_LABEL}\s*(:|：|\s)\s*(.*)$`, "i");

export interface DepLine {
  label: string;
  /** True when the label is unmistakable (Depends on / Dependencies / Blocked by). */
  strict: boolean;
  value: string;
}

/** A dependency line of a stage body, or undefined. Markdown emphasis around the label is ignored. */
export function matchDepLine(line: string): DepLine | undefined {
  const plain = line.replace(/\*\*|__|(?<!\w)[*_](?!\s)|`/g, "");
  const m = DEP_LINE.exec(plain);
  if (!m?.[1]) return undefined;
  const label = m[1].toLowerCase().replace(/\s+/g, " ");
  const hasColon = m[2] === ":" || m[2] === "：";
  const strict = /^(depends on|dependencies|dependency|deps|depends|blocked by)$/.test(label);
  // Without a colon only "Depends on …" reads as a dependency line; "After the API…" is prose.
  if (!hasColon && label !== "depends on" && label !== "blocked by") return undefined;
  return { label, strict, value: m[3] ?? "" };
}

/**
 * Dependencies written into a stage heading: `UI (depends on 3, 4)`, `UI [after: 2]`,
 * `UI — depends on 3`. Returns the name without them.
 */
export function splitHeadingDeps(name: string): { name: string; value?: string } {
  const bracket = new RegExp(String.raw`\s*[(\[]\s*${DEP_LABEL}\s*:?\s*([^)\]]*)[)\]]\s*`, "i");
  const m = bracket.exec(name);
  if (m) return { name: (name.slice(0, m.index) + " " + name.slice(m.index + m[0].length)).trim(), value: m[2] ?? "" };
  const tail = new RegExp(String.raw`\s+[—–|-]+\s*${DEP_LABEL}\s*:?\s*(.+)$`, "i");
  const t = tail.exec(name);
  if (t) return { name: name.slice(0, t.index).trim(), value: t[2] ?? "" };
  return { name };
}
