import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests each run their own tmux server and git repos; two cores.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
