/**
 * The `Tmux` the monitor and the commands use (this machine's tmux here; a host's behind the same
 * interface), and how a session and its pane are named to tmux.
 */
import type { RunResult, runProgram } from "./exec.js";

export interface NewSession {
  name: string;
  cwd: string;
  argv: readonly string[];
  env: Record<string, string>;
  /**
   * Where the environment file goes (made 0700): a directory of the run's own, which outlives a
   * killed process. (A host's autorun picks its own: a remote tmux passes this one on to nothing.)
   */
  envDir: string;
  width?: number;
  height?: number;
  /** Keep the pane (and what the program printed) after it exits, so autorun can read why. */
  remainOnExit?: boolean;
}

/** A session's pane: running, exited (with its status, kept by remain-on-exit), or no such session. */
export type PaneStatus = { state: "running" } | { state: "exited"; status: number | undefined; signal: number | undefined } | { state: "gone" };

export interface Tmux {
  socket: string | undefined;
  newSession(spec: NewSession): Promise<void>;
  /**
   * Several sessions in as few tmux calls as its command-line limit allows, all sent at once: for
   * each, whether it was certainly made (false: its call failed or timed out, and it may or may not
   * exist).
   */
  newSessions(specs: readonly NewSession[]): Promise<boolean[]>;
  hasSession(name: string): Promise<boolean>;
  paneStatus(name: string): Promise<PaneStatus>;
  /**
   * Every session's first pane at once (one tmux call): running or exited, with its exit status.
   * `of`: the sessions asked about (across hosts, a server none of them is on is left out).
   */
  paneStatuses(of?: readonly string[]): Promise<Map<string, PaneStatus>>;
  /** False when no tmux server answers on this socket (it died, or never started). */
  serverRunning(): Promise<boolean>;
  listSessions(): Promise<string[]>;
  capturePane(name: string): Promise<string | undefined>;
  /** Several panes' screens in one tmux call (undefined for a pane that is gone). */
  capturePanes(names: readonly string[]): Promise<Map<string, string | undefined>>;
  /** The last `lines` non-empty lines a pane printed, history included (a dead pane's last words). */
  lastLines(name: string, lines: number): Promise<string[]>;
  /** The cursor's row in the visible pane (0 = top), which `capturePane`'s lines line up with. */
  cursorRow(name: string): Promise<number | undefined>;
  /** A pane's screen and its cursor's row at the same moment, in one tmux call (undefined: the pane is gone). */
  captureWithCursor(name: string): Promise<{ screen: string; row: number | undefined } | undefined>;
  sendLiteral(name: string, text: string): Promise<boolean>;
  /**
   * `text` pasted into a pane, inside bracketed-paste markers when its program asked for them (an
   * input box then takes it as one paste, and the Enter after it as a keypress, however soon).
   */
  pasteText(name: string, text: string): Promise<boolean>;
  sendEnter(name: string): Promise<boolean>;
  /** The screen and cursor row (as `captureWithCursor`), then Enter, in one tmux call; undefined: the pane is gone, nothing sent. */
  enterAfterLook(name: string): Promise<{ screen: string; row: number | undefined } | undefined>;
  killSession(name: string): Promise<boolean>;
  killServer(): Promise<void>;
  displayMessage(text: string): Promise<void>;
  attachArgv(name: string, insideTmux: boolean): string[];
  attach(name: string, insideTmux: boolean): Promise<number>;
  version(): Promise<string | undefined>;
}

/** How one `Tmux` calls tmux: on its socket, with the agent's variables unset, its arguments escaped. */
export interface TmuxCalls {
  socket: string | undefined;
  prefix: string[];
  runner: typeof runProgram;
  run(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** Several tmux commands in one invocation (`describe` stands for their arguments in errors). */
  runMany(commands: string[][], timeoutMs?: number, describe?: string): Promise<RunResult>;
  /** New sessions' commands (`queued`: sessions of the calls sent before it, which tmux may make first). */
  runSessions(specs: readonly NewSession[], commands: string[][], queued?: number): Promise<RunResult>;
  /** The tmux commands that start one session. */
  sessionCommands(spec: NewSession): string[][];
}

/** A session by its exact name (`=`: never a prefix match). */
export const target = (name: string): string => `=${name}`;
/** A session's pane by its session's exact name. */
export const pane = (name: string): string => `=${name}:`;
