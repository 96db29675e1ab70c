/**
 * `autorun host prepare | launch | session | versions | serve | follow`: what the controller runs
 * on a host over its shared ssh connection, not for people (hidden from help). Each of the first
 * four reads one JSON object on stdin and prints one JSON object; bad input is a one-line error
 * naming the field, exit 2. `serve` answers any number of them, side by side, until its stdin
 * ends. `follow` takes its file and offset as arguments (its stdin stays open: its end
 * is the sign to stop) and streams the file's bytes (src/host/follow-side.ts).
 */
import type * as z from "zod";
import { UserError } from "../errors.js";
import type { Ctx } from "./ctx.js";
import type { HostWork } from "../host/host-work.js";

export type HostCommand = "prepare" | "launch" | "session" | "versions" | "worktrees" | "objects";

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

/** What `autorun host <which>` answers to `input` (a UserError for bad input). */
async function answer(ctx: Pick<Ctx, "home" | "cwd">, which: HostCommand, input: unknown, work: HostWork): Promise<unknown> {
  const protocol = await import("../host/protocol.js");
  const side = await import("../host/host-side.js");
  switch (which) {
    case "prepare":
      return side.prepare(ctx.home, ctx.cwd, check(which, protocol.prepareInput, input));
    case "launch":
      // One stage, or `{launches: [...]}` for several at once.
      return typeof input === "object" && input !== null && "launches" in input
        ? { launches: await side.launchMany(ctx.home, check(which, protocol.launchManyInput, input).launches, work) }
        : side.launch(ctx.home, check(which, protocol.launchInput, input), work);
    case "session": {
      const sessions = check(which, side.sessionsInput, input);
      return { sessions: await side.startSessions(ctx.home, sessions.socket_path, sessions.sessions) };
    }
    case "worktrees":
      return side.makeAhead(check(which, protocol.worktreesInput, input), work);
    case "objects":
      return side.takeObjects(check(which, protocol.objectsInput, input), work);
    case "versions": {
      const asked = check(which, protocol.versionsInput, input);
      return { ...(await side.hostVersions(asked.agent)), ...(asked.root !== undefined ? side.trustOf(ctx.cwd, asked.root, asked.agent) : {}) };
    }
  }
}

/** One line of JSON: C0 controls are escaped by JSON, these too, so none is lost on the way. */
function line(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export async function runHost(ctx: Ctx, which: HostCommand, stdin: string): Promise<number> {
  const input = which === "versions" && stdin.trim() === "" ? {} : json(which, stdin);
  const { HostWork } = await import("../host/host-work.js");
  ctx.out(line(await answer(ctx, which, input, new HostWork())));
  return 0;
}

/** A request line longer than this is no controller's (a moved stage's conversation is the largest). */
const MAX_REQUEST = 64 * 1024 * 1024;

/**
 * `autorun host serve`: the commands above for as long as stdin is open, each request line
 * answered with one line (src/host/host-server.ts is the other end). A monitor keeps one per host,
 * so a launch there does not start a Node process first. Requests run side by side and are
 * answered as they finish, each answer carrying its request's id: a launch does not wait behind
 * another stage's worktree being made (what they share is `HostWork`'s). When stdin ends, the
 * calls under way finish first.
 */
export async function runHostServe(ctx: Pick<Ctx, "home" | "cwd">, io: { stdin: NodeJS.ReadableStream; write: (text: string) => void } = { stdin: process.stdin, write: (t) => void process.stdout.write(t) }): Promise<number> {
  const { ownVersion } = await import("../adapters/agent.js");
  const { HostWork } = await import("../host/host-work.js");
  const serve = requestServer(ctx, new HostWork(), (value) => io.write(line(value) + "\n"));
  io.write(line({ serving: ownVersion() }) + "\n");
  // What the calls run, loaded before the first arrives (a server is started ahead of the run's
  // first merge): that merge's dependant does not wait for the modules to load and compile.
  void Promise.all([import("../host/protocol.js"), import("../host/host-side.js")]).catch(() => undefined);
  let buf = "";
  for await (const chunk of io.stdin) {
    buf += typeof chunk === "string" ? chunk : (chunk as Buffer).toString("utf8");
    if (buf.length > MAX_REQUEST && !buf.includes("\n")) {
      io.write(line({ id: null, ok: false, error: `a request over ${MAX_REQUEST / 1024 / 1024} MB; nothing was done` }) + "\n");
      await serve.finished();
      return 2;
    }
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (text.trim() !== "") await serve.request(text);
    }
  }
  await serve.finished();
  return 0;
}

/** Starts each request line's call (answered through `say` when it ends); `finished` once none is under way. */
function requestServer(ctx: Pick<Ctx, "home" | "cwd">, work: HostWork, say: (value: unknown) => void): { request(text: string): Promise<void>; finished(): Promise<void> } {
  const under = new Set<Promise<void>>();
  return {
    async request(text) {
      const { serveRequest } = await import("../host/protocol.js");
      let request: unknown;
      try {
        request = JSON.parse(text);
      } catch (error) {
        say({ id: null, ok: false, error: `a request that is not JSON (${(error as Error).message})` });
        return;
      }
      const parsed = serveRequest.safeParse(request);
      if (!parsed.success) {
        say({ id: null, ok: false, error: "a request without its id, command and input" });
        return;
      }
      const { id, command, input } = parsed.data;
      const call = answer(ctx, command, input, work).then(
        (output) => say({ id, ok: true, output }),
        (error: Error) => say({ id, ok: false, error: error.message }),
      );
      under.add(call);
      void call.finally(() => under.delete(call));
    },
    async finished() {
      await Promise.all(under);
    },
  };
}

/** `autorun host follow <file> <offset>`: the events file's bytes from `offset` as they are written, until stdin ends. */
export async function runHostFollow(file: string, offset: string): Promise<number> {
  if (!file.startsWith("/") || /[\0\n]/.test(file)) throw new UserError(`autorun host follow: ${JSON.stringify(file)} is not an absolute path; nothing was read.`);
  if (!/^\d{1,15}$/.test(offset)) throw new UserError(`autorun host follow: offset ${JSON.stringify(offset)} is not a byte offset (a whole number); nothing was read.`);
  const { followFile } = await import("../host/follow-side.js");
  const { FOLLOW_HEARTBEAT_MS } = await import("../host/protocol.js");
  return followFile(file, Number(offset), { out: process.stdout, stdin: process.stdin, heartbeatMs: FOLLOW_HEARTBEAT_MS });
}
