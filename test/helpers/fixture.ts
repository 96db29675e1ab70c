/**
 * The sandbox as a vitest fixture: a test that names `sb` gets its own (a temp AUTORUN_HOME, a git
 * repo, a private tmux server), cleaned up after it whatever happened. `itNoRepo`: without the repo.
 */
import { test } from "vitest";
import { makeSandbox, type Sandbox } from "./env.js";

const withSandbox = (opts: { repo?: boolean }) =>
  test.extend<{ sb: Sandbox }>({
    sb: async ({}, use) => {
      const sb = await makeSandbox(opts);
      try {
        await use(sb);
      } finally {
        await sb.cleanup();
      }
    },
  });

export const it = withSandbox({});
export const itNoRepo = withSandbox({ repo: false });
