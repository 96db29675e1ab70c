/** A person's answer to a review the monitor filed, carried out by the monitor (monitor/answers.ts). */
import { describe, expect, it } from "vitest";
import { carryOut, type AnswerHost } from "../../src/monitor/answers.js";
import { foldEvents } from "../../src/core/fold.js";
import type { AutorunEvent, EventBody } from "../../src/types/schemas.js";
import { startedEvent } from "../helpers/events.js";

const ident = { orch_dir: "/h/orchestration/p", plan_name: "p", project_slug: "p" };

function host(merging: boolean): AnswerHost & { emitted: EventBody[]; killed: string[] } {
  const events = [
    startedEvent([{ id: "1", name: "A" }], { ident, ts: "2026-01-01T00:00:00.000Z" }),
    { ...ident, ts: "2026-01-01T00:00:01.000Z", type: "stage_launched", stage: "1", session: "p_stage-1", session_id: "u", attempt: 1 },
    { ...ident, ts: "2026-01-01T00:00:02.000Z", type: "phase_status", stage: "1", phase: "implement", status: "done" },
  ] as AutorunEvent[];
  const emitted: EventBody[] = [];
  const killed: string[] = [];
  const tmux = { killSession: (s: string) => (killed.push(s), Promise.resolve(true)) };
  return {
    emitted,
    killed,
    view: { status: foldEvents(events)!, deps: { tmux } as unknown as AnswerHost["view"]["deps"], emit: (e: EventBody) => void emitted.push(e) },
    mergeNow: () => true,
    cleanupFinished: () => undefined,
    nudgeStage: () => Promise.resolve(true),
    merging: () => merging,
    answerDialog: () => Promise.reject(new Error("no dialog here")),
  };
}

describe("an answer to a stuck stage's review", () => {
  it("skip waits for a merge of the stage this monitor has in flight: nothing done, the review asked again", async () => {
    const busy = host(true);
    expect(await carryOut(busy, { id: "1", key: "idle" }, "skip")).toEqual({ action: "skip", effect: "nothing was done: stage 1 is being merged right now", took: false });
    expect(busy.emitted).toEqual([]);
    expect(busy.killed).toEqual([]);
    const free = host(false);
    expect(await carryOut(free, { id: "1", key: "idle" }, "skip")).toMatchObject({ action: "skip", took: true });
    expect(free.emitted).toMatchObject([{ type: "stage_skipped", stage: "1" }]);
    expect(free.killed).toEqual(["p_stage-1"]);
  });
});
