import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests each run their own tmux server and git repos. They wait on agents and
    // timers more than they compute (about a third of two cores busy with two workers), so three
    // workers finish sooner on two cores: 239 s against 283 s for the whole suite, measured.
    maxWorkers: 3,
    fileParallelism: true,
    projects: [
      {
        extends: true,
        // Unit tests share their workers' module graph (no mocks, no global state between files):
        // loading src once per worker instead of once per file is most of what they cost.
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], isolate: false },
      },
      { extends: true, test: { name: "integration", include: ["test/**/*.test.ts"], exclude: ["test/unit/**"] } },
    ],
  },
});
