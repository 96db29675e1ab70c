import { describe, expect, it } from "vitest";
import { printable } from "../../src/core/printable.js";

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
  ])("%j → %j", (input, output) => {
    expect(printable(input)).toBe(output);
  });
});
