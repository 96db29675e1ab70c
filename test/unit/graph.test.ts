import { describe, expect, it } from "vitest";
import { computeWaves, findCycle } from "../../src/core/graph.js";
import { compareIds } from "../../src/core/ids.js";

const n = (id: string, ...deps: string[]) => ({ id, depends_on: deps });

describe("waves", () => {
  it.each([
    ["single", [n("1")], [["1"]]],
    ["diamond", [n("1"), n("2", "1"), n("3", "1"), n("4", "2", "3")], [["1"], ["2", "3"], ["4"]]],
    ["parallel roots", [n("1"), n("2"), n("3", "1")], [["1", "2"], ["3"]]],
    ["long chain shortcut", [n("1"), n("2", "1"), n("3", "2"), n("4", "1")], [["1"], ["2", "4"], ["3"]]],
    ["numeric order", [n("10"), n("9"), n("2.1"), n("2")], [["2", "2.1", "9", "10"]]],
  ])("%s", (_name, nodes, waves) => expect(computeWaves(nodes)).toEqual(waves));
});

describe("cycles", () => {
  it.each([
    ["none", [n("1"), n("2", "1")], undefined],
    ["three", [n("1", "3"), n("2", "1"), n("3", "2")], ["1", "2", "3", "1"]],
    ["two", [n("1"), n("2", "3"), n("3", "2")], ["2", "3", "2"]],
    ["self", [n("1", "1")], ["1", "1"]],
  ])("%s", (_name, nodes, cycle) => expect(findCycle(nodes)).toEqual(cycle));
});

describe("ids", () => {
  it("sort numerically", () => expect(["10", "2", "1", "2.10", "2.2"].sort(compareIds)).toEqual(["1", "2", "2.2", "2.10", "10"]));
});
