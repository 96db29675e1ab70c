/**
 * Text from plans and agents shown on a person's terminal: escape sequences (ANSI colours, OSC
 * titles and hyperlinks, cursor moves) and other control characters are removed, so a plan
 * cannot repaint, retitle or hide things in the terminal that displays it; and small helpers for
 * such text. Pure.
 */
// ESC [ … final byte (CSI), ESC ] … BEL or ESC \ (OSC), ESC + one byte, then any C0/C1 control.
const SEQUENCES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u009b[0-?]*[ -/]*[@-~]|\u001b[@-_]?/g;
// With the bidirectional overrides and isolates, which reorder what a terminal shows ("Trojan source").
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function printable(text: string): string {
  return text.replace(SEQUENCES, "").replace(CONTROLS, "");
}

/** "stage 3" or "stages 2, 3": the words for a list of stage ids. */
export function stagesList(ids: readonly string[]): string {
  return `${ids.length === 1 ? "stage" : "stages"} ${ids.join(", ")}`;
}

/** A clause written to follow other words, as the start of a sentence: its first letter capital. */
export function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Levenshtein distance: how many edits turn `a` into `b` (short words only: a typo's likely meaning). */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length]!;
}

/** An argument list as a person reads it and could paste it into a shell: a word a shell would split or expand, in single quotes. */
export function commandLine(argv: readonly string[]): string {
  return argv.map((w) => (w === "" || /[^\w@%+=:,./-]/.test(w) ? `'${w.replace(/'/g, "'\\''")}'` : w)).join(" ");
}
