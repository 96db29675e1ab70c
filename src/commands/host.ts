/**
 * `autorun host prepare | launch | session | versions | follow`: what the controller runs on a
 * host over its shared ssh connection, not for people (hidden from help). Each but `follow` reads
 * one JSON object on stdin and prints one JSON object; bad input is a one-line error naming the
 * field, exit 2. `follow` takes its file and offset as arguments (its stdin stays open: its end
 * is the sign to stop) and streams the file's bytes (src/host/follow-side.ts).
 */
import type { z } from "zod";
import { UserError } from "../errors.js";
import type { Ctx } from "./ctx.js";

export type HostCommand = "prepare" | "launch" | "session" | "versions";

function json(what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UserError(`autorun host ${what}: stdin is not JSON (${(error as Error).message.replace(/\s+/g, " ")}); this command is run by the controller's autorun, with its input on stdin.`);
  }
}

function check<T extends z.ZodType>(what: string, schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new UserError(`autorun host ${what}: ${issue.path.join(".") || "input"}: ${issue.message}; nothing was done.`);
}

export async function runHost(ctx: Ctx, which: HostCommand, stdin: string): Promise<number> {
  const protocol = await import("../host/protocol.js");
  const side = await import("../host/host-side.js");
  let out: unknown;
  const input = which === "versions" && stdin.trim() === "" ? {} : json(which, stdin);
  switch (which) {
    case "prepare":
      out = await side.prepare(ctx.home, ctx.cwd, check(which, protocol.prepareInput, input));
      break;
    case "launch":
      // One stage, or `{launches: [...]}` for several at once.
      out =
        typeof input === "object" && input !== null && "launches" in input
          ? { launches: await side.launchMany(ctx.home, check(which, protocol.launchManyInput, input).launches) }
          : await side.launch(ctx.home, check(which, protocol.launchInput, input));
      break;
    case "session": {
      const sessions = check(which, side.sessionsInput, input);
      out = { sessions: await side.startSessions(ctx.home, sessions.socket_path, sessions.sessions) };
      break;
    }
    case "versions": {
      const asked = check(which, protocol.versionsInput, input);
      out = { ...(await side.hostVersions(asked.agent)), ...(asked.root !== undefined ? side.trustOf(ctx.cwd, asked.root, asked.agent) : {}) };
      break;
    }
  }
  // ctx.out drops control characters; JSON escapes C0 ones, these are escaped too so none is lost.
  ctx.out(JSON.stringify(out).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
  return 0;
}

/** `autorun host follow <file> <offset>`: the events file's bytes from `offset` as they are written, until stdin ends. */
export async function runHostFollow(file: string, offset: string): Promise<number> {
  if (!file.startsWith("/") || /[\0\n]/.test(file)) throw new UserError(`autorun host follow: ${JSON.stringify(file)} is not an absolute path; nothing was read.`);
  if (!/^\d{1,15}$/.test(offset)) throw new UserError(`autorun host follow: offset ${JSON.stringify(offset)} is not a byte offset (a whole number); nothing was read.`);
  const { followFile } = await import("../host/follow-side.js");
  const { FOLLOW_HEARTBEAT_MS } = await import("../host/protocol.js");
  return followFile(file, Number(offset), { out: process.stdout, stdin: process.stdin, heartbeatMs: FOLLOW_HEARTBEAT_MS });
}
