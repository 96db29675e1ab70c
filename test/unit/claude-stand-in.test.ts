/** The Messages API stand-in's reading of a request, in the shapes each pinned Claude Code sends. */
import { describe, expect, it } from "vitest";
import { readCall } from "../../src/adapters/claude-stand-in.js";

const environment = (dir: string) => `Here is useful information about the environment you are running in:\n - Primary working directory: ${dir}\n - Is a git repository: true`;
const prompt = { role: "user", content: [{ type: "text", text: "/autorun:start /home/o/stages/stage-2-context.md" }] };

describe("readCall", () => {
  it("finds the working directory in the system prompt (2.1.197)", () => {
    const call = readCall({ system: [{ type: "text", text: "You are Claude Code." }, { type: "text", text: environment("/p/.claude/worktrees/w-stage-2") }], messages: [prompt] });
    expect(call.cwd).toBe("/p/.claude/worktrees/w-stage-2");
    expect(call.userTexts).toEqual(["/autorun:start /home/o/stages/stage-2-context.md"]);
  });

  it("finds it in a message of the system role, which is not the user's text (2.1.332)", () => {
    const call = readCall({ system: [{ type: "text", text: "You are Claude Code." }], messages: [prompt, { role: "system", content: [{ type: "text", text: environment("/p/.claude/worktrees/w-stage-2") }] }] });
    expect(call.cwd).toBe("/p/.claude/worktrees/w-stage-2");
    expect(call.userTexts).toEqual(["/autorun:start /home/o/stages/stage-2-context.md"]);
  });
});
