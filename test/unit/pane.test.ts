import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { classifyPane, parseResetTime, screenBody, zoneOffsetMinutes } from "../../src/monitor/pane.js";

const dir = join(import.meta.dirname, "..", "fixtures", "screens");
const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as Record<string, { kind: string; input?: string; question?: string }>;

describe("classifyPane on captured Claude Code screens", () => {
  it.each(Object.entries(expected))("%s", (file, want) => {
    const got = classifyPane(readFileSync(join(dir, file), "utf8"));
    expect(got.kind).toBe(want.kind);
    if (want.input !== undefined) expect(got).toMatchObject({ input: want.input });
    if (want.question !== undefined) expect(got).toMatchObject({ question: want.question });
  });
});

describe("the question of a permission dialog", () => {
  it("is the dialog's question, not another line that mentions allow", () => {
    const screen = "cwd: /repo/.claude/worktrees/allowed-stage-1\n⏺ Allowing nothing yet\n│ Bash command\n│   rm -rf build/\n│ Do you want to proceed?\n│ ❯ 1. Yes\n│   2. No\n";
    expect(classifyPane(screen)).toEqual({ kind: "permission", question: "Bash command · rm -rf build/ — Do you want to proceed?" });
  });
});

describe("the body of a screen (what the stall timer watches)", () => {
  it("leaves out the effort indicator that comes and goes above the input box, and the blank lines", () => {
    const screen = readFileSync(join(dir, "v2.1.332-200x50-typed.txt"), "utf8");
    expect(screen).toMatch(/\/effort/);
    const gone = screen.replace(/^.*\/effort.*$/m, "");
    expect(screenBody(gone)).toBe(screenBody(screen));
    expect(screenBody(screen)).not.toMatch(/\/effort|\n\s*\n/);
  });
});

describe("the API's own rate-limit error", () => {
  const error = "● API Error: Request rejected (429) · This request would exceed your account's rate limit. Please try again\n  later.\n✻ Crunched for 0s\n";
  const prompt = "────────────\n❯ \n────────────\n  ? for shortcuts\n";
  it("is a usage limit while it is the last thing the agent said", () => {
    expect(classifyPane(error + prompt).kind).toBe("rate_limited");
  });
  it("is history once the agent has carried on after it", () => {
    expect(classifyPane(error + "❯ continue\n● Carrying on.\n✻ Baked for 2s\n" + prompt)).toEqual({ kind: "idle", input: "" });
  });
});

describe("parseResetTime", () => {
  const at = (iso: string) => new Date(iso);
  it.each([
    ["You've hit your limit · resets 3pm (Europe/Paris)", "2026-07-01T10:00:00.000Z", "2026-07-01T13:00:00.000Z"],
    ["You've hit your limit · resets 3pm (Europe/Paris)", "2026-07-01T14:00:00.000Z", "2026-07-02T13:00:00.000Z"],
    ["You've hit your limit · resets 3pm (Europe/Paris)", "2026-01-15T10:00:00.000Z", "2026-01-15T14:00:00.000Z"],
    ["Your limit will reset at 11pm (America/New_York).", "2026-07-01T12:00:00.000Z", "2026-07-02T03:00:00.000Z"],
    ["resets 9:30am", "2026-07-01T08:00:00.000Z", "2026-07-01T09:30:00.000Z"],
    ["resets 12am (UTC)", "2026-07-01T08:00:00.000Z", "2026-07-02T00:00:00.000Z"],
    ["limit reached, resets in 2h 10m", "2026-07-01T08:00:00.000Z", "2026-07-01T10:10:00.000Z"],
  ])("%s at %s → %s", (raw, now, want) => expect(parseResetTime(raw, at(now))?.toISOString()).toBe(want));
  it.each(["Usage limit reached. Please try again later.", "resets 3pm (Mars/Olympus)", "resets 25pm"])("%s → undefined", (raw) =>
    expect(parseResetTime(raw, at("2026-07-01T08:00:00.000Z"))).toBeUndefined(),
  );
  it("knows zone offsets with daylight saving", () => {
    expect(zoneOffsetMinutes("Europe/Paris", at("2026-07-01T00:00:00.000Z"))).toBe(120);
    expect(zoneOffsetMinutes("Europe/Paris", at("2026-01-01T00:00:00.000Z"))).toBe(60);
  });
});
