/**
 * `autorun host prepare | launch | session | versions`: what the controller runs on a host over
 * its shared ssh connection, not for people (hidden from help). Each reads one JSON object on
 * stdin and prints one JSON object; bad input is a one-line error naming the field, exit 2.
 */
import type { z } from "zod";
import { UserError } from "../errors.js";
import type { Ctx } from "./ctx.js";

export type HostCommand = "prepare" | "launch" | "session" | "versions";

function parse<T extends z.ZodType>(what: string, schema: T, text: string): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UserError(`autorun host ${what}: stdin is not JSON (${(error as Error).message}); this command is run by the controller's autorun, with its input on stdin.`);
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new UserError(`autorun host ${what}: ${issue.path.join(".") || "input"}: ${issue.message}; nothing was done.`);
}

export async function runHost(ctx: Ctx, which: HostCommand, stdin: string): Promise<number> {
  const protocol = await import("../host/protocol.js");
  const side = await import("../host/host-side.js");
  let out: unknown;
  switch (which) {
    case "prepare":
      out = await side.prepare(ctx.home, ctx.cwd, parse(which, protocol.prepareInput, stdin));
      break;
    case "launch": {
      // One stage, or `{launches: [...]}` for several at once.
      const many = (() => {
        try {
          return typeof (JSON.parse(stdin) as { launches?: unknown }).launches !== "undefined";
        } catch {
          return false;
        }
      })();
      out = many ? { launches: await side.launchMany(ctx.home, parse(which, protocol.launchManyInput, stdin).launches) } : await side.launch(ctx.home, parse(which, protocol.launchInput, stdin));
      break;
    }
    case "session": {
      const input = parse(which, side.sessionsInput, stdin);
      out = { sessions: await side.startSessions(ctx.home, input.socket_path, input.sessions) };
      break;
    }
    case "versions": {
      const input = stdin.trim() ? parse(which, protocol.prepareInput.pick({ agent: true }), stdin) : {};
      out = await side.hostVersions(input.agent);
      break;
    }
  }
  // ctx.out drops control characters; JSON escapes C0 ones, these are escaped too so none is lost.
  ctx.out(JSON.stringify(out).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
  return 0;
}
