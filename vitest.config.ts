import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests each run their own tmux server and git repos. They wait on agents and
    // timers more than they compute (about a third of two cores busy with two workers), so three
    // workers finish sooner on two cores: 239 s against 283 s for the whole suite, measured.
    maxWorkers: 3,
    fileParallelism: true,
  },
});
