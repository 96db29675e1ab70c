/**
 * The sandbox as a vitest fixture: a test that names `sb` gets its own (a temp AUTORUN_HOME, a git
 * repo, a private tmux server), cleaned up after it whatever happened; when it fails, the end of each
 * run's monitor log and events and every session's screen are printed first. `itNoRepo`: without the repo.
 */
import { test } from "vitest";
import { describeSandbox, makeSandbox, type Sandbox } from "./env.js";

const withSandbox = (opts: { repo?: boolean }) =>
  test.extend<{ sb: Sandbox }>({
    sb: async ({ task }, use) => {
      const sb = await makeSandbox(opts);
      try {
        await use(sb);
        // A failure (a timeout among them) shows what each run was doing, before the cleanup ends it.
        if (task.result?.state === "fail") console.log(await describeSandbox(sb));
      } finally {
        await sb.cleanup();
      }
    },
  });

export const it = withSandbox({});
export const itNoRepo = withSandbox({ repo: false });
