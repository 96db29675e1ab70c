/**
 * A scripted stand-in for the Anthropic Messages API, for running the real Claude Code CLI with no
 * model and no network: `autorun doctor --claude` drives the person's claude against it, and the
 * real-client test lane drives the pinned versions.
 *
 * `startApi(script)` serves `POST /v1/messages` on 127.0.0.1, or the address it is given
 * (streaming SSE and plain JSON, the way the real API answers), `claudeHome()` seeds a temp HOME
 * the way a person's machine looks after the first-run setup (onboarding done, the API key
 * approved, the project trusted).
 *
 * A script sees each main-conversation request as a `Call` (the stage, the working directory, the
 * tools already used with their results, the person's and the monitor's messages) and answers with
 * the assistant's next turn: text and tool calls, or an API error. Side requests Claude Code makes
 * on its own (session titles and the like, sent without tools) get a short text.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";

export const FAKE_API_KEY = "sk-ant-api03-autorun-test-key-not-a-real-one-000000000000-AAAAAAAA";

export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** A HOME as a person's looks after Claude Code's first run: onboarding done, key approved, projects trusted. */
export function claudeHome(dir: string, trusted: string[]): string {
  const home = join(dir, "claude-home");
  mkdirSync(join(home, ".claude"), { recursive: true });
  mkdirSync(join(home, "tmp"), { recursive: true });
  const projects: Record<string, unknown> = {};
  for (const p of trusted) projects[p] = { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true, allowedTools: [] };
  writeFileSync(
    join(home, ".claude.json"),
    JSON.stringify({
      hasCompletedOnboarding: true,
      theme: "dark",
      customApiKeyResponses: { approved: [FAKE_API_KEY.slice(-20)], rejected: [] },
      projects,
    }),
  );
  return home;
}

/**
 * The environment a stage's claude needs on top of the sandbox's: the stand-in, the key, the seeded
 * HOME, and a TMPDIR inside it (Claude Code leaves directories of its own there, which go with it).
 */
export function claudeEnv(home: string, api: Api): Record<string, string> {
  return {
    HOME: home,
    TMPDIR: join(home, "tmp"),
    ANTHROPIC_BASE_URL: api.url,
    ANTHROPIC_API_KEY: FAKE_API_KEY,
    DISABLE_AUTOUPDATER: "1",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    DISABLE_TELEMETRY: "1",
  };
}

export interface ToolUse {
  name: string;
  input: Record<string, unknown>;
  /** The tool's result text, once Claude Code has sent it back. */
  result?: string;
  isError?: boolean;
}

export interface Call {
  /** AUTORUN_STAGE as the session reports it (from the context file path in the first prompt). */
  stage: string;
  /** "Primary working directory" from the system prompt: the stage's worktree. */
  cwd: string;
  /** Every tool the assistant used in this conversation, in order, with results. */
  tools: ToolUse[];
  /** Text the user side typed (the first prompt, the monitor's nudges and messages), in order. */
  userTexts: string[];
  /** The last user text and the tools used since it. */
  lastText: string;
  toolsSinceLastText: ToolUse[];
  body: Record<string, unknown>;
}

export type Block = { text: string } | { bash: string; description?: string } | { write: string; content: string } | { tool: string; input: Record<string, unknown> };
export type Reply = { blocks: Block[]; done?: boolean } | { status: number; error: { type: string; message: string }; headers?: Record<string, string> };
export type Script = (call: Call) => Reply | Promise<Reply>;

export interface Api {
  url: string;
  /** Every main-conversation call so far. */
  calls: Call[];
  close(): Promise<void>;
}

type Message = { role: string; content: string | Array<Record<string, unknown>> };

function textOf(content: Message["content"]): string[] {
  if (typeof content === "string") return [content];
  return content.filter((c) => c.type === "text").map((c) => String(c.text));
}

/** What the conversation so far says, for the script. */
export function readCall(body: Record<string, unknown>): Call {
  const messages = (body.messages ?? []) as Message[];
  // In the system prompt, or (2.1.332) in a message of the system role.
  const system = JSON.stringify([body.system ?? "", messages.filter((m) => m.role === "system")]);
  const cwd = /Primary working directory: ([^\\"]+)/.exec(system)?.[1] ?? "";
  const tools: ToolUse[] = [];
  const byId = new Map<string, ToolUse>();
  const userTexts: string[] = [];
  let toolsSinceLastText: ToolUse[] = [];
  for (const m of messages) {
    if (m.role === "assistant" && Array.isArray(m.content)) {
      for (const c of m.content) {
        if (c.type !== "tool_use") continue;
        const use: ToolUse = { name: String(c.name), input: (c.input ?? {}) as Record<string, unknown> };
        tools.push(use);
        toolsSinceLastText.push(use);
        byId.set(String(c.id), use);
      }
    } else if (m.role === "user") {
      if (Array.isArray(m.content)) {
        for (const c of m.content) {
          if (c.type !== "tool_result") continue;
          const use = byId.get(String(c.tool_use_id));
          if (!use) continue;
          use.result = typeof c.content === "string" ? c.content : JSON.stringify(c.content);
          use.isError = c.is_error === true;
        }
      }
      // Claude Code's own context (reminders, the date) comes as user text too; what a person or the
      // monitor typed is the rest.
      const typed = textOf(m.content).filter((t) => !t.startsWith("<system-reminder>") && !t.startsWith("<local-command") && !t.startsWith("Caveat:"));
      if (typed.length > 0) {
        userTexts.push(typed.join("\n"));
        toolsSinceLastText = [];
      }
    }
  }
  const all = userTexts.join("\n");
  const stage = /stages\/stage-(.+?)-context\.md/.exec(all)?.[1] ?? "";
  return { stage, cwd, tools, userTexts, lastText: userTexts[userTexts.length - 1] ?? "", toolsSinceLastText, body };
}

let ids = 0;

function sendSse(res: ServerResponse, model: string, blocks: Block[], done: boolean): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "request-id": `req_${++ids}` });
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const usage = { input_tokens: 1200, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 800 };
  send("message_start", { type: "message_start", message: { id: `msg_${ids}`, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage } });
  let toolUsed = false;
  blocks.forEach((b, index) => {
    if ("text" in b) {
      send("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
      send("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: b.text } });
    } else {
      toolUsed = true;
      const [name, input] =
        "bash" in b ? ["Bash", { command: b.bash, description: b.description ?? b.bash }] : "write" in b ? ["Write", { file_path: b.write, content: b.content }] : [b.tool, b.input];
      send("content_block_start", { type: "content_block_start", index, content_block: { type: "tool_use", id: `toolu_${ids}_${index}`, name, input: {} } });
      send("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: JSON.stringify(input) } });
    }
    send("content_block_stop", { type: "content_block_stop", index });
  });
  const stop = toolUsed && !done ? "tool_use" : "end_turn";
  send("message_delta", { type: "message_delta", delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 40 } });
  send("message_stop", { type: "message_stop" });
  res.end();
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", "request-id": `req_${++ids}`, ...headers });
  res.end(JSON.stringify(body));
}

/**
 * Serves the stand-in on `host` (127.0.0.1 unless told: a test whose claude runs in another network
 * namespace gives an address of this machine that it can reach), on a free port.
 */
export async function startApi(script: Script, host = "127.0.0.1"): Promise<Api> {
  const calls: Call[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (raw += chunk));
    req.on("end", () => {
      void (async () => {
        const path = (req.url ?? "").split("?")[0];
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw || "{}") as Record<string, unknown>;
        } catch {
          return sendJson(res, 400, { type: "error", error: { type: "invalid_request_error", message: "bad json" } });
        }
        if (path === "/v1/messages/count_tokens") return sendJson(res, 200, { input_tokens: 1000 });
        if (path !== "/v1/messages") return sendJson(res, 404, { type: "error", error: { type: "not_found_error", message: `no ${path} here` } });
        const model = String(body.model ?? "claude-sonnet-4-5");
        const tools = (body.tools ?? []) as unknown[];
        let reply: Reply;
        if (tools.length === 0) {
          // A side request (a session title, a summary): a short answer.
          reply = { blocks: [{ text: "Stage work" }], done: true };
        } else {
          const call = readCall(body);
          calls.push(call);
          try {
            reply = await script(call);
          } catch (error) {
            reply = { status: 500, error: { type: "api_error", message: `script failed: ${(error as Error).message}` } };
          }
        }
        if ("status" in reply) return sendJson(res, reply.status, { type: "error", error: reply.error }, reply.headers);
        if (body.stream === true) return sendSse(res, model, reply.blocks, reply.done ?? false);
        const content = reply.blocks.map((b) => ("text" in b ? { type: "text", text: b.text } : { type: "text", text: "" }));
        return sendJson(res, 200, { id: `msg_${ids}`, type: "message", role: "assistant", model, content, stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 10, output_tokens: 5 } });
      })();
    });
  });
  // Claude Code keeps its connection open between turns: a socket the server closed after Node's
  // default 5 s idle, reused by claude at that moment, resets its next request (ECONNRESET).
  server.keepAliveTimeout = 10 * 60_000;
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
