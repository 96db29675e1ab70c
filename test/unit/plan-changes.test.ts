import { describe, expect, it } from "vitest";
import { stageChanges } from "../../src/core/plan-changes.js";

describe("stageChanges: a stage as its run knows it against the plan now", () => {
  const run = { name: "Build", depends_on: ["1"], settings: { budget_usd: 1, validate: [["npm", "test"]] } };
  it.each([
    ["nothing", { name: "Build", depends_on: ["1"], settings: { budget_usd: 1, validate: [["npm", "test"]] } }, [], []],
    ["title and budget", { name: "Build it", depends_on: ["1"], settings: { budget_usd: 2, validate: [["npm", "test"]] } }, ['title "Build" → "Build it"', "budget $1.00 → $2.00"], []],
    ["a check removed, a model added", { name: "Build", depends_on: ["1"], settings: { budget_usd: 1, model: "opus" } }, ["model (none) → opus", "validate npm test → (none)"], []],
    ["dependencies and done-ness are kept", { name: "Build", depends_on: ["1", "2"], settings: { budget_usd: 1, validate: [["npm", "test"]], status: "completed" as const } }, [], ["status (none) → completed", "depends on 1 → 1, 2"]],
  ])("%s", (_what, plan, applied, kept) => {
    const c = stageChanges(run, plan);
    expect(c.applied).toEqual(applied);
    expect(c.kept).toEqual(kept);
    expect(c.settings.status).toBeUndefined();
  });
});
