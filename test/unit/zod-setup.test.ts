import { afterEach, describe, expect, it } from "vitest";
import { optionBuilders } from "../../src/commands/option-schemas.js";
import { configSchema } from "../../src/types/config-schema.js";
import { eventSchema } from "../../src/types/event-schema.js";
import { hostsSchema } from "../../src/types/hosts-schema.js";
import { statusSchema } from "../../src/types/status-schema.js";
import { prepareInput } from "../../src/host/protocol.js";

const realFunction = globalThis.Function;
afterEach(() => {
  globalThis.Function = realFunction;
});

/** Counts the functions made from source text while `run` parses. */
function compiledWhile(run: () => void): number {
  let made = 0;
  globalThis.Function = new Proxy(realFunction, {
    construct(target, args) {
      made += 1;
      return Reflect.construct(target, args);
    },
    apply(target, self, args) {
      made += 1;
      return Reflect.apply(target, self, args);
    },
  });
  try {
    run();
  } finally {
    globalThis.Function = realFunction;
  }
  return made;
}

describe("autorun's schemas", () => {
  it("parse without compiling a parser from source text (each process parses a few values and exits)", () => {
    const made = compiledWhile(() => {
      configSchema.parse({ maxParallel: 2, stallSeconds: 60 });
      eventSchema.safeParse({ ts: "2026-01-01T00:00:00.000Z", type: "stage_launched", stage: "1", session: "s", attempt: 1 });
      statusSchema.safeParse({});
      hostsSchema.safeParse({ box: { ssh: "box" } });
      prepareInput.safeParse({ root: "/srv/x" });
      optionBuilders.object({ json: optionBuilders.boolean() }).parse({ json: true });
    });
    expect(made).toBe(0);
  });
});
