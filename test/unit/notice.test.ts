import { describe, expect, it } from "vitest";
import { noticeText } from "../../src/commands/monitor.js";
import type { AutorunEvent } from "../../src/types/schemas.js";

const ident = { orch_dir: "/h/orchestration/p", plan_name: "p", project_slug: "p", ts: "2026-01-01T00:00:00.000Z" };

describe("the notice in attached tmux clients", () => {
  it.each([
    [{ type: "merge_conflict", stage: "2", reason: "no_commits", files: [], detail: "" }, "autorun p stage 2: nothing to merge"],
    [{ type: "merge_conflict", stage: "2", reason: "conflict", files: ["a.ts"], detail: "" }, "autorun p stage 2: merge conflict (a.ts)"],
    [{ type: "merge_complete", stage: "1", branch: "b", commit: "abcdef1234567" }, "autorun p stage 1: merged as abcdef1234"],
  ])("says what happened in the log's words: %j", (event, text) => {
    expect(noticeText({ ...ident, ...event } as AutorunEvent)).toBe(text);
  });
});
