/** Placement, table by table: which host each ready stage gets, or why it waits. */
import { describe, expect, it } from "vitest";
import { placeStages, type Placement, type PlacementInput } from "../../src/core/placement.js";

const local = { name: "local", slots: 2, labels: [], up: true };
const box1 = { name: "box1", slots: 4, labels: ["gpu"], up: true };
const box2 = { name: "box2", slots: 3, labels: [], up: true };

const cases: [string, PlacementInput, Placement[]][] = [
  [
    "the host with the most free slots; a tie goes to the host listed first",
    { hosts: [local, box1, box2], running: [], maxParallel: 10, ready: [{ id: "1" }, { id: "2" }, { id: "3" }, { id: "4" }] },
    [{ stage: "1", host: "box1" }, { stage: "2", host: "box1" }, { stage: "3", host: "box2" }, { stage: "4", host: "local" }],
  ],
  [
    "running stages use their hosts' slots",
    { hosts: [local, box1], running: [{ stage: "a", host: "box1" }, { stage: "b", host: "box1" }, { stage: "c", host: "box1" }], maxParallel: 10, ready: [{ id: "1" }, { id: "2" }] },
    [{ stage: "1", host: "local" }, { stage: "2", host: "local" }],
  ],
  [
    "a stage needing a label goes only to a host with every label it needs",
    { hosts: [local, box1, box2], running: [], maxParallel: 10, ready: [{ id: "1", needs: ["gpu"] }, { id: "2", needs: ["gpu", "arm"] }] },
    [{ stage: "1", host: "box1" }, { stage: "2", wait: "no_host", detail: "no host has gpu, arm and a slot" }],
  ],
  [
    "Host: pins, even onto the host with fewer free slots",
    { hosts: [local, box1], running: [], maxParallel: 10, ready: [{ id: "1", host: "local" }] },
    [{ stage: "1", host: "local" }],
  ],
  [
    "a pinned stage waits for its host's slot rather than run elsewhere",
    { hosts: [{ ...local, slots: 1 }, box1], running: [{ stage: "a", host: "local" }], maxParallel: 10, ready: [{ id: "1", host: "local" }] },
    [{ stage: "1", wait: "no_slot", detail: "every slot of local is in use" }],
  ],
  [
    "a pinned stage waits while its host is down",
    { hosts: [local, { ...box1, up: false }], running: [], maxParallel: 10, ready: [{ id: "1", host: "box1" }] },
    [{ stage: "1", wait: "host_down", detail: "host box1 is down" }],
  ],
  [
    "a relaunch stays on its host while it is up, whatever has more free slots",
    { hosts: [local, box1, box2], running: [], maxParallel: 10, ready: [{ id: "1", previousHost: "box2" }] },
    [{ stage: "1", host: "box2" }],
  ],
  [
    "a relaunch whose host is down goes to the best host up",
    { hosts: [local, box1, { ...box2, up: false }], running: [], maxParallel: 10, ready: [{ id: "1", previousHost: "box2" }] },
    [{ stage: "1", host: "box1" }],
  ],
  [
    "exclusive resources hold across hosts: a resource held on box1 keeps a stage off local too",
    { hosts: [local, box1], running: [{ stage: "a", host: "box1", exclusive_resources: ["db"] }], maxParallel: 10, ready: [{ id: "1", exclusive_resources: ["db"] }, { id: "2", exclusive_resources: ["ports"] }, { id: "3", exclusive_resources: ["ports"] }] },
    [{ stage: "1", wait: "resource", detail: "db is held by stage a" }, { stage: "2", host: "box1" }, { stage: "3", wait: "resource", detail: "ports is held by stage 2" }],
  ],
  [
    "maxParallel caps the whole run, every host together",
    { hosts: [local, box1, box2], running: [{ stage: "a", host: "box2" }], maxParallel: 3, ready: [{ id: "1" }, { id: "2" }, { id: "3" }] },
    [{ stage: "1", host: "box1" }, { stage: "2", host: "box1" }, { stage: "3", wait: "max_parallel", detail: "3 of 3 stages (maxParallel) run" }],
  ],
  [
    'local with slots 0 runs everything elsewhere',
    { hosts: [{ ...local, slots: 0 }, box2], running: [], maxParallel: 10, ready: [{ id: "1" }, { id: "2" }, { id: "3" }, { id: "4" }] },
    [{ stage: "1", host: "box2" }, { stage: "2", host: "box2" }, { stage: "3", host: "box2" }, { stage: "4", wait: "no_slot", detail: "every slot of box2 is in use" }],
  ],
  [
    "only local (no hosts configured): local's slots are maxParallel",
    { hosts: [{ ...local, slots: 4 }], running: [], maxParallel: 4, ready: [{ id: "1" }, { id: "2" }] },
    [{ stage: "1", host: "local" }, { stage: "2", host: "local" }],
  ],
  [
    "every host able to run it is down",
    { hosts: [{ ...local, slots: 0 }, { ...box1, up: false }], running: [], maxParallel: 4, ready: [{ id: "1" }] },
    [{ stage: "1", wait: "host_down", detail: "every host that can run it is down (box1)" }],
  ],
  [
    "a pin to a host that is not configured waits (the plan check refuses it before a run)",
    { hosts: [local], running: [], maxParallel: 4, ready: [{ id: "1", host: "nope" }] },
    [{ stage: "1", wait: "no_host", detail: "host nope is not configured" }],
  ],
];

describe("placeStages", () => {
  it.each(cases)("%s", (_name, input, want) => expect(placeStages(input)).toEqual(want));
});
