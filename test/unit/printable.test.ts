import { describe, expect, it } from "vitest";
import { commandLine, printable } from "../../src/core/printable.js";

describe("printable", () => {
  it.each([
    ["\u001b[31mred\u001b[0m", "red"],
    ["title\u001b]0;pwned\u0007 after", "title after"],
    ["link \u001b]8;;http://x\u001b\\text\u001b]8;;\u001b\\", "link text"],
    ["bell\u0007 back\bspace", "bell backspace"],
    ["csi \u009b2J clear", "csi  clear"],
    ["cursor \u001b[2A\u001b[K up", "cursor  up"],
    ["tabs\tand\nnewlines stay", "tabs\tand\nnewlines stay"],
    ["ünïcödé 计划 🚀", "ünïcödé 计划 🚀"],
    ["stage \u202eelif.txt\u202c and \u2067isolate\u2069", "stage elif.txt and isolate"],
  ])("%j → %j", (input, output) => {
    expect(printable(input)).toBe(output);
  });
});

describe("commandLine", () => {
  it("quotes the words a shell would split or expand, so the line can be pasted back", () => {
    expect(commandLine(["sh", "-c", "exit 3"])).toBe("sh -c 'exit 3'");
    expect(commandLine(["npm", "test", "--", "-t=a.b/c:1,2"])).toBe("npm test -- -t=a.b/c:1,2");
    expect(commandLine(["echo", "$HOME", "it's", ""])).toBe("echo '$HOME' 'it'\\''s' ''");
  });
});
