import { describe, expect, it } from "vitest";
import { planNameFromPath, projectSlug } from "../../src/core/slug.js";
import { branchName, sessionName, worktreeName } from "../../src/core/naming.js";

describe("plan_name", () => {
  it.each([
    ["wave_2_master_plan.md", "wave-2-master-plan"],
    ["docs/plans/2026-02-20-wave2-token-design-audit.md", "2026-02-20-wave2-token-design-audit"],
    ["Master Plan.md", "master-plan"],
    ["masterPlan.yaml", "master-plan"],
    ["plan.v2.md", "plan-v2"],
    ["Überplan.md", "uberplan"],
    ["!!!.md", "plan"],
    ["a/b/c/plan.MD", "plan"],
  ])("%s → %s", (path, name) => expect(planNameFromPath(path)).toBe(name));
});

describe("project_slug", () => {
  it.each([
    ["2026-02-20-wave2-token-design-audit", "token-audit"],
    ["wave2-pixel-perfect-visual-qa", "pixel-qa"],
    ["master-plan", "master-plan"],
    ["billing", "billing"],
    ["wave-2-master-plan", "wave-plan"],
    ["2026-01-01-refactor", "refactor"],
    ["supercalifragilistic-expialidocious", "supercalifragilistic"],
    ["wave3", "plan"],
    ["", "plan"],
  ])("%s → %s", (name, slug) => {
    const got = projectSlug(name);
    expect(got).toBe(slug);
    expect(got.length).toBeLessThanOrEqual(20);
    expect(got).toMatch(/^[a-z0-9-]+$/);
  });
});

describe("names derived from slug and id", () => {
  it("keeps tmux-unsafe characters out of session names", () => {
    expect(sessionName("token-audit", "2.1")).toBe("token-audit_stage-2_1");
    expect(worktreeName("token-audit", "2.1")).toBe("token-audit-stage-2.1");
    expect(branchName("token-audit", "3")).toBe("worktree-token-audit-stage-3");
  });
});
