/** A session's pane through tmux: its state, its screen (with the cursor's row), keys into it. */
import { pane, type PaneStatus, type Tmux, type TmuxCalls } from "./tmux-interface.js";

/**
 * A pane's cursor row, on a line of its own, then its screen: tmux runs one client's commands in
 * one turn of its loop, so nothing is drawn between the two.
 */
function look(name: string): string[][] {
  return [["display-message", "-p", "-t", pane(name), "#{cursor_y}"], ["capture-pane", "-p", "-t", pane(name)]];
}

function readLook(stdout: string): { screen: string; row: number | undefined } {
  const [row = "", ...screen] = stdout.split("\n");
  return { screen: screen.join("\n"), row: /^\d+$/.test(row) ? Number(row) : undefined };
}

type PaneMethods = Pick<Tmux, "paneStatus" | "paneStatuses" | "capturePanes" | "capturePane" | "lastLines" | "cursorRow" | "captureWithCursor" | "sendLiteral" | "pasteText" | "sendEnter" | "enterAfterLook">;

/** A paste buffer of this process's own: nudges of several sessions paste at once. */
let buffers = 0;

const num = (v: string | undefined) => (v && /^\d+$/.test(v) ? Number(v) : undefined);

/**
 * tmux marks a pane dead when its terminal closes and sets its exit status when it reaps the
 * program, a moment later: a dead pane with neither status nor signal is read again (up to 0.2 s),
 * so an exit is reported with its status.
 */
async function untilReaped<T>(read: () => Promise<T>, panes: (t: T) => PaneStatus[]): Promise<T> {
  let seen = await read();
  for (let tries = 0; tries < 4 && panes(seen).some((p) => p.state === "exited" && p.status === undefined && p.signal === undefined); tries++) {
    await new Promise((r) => setTimeout(r, 50));
    seen = await read();
  }
  return seen;
}

/** A session's pane: its state, its screen, keys into it. */
export function paneMethods({ run, runMany }: TmuxCalls): PaneMethods {
  return {
  async paneStatus(name) {
    return untilReaped(async () => {
      const r = await run(["display-message", "-p", "-t", pane(name), "#{pane_dead} #{pane_dead_status} #{pane_dead_signal}"]);
      if (!r.ok) return { state: "gone" };
      const [dead, status, sig] = r.stdout.trim().split(" ");
      return dead === "1" ? { state: "exited", status: num(status), signal: num(sig) } : { state: "running" };
    }, (p) => [p]);
  },
  async paneStatuses() {
    return untilReaped(async () => {
      const out = new Map<string, PaneStatus>();
      const r = await run(["list-panes", "-a", "-F", "#{session_name}\t#{pane_index}\t#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}"]);
      if (!r.ok) return out;
      for (const line of r.stdout.split("\n")) {
        const [session, , dead, status, sig] = line.split("\t");
        if (!session || out.has(session)) continue;
        out.set(session, dead === "1" ? { state: "exited", status: num(status), signal: num(sig) } : { state: "running" });
      }
      return out;
    }, (m) => [...m.values()]);
  },
  async capturePanes(names) {
    const out = new Map<string, string | undefined>();
    if (names.length === 0) return out;
    // Each screen after a marker line of its own, in one invocation: tmux prints them in order.
    const marker = (i: number) => `\u0001autorun-pane ${i}\u0001`;
    const r = await runMany(names.flatMap((name, i) => [["display-message", "-p", marker(i)], ["capture-pane", "-p", "-t", pane(name)]]));
    if (r.ok) {
      const parts = r.stdout.split(/\u0001autorun-pane (\d+)\u0001\n?/);
      for (let k = 1; k + 1 < parts.length + 1; k += 2) out.set(names[Number(parts[k])]!, (parts[k + 1] ?? "").replace(/\n$/, ""));
      if (out.size === names.length) return out;
    }
    // One pane went away meanwhile (tmux stops a command list at its first error): one by one.
    for (const name of names) out.set(name, await this.capturePane(name));
    return out;
  },
  async capturePane(name) {
    const r = await run(["capture-pane", "-p", "-t", pane(name)]);
    return r.ok ? r.stdout : undefined;
  },
  async lastLines(name, lines) {
    const r = await run(["capture-pane", "-p", "-J", "-S", "-", "-t", pane(name)]);
    if (!r.ok) return [];
    // tmux adds "Pane is dead (status 1, <date>)" under a remain-on-exit pane's output.
    return r.stdout.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "" && !/^Pane is dead \(/.test(l)).slice(-lines);
  },
  async cursorRow(name) {
    const r = await run(["display-message", "-p", "-t", pane(name), "#{cursor_y}"]);
    return r.ok && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : undefined;
  },
  async captureWithCursor(name) {
    const r = await runMany(look(name));
    return r.ok ? readLook(r.stdout) : undefined;
  },
  async sendLiteral(name, text) {
    return (await run(["send-keys", "-t", pane(name), "-l", "--", text])).ok;
  },
  async pasteText(name, text) {
    // tmux's buffers are the server's: each paste has its own, deleted as it is pasted (-d).
    const buffer = `autorun-${process.pid}-${++buffers}`;
    return (await runMany([["set-buffer", "-b", buffer, "--", text], ["paste-buffer", "-p", "-d", "-b", buffer, "-t", pane(name)]])).ok;
  },
  async sendEnter(name) {
    return (await run(["send-keys", "-t", pane(name), "Enter"])).ok;
  },
  async enterAfterLook(name) {
    // One process where a look and an Enter took two: on a busy machine each costs tens of ms.
    const r = await runMany([...look(name), ["send-keys", "-t", pane(name), "Enter"]]);
    return r.ok ? readLook(r.stdout) : undefined;
  },
  };
}
