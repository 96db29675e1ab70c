import { describe, expect, it } from "vitest";
import { parsePermissionModes, resolvePermissionMode } from "../../src/adapters/claude-modes.js";

// The --permission-mode lines of `claude --help`, as 2.1.197 and 2.1.332 print them.
const HELP_197 = `  --permission-mode <mode>              Permission mode to use for the session
                                        (choices: "acceptEdits", "auto",
                                        "bypassPermissions", "default",
                                        "dontAsk", "plan")
  --plugin-dir <path>                   Load a plugin from a directory or .zip`;
const HELP_332 = HELP_197.replace('"default"', '"manual"');
const OLD = ["acceptEdits", "bypassPermissions", "default", "plan"];

describe("the permission modes of the installed Claude Code", () => {
  it("are the choices its --help lists", () => {
    expect(parsePermissionModes(HELP_197)).toEqual(["acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"]);
    expect(parsePermissionModes(HELP_332)).toContain("manual");
    expect(parsePermissionModes("Usage: claude [options]\n  --model <model>")).toBeUndefined();
  });

  it.each([
    ["manual", HELP_197, "default"],
    ["default", HELP_197, "default"],
    // Where only manual is listed: manual, unless a look found it still takes default (below).
    ["manual", HELP_332, "manual"],
    ["default", HELP_332, "manual"],
    ["auto", HELP_332, "auto"],
    ["acceptEdits", HELP_332, "acceptEdits"],
    // Not a mode: it goes as it is, so claude's own words say what is wrong.
    ["bogus", HELP_332, "bogus"],
  ])("%s goes to a claude whose --help is like this as %s", (mode, help, want) => {
    expect(resolvePermissionMode(mode, parsePermissionModes(help))).toEqual({ mode: want });
  });

  it("passes manual and default as default wherever it is taken, the name every version takes", () => {
    const taken = [...parsePermissionModes(HELP_332)!, "default"];
    expect(resolvePermissionMode("manual", taken)).toEqual({ mode: "default" });
    expect(resolvePermissionMode("default", taken)).toEqual({ mode: "default" });
    expect(resolvePermissionMode("plan", taken)).toEqual({ mode: "plan" });
  });

  it("refuses auto where the installed claude has no auto mode", () => {
    expect(resolvePermissionMode("auto", OLD)).toEqual({ error: expect.stringMatching(/needs a Claude Code with auto mode, and this one offers acceptEdits, bypassPermissions, default, plan/) });
  });

  it("passes any mode as it is when the choices cannot be read", () => {
    expect(resolvePermissionMode("manual", undefined)).toEqual({ mode: "manual" });
  });
});
