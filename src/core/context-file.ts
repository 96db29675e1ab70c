/** The stage context file, exactly as docs/ARCHITECTURE.md ("Files") gives it. */
export interface ContextInput {
  id: string;
  name: string;
  scope: string;
  depends_on: readonly string[];
  orchDir: string;
  statusFile: string;
  baseBranch: string;
}

export function renderContextFile(c: ContextInput): string {
  const deps = c.depends_on.length > 0 ? c.depends_on.map((d) => `Stage ${d}`).join(", ") : "None";
  return [
    `# Stage ${c.id}: ${c.name}`,
    "## Scope",
    c.scope.trim() === "" ? "(no scope given in the plan)" : c.scope.trim(),
    "## Dependencies",
    `- Depends on: ${deps}`,
    "## Orchestration",
    `orchestration_dir: ${c.orchDir}`,
    `stage_number: ${c.id}`,
    `status_file: ${c.statusFile}`,
    `base_branch: ${c.baseBranch}`,
    "",
  ].join("\n");
}
