import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { itNoRepo as it } from "../helpers/fixture.js";
import { createTmux } from "../../src/adapters/tmux.js";
import { verifiedNudge } from "../../src/monitor/nudge.js";
import { realClock } from "../../src/core/clock.js";
import { waitFor } from "../helpers/env.js";


describe("verified nudges on real tmux", () => {
  it("a line-mode program that prints nothing after reading: verified by the cursor moving on", async ({ sb }) => {
    const got = join(sb.dir, "got.txt");
    const script = `process.stdout.write("Shall I go on?\\n❯ "); require("readline").createInterface({ input: process.stdin }).on("line", (l) => require("fs").appendFileSync(${JSON.stringify(got)}, l + "\\n"));`;
    await sb.tmux("new-session", "-d", "-x", "80", "-y", "10", "-s", "line", "--", process.execPath, "-e", script);
    await waitFor("the prompt", async () => (await sb.tmux("capture-pane", "-p", "-t", "=line:")).stdout.includes("❯"));
    const result = await verifiedNudge(createTmux(sb.socket), "line", "continue", { clock: realClock });
    expect(result).toMatchObject({ sent: true, verified: true, attempts: 1 });
    expect(result.evidence).toContain("cursor");
    await waitFor("the line to arrive", () => existsSync(got));
    expect(readFileSync(got, "utf8")).toBe("continue\n");
  });

  it("types a message as one line of printable text: what it quotes reaches the pane as no keys", async ({ sb }) => {
    const got = join(sb.dir, "got.txt");
    const script = `process.stdout.write("Shall I go on?\\n❯ "); require("readline").createInterface({ input: process.stdin }).on("line", (l) => require("fs").appendFileSync(${JSON.stringify(got)}, JSON.stringify(l) + "\\n"));`;
    await sb.tmux("new-session", "-d", "-x", "80", "-y", "10", "-s", "quote", "--", process.execPath, "-e", script);
    await waitFor("the prompt", async () => (await sb.tmux("capture-pane", "-p", "-t", "=quote:")).stdout.includes("❯"));
    // A check's output carrying Shift+Tab, a carriage return, a tab and a bell.
    const result = await verifiedNudge(createTmux(sb.socket), "quote", "Check failed:\n  FAIL\u001b[Z\rPWN\tx\u0007 fix it", { clock: realClock });
    expect(result).toMatchObject({ sent: true, verified: true });
    await waitFor("the line to arrive", () => existsSync(got));
    expect(readFileSync(got, "utf8")).toBe(`${JSON.stringify("Check failed: FAIL PWN x fix it")}\n`);
  });

  it("pastes the text as one bracketed paste into a program that asked for it, and the Enter after it is taken at once", async ({ sb }) => {
    const got = join(sb.dir, "got.txt");
    // Like Claude Code's input: bracketed paste on; an Enter within 300 ms of a typed key is part of
    // a burst (not taken), an Enter after a paste's end marker is a keypress.
    const script = `const fs = require("fs"); process.stdin.setRawMode(true); process.stdout.write("\\x1b[?2004h"); let input = "", last = 0, pasting = false, pastedLast = false; const draw = () => process.stdout.write("\\x1b[H\\x1b[2J❯ " + input); draw();
      process.stdin.on("data", (d) => { for (const part of String(d).split(/(\\x1b\\[20[01]~)/)) { if (part === "\\x1b[200~") pasting = true; else if (part === "\\x1b[201~") { pasting = false; pastedLast = true; fs.appendFileSync(${JSON.stringify(got)}, "pasted:" + input + "\\n"); } else if (pasting) input += part; else for (const c of part) { if (c === "\\r") { if (pastedLast || Date.now() - last > 300) { fs.appendFileSync(${JSON.stringify(got)}, "submitted:" + input + "\\n"); input = ""; process.stdout.write("\\x1b[H\\x1b[2J✻ Working… (esc to interrupt)"); } } else if (c >= " ") { input += c; last = Date.now(); pastedLast = false; } } } if (input) draw(); });`;
    await sb.tmux("new-session", "-d", "-x", "80", "-y", "10", "-s", "box", "--", process.execPath, "-e", script);
    await waitFor("the prompt", async () => (await sb.tmux("capture-pane", "-p", "-t", "=box:")).stdout.includes("❯"));
    const result = await verifiedNudge(createTmux(sb.socket), "box", "carry on; check $HOME #1", { clock: realClock });
    expect(result).toMatchObject({ sent: true, verified: true, attempts: 1 });
    await waitFor("the line to arrive", () => existsSync(got) && readFileSync(got, "utf8").includes("submitted:"));
    expect(readFileSync(got, "utf8")).toBe("pasted:carry on; check $HOME #1\nsubmitted:carry on; check $HOME #1\n");
    // The paste's buffer went with it: nothing of the message is left on the server.
    expect((await sb.tmux("list-buffers", "-F", "#{buffer_name}")).stdout.trim()).toBe("");
  });

  it("a program that never takes the line: not verified, Enter retried with backoff", async ({ sb }) => {
    // Raw mode that ignores Enter entirely: the text stays in the "input".
    const script = `process.stdin.setRawMode(true); let input = ""; const draw = () => process.stdout.write("\\x1b[H\\x1b[2J❯ " + input); draw(); process.stdin.on("data", (d) => { for (const c of String(d)) if (c >= " ") input += c; draw(); });`;
    await sb.tmux("new-session", "-d", "-x", "80", "-y", "10", "-s", "deaf", "--", process.execPath, "-e", script);
    await waitFor("the prompt", async () => (await sb.tmux("capture-pane", "-p", "-t", "=deaf:")).stdout.includes("❯"));
    const result = await verifiedNudge(createTmux(sb.socket), "deaf", "continue", { clock: realClock, maxEnter: 2 });
    expect(result).toMatchObject({ sent: true, verified: false, attempts: 2 });
    expect(result.evidence).toContain("text still in input");
  });
});
