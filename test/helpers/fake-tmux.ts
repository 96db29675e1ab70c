/**
 * A fake tmux for the monitor's decisions: each session is an agent at its prompt (what it said,
 * its input box) or a dialog drawn instead, which a keystroke answers. Every key that reaches a
 * session is recorded, so a test can say exactly what was typed where.
 */
import type { PaneStatus, Tmux } from "../../src/adapters/tmux.js";

export interface FakeAgent {
  said: string[];
  input: string;
  pane: PaneStatus;
  /** Dialogs drawn instead of the prompt, first one on screen; a digit or Enter answers it. */
  dialogs: string[];
  /** Each answer: the key and the dialog it answered. */
  answers: { key: string; dialog: string }[];
  /** Every literal text and Enter sent, in order. */
  keys: string[];
}

export function fakeTmux() {
  const sessions = new Map<string, FakeAgent>();
  const draw = (a: FakeAgent) => a.dialogs[0] ?? [...a.said.map((l) => `⏺ ${l}`), "", "╭" + "─".repeat(40) + "╮", `│ ❯ ${a.input.padEnd(37)}│`, "╰" + "─".repeat(40) + "╯", "  ? for shortcuts"].join("\n");
  const agent = (said: string): FakeAgent => ({ said: [said], input: "", pane: { state: "running" }, dialogs: [], answers: [], keys: [] });
  const capture = (name: string) => {
    const a = sessions.get(name);
    return a && a.pane.state === "running" ? draw(a) : undefined;
  };
  const tmux: Tmux = {
    socket: "fake",
    newSession: async (spec) => void sessions.set(spec.name, agent("started")),
    newSessions: async (specs) => specs.map((spec) => (sessions.set(spec.name, agent("started")), true)),
    hasSession: async (name) => sessions.has(name),
    paneStatus: async (name) => sessions.get(name)?.pane ?? { state: "gone" },
    serverRunning: async () => true,
    listSessions: async () => [...sessions.keys()],
    capturePane: async (name) => capture(name),
    paneStatuses: async () => new Map([...sessions].map(([name, a]) => [name, a.pane])),
    capturePanes: async (names) => new Map(names.map((name) => [name, capture(name)])),
    lastLines: async (name) => sessions.get(name)?.said.slice(-3) ?? [],
    cursorRow: async () => undefined,
    captureWithCursor: async (name) => {
      const screen = capture(name);
      return screen === undefined ? undefined : { screen, row: undefined };
    },
    sendLiteral: async (name, text) => {
      const a = sessions.get(name);
      if (!a) return false;
      a.keys.push(text);
      // A dialog takes a digit as its answer at once (Claude Code's menus do); other text goes nowhere.
      if (a.dialogs.length > 0) {
        if (/^\d$/.test(text)) a.answers.push({ key: text, dialog: a.dialogs.shift()! });
        return true;
      }
      a.input += text;
      return true;
    },
    pasteText: async (name, text) => {
      const a = sessions.get(name);
      if (!a) return false;
      a.keys.push(`paste:${text}`);
      // A paste answers no dialog (its menus take keys); in the input it is the text.
      if (a.dialogs.length === 0) a.input += text;
      return true;
    },
    enterAfterLook: async (name) => {
      const look = await tmux.captureWithCursor(name);
      if (look) await tmux.sendEnter(name);
      return look;
    },
    sendEnter: async (name) => {
      const a = sessions.get(name);
      if (!a) return false;
      a.keys.push("Enter");
      // Enter on a dialog takes the option under the cursor (the first).
      if (a.dialogs.length > 0) {
        a.answers.push({ key: "Enter", dialog: a.dialogs.shift()! });
        return true;
      }
      a.said.push(`> ${a.input}`);
      a.input = "";
      return true;
    },
    killSession: async (name) => sessions.delete(name),
    killServer: async () => sessions.clear(),
    displayMessage: async () => undefined,
    attachArgv: () => [],
    attach: async () => 0,
    version: async () => "3.3",
  };
  return { tmux, sessions, agent };
}
