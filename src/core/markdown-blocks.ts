/**
 * A markdown plan's block structure as CommonMark (with GFM tables) reads it: which lines are
 * plan text, the headings (ATX and setext) and the tables, each with its source lines. The plan
 * rules (plan-markdown.ts, plan-table.ts) are expressed over this, so what a reader of the
 * rendered plan does not see as text (code blocks, HTML blocks and comments) is never a stage or
 * a dependency, and headings and table cells read as markdown reads them.
 *
 * The parser is markdown-it, block rules only: it follows the CommonMark spec and its test suite,
 * gives source lines for every block, and tokenises a 10 000-stage plan in tens of milliseconds.
 * Inline parsing is off — the plan rules read a heading's or cell's source text themselves.
 */
import MarkdownIt from "markdown-it";

export interface MdHeading {
  /** 0-based line of the heading's text. */
  index: number;
  /** 0-based line after the heading (after a setext underline). */
  end: number;
  level: number;
  text: string;
}

export interface MdTable {
  header: string[];
  rows: { cells: string[]; index: number }[];
}

export interface MdBlocks {
  /** Per 0-based line: not plan text (inside a fenced or indented code block, or an HTML block). */
  hidden: boolean[];
  /** Headings outside blockquotes, in order. */
  headings: MdHeading[];
  /** GFM tables, cells unescaped. */
  tables: MdTable[];
  /** HTML comments (`<!-- … -->` blocks): their 0-based [start, end) lines. */
  comments: { start: number; end: number }[];
}

function create() {
  const parser = new MarkdownIt("commonmark", { html: true }).enable("table");
  parser.core.ruler.disable(["inline", "text_join"]);
  return parser;
}

let parser: ReturnType<typeof create> | undefined;

function md(): ReturnType<typeof create> {
  return (parser ??= create());
}

/** CommonMark backslash escapes (`\|`, `\*`, `\#`): the character itself. */
export function unescapeMarkdown(text: string): string {
  return text.replace(/\\([!-/:-@[-`{-~])/g, "$1");
}

export function markdownBlocks(text: string): MdBlocks {
  const lineCount = text.split("\n").length;
  const hidden = new Array<boolean>(lineCount).fill(false);
  const headings: MdHeading[] = [];
  const tables: MdTable[] = [];
  const comments: { start: number; end: number }[] = [];
  const tokens = md().parse(text, {});
  let quoted = 0;
  let table: MdTable | undefined;
  let row: { cells: string[]; index: number } | undefined;
  let inHead = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    switch (t.type) {
      case "blockquote_open":
        quoted++;
        break;
      case "blockquote_close":
        quoted--;
        break;
      case "fence":
      case "code_block":
      case "html_block":
        if (t.map) for (let l = t.map[0]; l < t.map[1]; l++) hidden[l] = true;
        if (t.type === "html_block" && t.map && /^\s*<!--/.test(t.content)) comments.push({ start: t.map[0], end: t.map[1] });
        break;
      case "heading_open":
        if (quoted === 0 && t.map) headings.push({ index: t.map[0], end: t.map[1], level: Number(t.tag.slice(1)), text: tokens[i + 1]?.content ?? "" });
        break;
      case "table_open":
        table = { header: [], rows: [] };
        break;
      case "thead_open":
        inHead = true;
        break;
      case "thead_close":
        inHead = false;
        break;
      case "tr_open":
        row = { cells: [], index: t.map?.[0] ?? 0 };
        break;
      case "th_open":
      case "td_open":
        row?.cells.push(unescapeMarkdown(tokens[i + 1]?.type === "inline" ? tokens[i + 1]!.content.trim() : ""));
        break;
      case "tr_close":
        if (table && row) {
          if (inHead) table.header = row.cells;
          else table.rows.push(row);
        }
        row = undefined;
        break;
      case "table_close":
        if (table) tables.push(table);
        table = undefined;
        break;
      default:
        break;
    }
  }
  return { hidden, headings, tables, comments };
}
