/** Stage ids are `3` or `2.1` (YAML plans may use a word); numeric ids compare component-wise. */
export function normalizeId(raw: string): string | undefined {
  const m = /^#?(\d+(?:\.\d+)*)$/.exec(raw.trim());
  if (!m?.[1]) return undefined;
  // Leading zeros go ("01" is stage 1); the digits stay as written, however many (no float).
  return m[1]
    .split(".")
    .map((part) => part.replace(/^0+(?=\d)/, ""))
    .join(".");
}

export function compareIds(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  if (pa.some(Number.isNaN) || pb.some(Number.isNaN)) {
    const na = pa.some(Number.isNaN);
    const nb = pb.some(Number.isNaN);
    if (na !== nb) return na ? 1 : -1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const sa = a.split(".");
  const sb = b.split(".");
  for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
    if (sa[i] === undefined || sb[i] === undefined) return sa[i] === undefined ? -1 : 1;
    const order = compareDigits(sa[i]!, sb[i]!);
    if (order !== 0) return order;
  }
  return 0;
}

/** Two whole numbers written in digits, of any length (compared as text, never rounded). */
function compareDigits(x: string, y: string): number {
  const [u, v] = [x.replace(/^0+(?=\d)/, ""), y.replace(/^0+(?=\d)/, "")];
  if (u.length !== v.length) return u.length - v.length;
  return u < v ? -1 : u > v ? 1 : 0;
}

/** Every known id from `from` to `to` (a range `1-3` covers 1, 2, 2.1 and 3). */
export function expandRange(from: string, to: string, known: readonly string[]): string[] {
  // "Stages 3-1" means the same stages as "Stages 1-3".
  const [low, high] = compareIds(from, to) <= 0 ? [from, to] : [to, from];
  return known.filter((id) => compareIds(id, low) >= 0 && compareIds(id, high) <= 0 && !Number.isNaN(Number(id.split(".")[0])));
}
