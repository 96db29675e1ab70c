/** `plan_name` and `project_slug` derivation (docs/ARCHITECTURE.md, "Names"). */
function sanitize(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
}

/** `wave_2_master_plan.md` → `wave-2-master-plan`. */
export function planNameFromPath(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  const stem = base.replace(/\.(md|markdown|ya?ml|txt)$/i, "");
  const spaced = stem
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/[_\s.]+/g, "-");
  // File names stop at 255 bytes; the plan name is one, with suffixes for kept runs and locks.
  return sanitize(spaced).slice(0, 120).replace(/-+$/, "") || "plan";
}

/** `2026-02-20-wave2-token-design-audit` → `token-audit`; at most 20 chars. */
export function projectSlug(planName: string): string {
  const rest = sanitize(planName)
    .replace(/^\d{4}-\d{2}-\d{2}-/, "")
    .replace(/^wave\d+-?/, "");
  const words = rest.split("-").filter(Boolean);
  let slug = words.length <= 1 ? (words[0] ?? "") : `${words[0]}-${words[words.length - 1]}`;
  slug = slug.slice(0, 20).replace(/-+$/, "");
  return slug || "plan";
}
