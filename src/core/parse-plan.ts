/** The one entry point: plan text in, validated plan out. Pure; the caller reads the file. */
import { commentedStages, parseMarkdownStages } from "./plan-markdown.js";
import { markdownBlocks } from "./markdown-blocks.js";
import { parseDependencyTables, mergeTableRows } from "./plan-table.js";
import { parseYamlPlan } from "./plan-yaml.js";
import { buildPlan, type Plan, type RawStage } from "./plan.js";

export function parsePlan(file: string, input: string): Plan {
  const text = input.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  if (/\.ya?ml$/i.test(file)) {
    const yaml = parseYamlPlan(file, text);
    return buildPlan(file, yaml.found ? yaml.stages : [], yaml.baseBranch);
  }
  let body = text;
  let bodyOffset = 0;
  let front: ReturnType<typeof parseYamlPlan> | undefined;
  const fm = /^---[ \t]*\n([\s\S]*?)\n(?:---|\.\.\.)[ \t]*(?:\n|$)/.exec(text);
  if (fm) {
    front = parseYamlPlan(file, fm[1] ?? "", 1);
    bodyOffset = fm[0].split("\n").length - 1;
    body = "\n".repeat(bodyOffset) + text.slice(fm[0].length);
  }
  const blocks = markdownBlocks(body);
  const headingStages = parseMarkdownStages(body, blocks, file);
  const commented = commentedStages(body, blocks).filter((c) => !headingStages.some((s) => s.id === c.id));
  if (front?.found) {
    return withCommented(buildPlan(file, withBodyScopes(front.stages, headingStages), front.baseBranch, commented), commented);
  }
  const rows = parseDependencyTables(blocks.tables);
  const warnings: string[] = [];
  const stages = mergeTableRows(headingStages, rows, (line, message) => warnings.push(`${file}:${line}: ${message}`));
  const plan = withCommented(buildPlan(file, stages, front?.baseBranch, commented), commented);
  const all = [...warnings, ...(plan.warnings ?? [])];
  return all.length > 0 ? { ...plan, warnings: all } : plan;
}

function withCommented(plan: Plan, commented: { id: string; line: number }[]): Plan {
  return commented.length > 0 ? { ...plan, commented } : plan;
}

/** Front-matter stages without a scope take the body of the heading with the same id. */
function withBodyScopes(stages: RawStage[], headings: RawStage[]): RawStage[] {
  const byId = new Map(headings.map((h) => [h.id, h]));
  return stages.map((s) => {
    const body = byId.get(s.id);
    if (!body) return s;
    const settings = body.settings || s.settings ? { ...body.settings, ...s.settings } : undefined;
    return { ...s, scope: s.scope || body.scope, ...(settings ? { settings } : {}) };
  });
}
