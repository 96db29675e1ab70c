/**
 * A markdown dependency table: `| Stage | Name | Depends on |`, column names matched loosely,
 * read from the GFM tables of the plan's block structure (cells unescaped: `a \| b` is `a | b`).
 */
import { normalizeId } from "./ids.js";
import { parseDepValue, stripInline } from "./deps.js";
import type { RawStage } from "./plan.js";
import type { MdTable } from "./markdown-blocks.js";

export interface TableRow {
  id: string;
  name?: string;
  depsValue?: string;
  line: number;
}

const DEP_COL = /depend|require|prereq|blocked|^after$|^deps?$|needs|waits/i;
const ID_COL = /^(#|id|no\.?|num(ber)?|(stage|task|step|phase|milestone)(\s*(id|#|no\.?|number))?)$/i;
const LOOSE_ID_COL = /stage|task|step|phase|milestone/i;
// Checked after the id column is taken, so "Task" or "Stage" here is the name of the work.
const NAME_COL = /name|title|description|summary|goal|scope|what|task|stage|work|deliverable/i;

export function parseDependencyTables(tables: readonly MdTable[]): TableRow[] {
  const rows: TableRow[] = [];
  for (const table of tables) {
    const header = table.header.map(stripInline);
    const depCol = header.findIndex((h) => DEP_COL.test(h));
    if (depCol < 0) continue;
    let idCol = header.findIndex((h, k) => k !== depCol && ID_COL.test(h));
    if (idCol < 0) idCol = header.findIndex((h, k) => k !== depCol && LOOSE_ID_COL.test(h));
    if (idCol < 0) continue;
    const nameCol = header.findIndex((h, k) => k !== depCol && k !== idCol && NAME_COL.test(h));
    for (const { cells, index } of table.rows) {
      const row = cells.map(stripInline);
      const idCell = row[idCol] ?? "";
      const m = /^(?:(?:stage|task|step|phase|milestone)\s*)?#?(\d+(?:\.\d+)*)\s*[:.\-–—)]?\s*(.*)$/i.exec(idCell);
      const id = m?.[1] ? normalizeId(m[1]) : undefined;
      if (!id) continue;
      const name = (nameCol >= 0 ? row[nameCol] : undefined) || m?.[2] || undefined;
      rows.push({ id, line: index + 1, depsValue: row[depCol] ?? "", ...(name ? { name } : {}) });
    }
  }
  return rows;
}

/**
 * Folds table rows into heading stages (or makes stages of them when there are no headings). A
 * stage whose heading states dependencies the table contradicts gets both, and a warning.
 */
export function mergeTableRows(stages: RawStage[], rows: TableRow[], warn: (line: number, message: string) => void = () => {}): RawStage[] {
  const byId = new Map(stages.map((s) => [s.id, s]));
  const out = [...stages];
  for (const row of rows) {
    let stage = byId.get(row.id);
    if (!stage) {
      stage = { id: row.id, name: row.name ?? `Stage ${row.id}`, scope: row.name ?? "", line: row.line };
      byId.set(row.id, stage);
      out.push(stage);
    }
    if (row.depsValue !== undefined) {
      const refs = parseDepValue(row.depsValue).map((ref) => ({ ref, line: row.line }));
      const key = (list: { ref: unknown }[]) => list.map((d) => JSON.stringify(d.ref)).sort().join(" ");
      if (stage.deps !== undefined && stage.line !== row.line && key(stage.deps) !== key(refs)) {
        warn(row.line, `stage ${row.id}'s dependencies in the table (${row.depsValue.trim() || "none"}) differ from those stated at its heading (line ${stage.line}); both are used`);
      }
      stage.deps = [...(stage.deps ?? []), ...refs];
    }
  }
  return out;
}
