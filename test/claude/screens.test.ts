/**
 * Every screen of the real Claude Code TUI that autorun must understand, drawn by each pinned version
 * at 200×50 (autorun's sessions) and 120×40, read by the monitor's classifier. With
 * AUTORUN_CAPTURE_SCREENS=<dir> the screens are written there too (`v2.1.332-200x50-login.txt`), to
 * become fixtures of test/unit/pane.test.ts.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { classifyPane } from "../../src/monitor/pane.js";
import { claudeEnv, claudeHome, FAKE_API_KEY, type Call, type Reply } from "../helpers/claude-api.js";
import { describeClaude, it } from "./harness.js";
import { SIZES, Tui } from "./tui.js";

/** What a screen must classify as: its kind, and the input or question when it has one. */
type Want = { kind: string | string[]; input?: string; question?: RegExp | string };

const QUESTION = "Which database should the cache use?";
const ASK = { tool: "AskUserQuestion", input: { questions: [{ question: QUESTION, header: "Database", multiSelect: false, options: [{ label: "Redis", description: "In-memory" }, { label: "PostgreSQL", description: "Already deployed" }] }] } };

// 120×40 too when capturing or checking one claude; `npm test` reads 200×50 (the fixtures hold both).
const sizes = process.env.AUTORUN_CAPTURE_SCREENS || process.env.AUTORUN_TEST_CLAUDE ? SIZES : SIZES.slice(0, 1);

describeClaude("the screens of the real Claude Code", (cc) => {
  it("are each classified as autorun needs, welcome to trust", async ({ sb, claude, expect }) => {
    const seen: { name: string; want: Want; text: string; size: string }[] = [];
    let tui!: Tui;
    const out = process.env.AUTORUN_CAPTURE_SCREENS;
    if (out) mkdirSync(out, { recursive: true });
    // Each screen at both sizes, then back at 200×50 for the next step.
    const read = async (name: string, re: RegExp, want: Want, animated = false, smaller?: Want) => {
      for (const size of sizes.length > 1 ? [...sizes, sizes[0]!] : sizes) {
        await tui.resize(size);
        const text = await tui.screen(`the ${name} screen at ${size.width}×${size.height}`, re, { animated });
        if (seen.some((s) => s.name === name && s.size === `${size.width}x${size.height}`)) continue;
        seen.push({ name, want: size === SIZES[0] ? want : (smaller ?? want), text, size: `${size.width}x${size.height}` });
        if (out) writeFileSync(join(out, `v${cc.version}-${size.width}x${size.height}-${name}.txt`), text);
      }
    };

    let reply: (call: Call) => Reply | Promise<Reply> = () => ({ blocks: [{ text: "Hello." }], done: true });
    const api = await claude((call) => reply(call));
    const env = claudeEnv(claudeHome(sb.dir, [sb.repo]), api);
    tui = await Tui.start(sb, "tui", [cc.bin, "--permission-mode", "default"], env, sb.repo);
    // (2.1.197 draws on the normal screen: shrunk, its banner is gone and the box alone reads idle.)
    await read("welcome", /for shortcuts|❯/, { kind: "welcome" }, false, { kind: ["welcome", "idle"] });
    await tui.type("hello there");
    await read("typed", /hello there/, { kind: "idle", input: "hello there" });
    await tui.keys("C-u");

    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let waiting!: () => void;
    const holding = new Promise<void>((resolve) => (waiting = resolve));
    // A turn under way (a tool already run) is what Escape interrupts: the next answer is held.
    const readme = { tool: "Read", input: { file_path: join(sb.repo, "README.md") } };
    reply = async (call) => {
      if (!call.tools.some((t) => t.name === "Read")) return { blocks: [{ text: "Reading first." }, readme] };
      waiting();
      await held;
      return { blocks: [{ text: "Too late." }], done: true };
    };
    await tui.submit("think hard");
    await holding;
    await read("busy", /esc to interrupt/, { kind: "busy" }, true);
    await tui.keys("Escape");
    await read("interrupted", /Interrupted/, { kind: "idle", input: "" });
    release();
    await tui.keys("C-u");

    reply = () => ({ blocks: [{ text: "All done here." }], done: true });
    await tui.submit("say done");
    await read("idle", /All done here/, { kind: "idle", input: "" });

    reply = (call) => (call.tools.some((t) => t.input.command === "make --version" && t.result !== undefined) ? { blocks: [{ text: "Make is there." }], done: true } : { blocks: [{ bash: "make --version", description: "Show make version" }] });
    await tui.submit("check make");
    await read("permission", /Do you want to proceed/, { kind: "permission", question: /make --version.*Do you want to proceed\?/ });
    await tui.keys("Enter");
    await tui.screen("make to have run", /Make is there/);

    reply = (call) => (call.tools.some((t) => t.name === "AskUserQuestion") ? { blocks: [{ text: "Noted." }], done: true } : { blocks: [ASK] });
    await tui.submit("ask me");
    await read("ask-user-question", /Which database/, { kind: "question", question: QUESTION });
    await tui.keys("Escape");
    await tui.screen("the menu to close", /for shortcuts|❯ *$/m);

    await tui.kill();

    // A session whose first prompt meets the API's usage limit, then one whose key is refused: the
    // error near the top of the screen, the input box at the bottom (as for a stage autorun starts).
    reply = () => ({ status: 429, error: { type: "rate_limit_error", message: "This request would exceed your account's rate limit. Please try again later." }, headers: { "retry-after": "60" } });
    // (No retries: the error is on the screen at once.)
    tui = await Tui.start(sb, "limit", [cc.bin, "--permission-mode", "default", "go on"], { ...env, CLAUDE_CODE_MAX_RETRIES: "0" }, sb.repo);
    await read("rate-limit", /429/, { kind: "rate_limited" });
    await tui.kill();
    reply = () => ({ status: 401, error: { type: "authentication_error", message: "invalid x-api-key" } });
    tui = await Tui.start(sb, "login", [cc.bin, "--permission-mode", "default", "go on"], { ...env, CLAUDE_CODE_MAX_RETRIES: "0" }, sb.repo);
    await read("login", /Invalid API key|\/login/i, { kind: "login" });
    await tui.kill();

    // A key never approved: Claude Code asks whether to use it before anything else.
    const unapproved = claudeHome(join(sb.dir, "unapproved"), [sb.repo]);
    writeFileSync(join(unapproved, ".claude.json"), JSON.stringify({ hasCompletedOnboarding: true, theme: "dark", projects: { [sb.repo]: { hasTrustDialogAccepted: true } } }));
    tui = await Tui.start(sb, "key", [cc.bin], { ...env, HOME: unapproved, ANTHROPIC_API_KEY: FAKE_API_KEY }, sb.repo);
    await read("api-key-approval", /custom API key/i, { kind: "question" });
    await tui.kill();

    // A project never trusted.
    const untrusted = claudeHome(join(sb.dir, "untrusted"), []);
    tui = await Tui.start(sb, "trust", [cc.bin], { ...env, HOME: untrusted }, sb.repo);
    await read("trust", /trust/i, { kind: "trust" });
    await tui.kill();

    for (const s of seen) {
      const got = classifyPane(s.text);
      const { question, kind, ...rest } = s.want;
      expect.soft([kind].flat(), `${s.name} at ${s.size}:\n${s.text}`).toContain(got.kind);
      expect.soft(got, `${s.name} at ${s.size}:\n${s.text}`).toMatchObject(rest);
      if (question !== undefined) expect.soft(got.kind === "permission" || got.kind === "question" ? got.question : "", `${s.name} at ${s.size}`).toMatch(question);
    }
  }, 240_000);
});
