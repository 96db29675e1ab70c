/**
 * tmux, on a configurable server socket (`tmux -L <name>`), with argument arrays only.
 *
 * One quirk matters for safety: tmux reads an argument that ends in `;` as a command separator
 * (cmd-parse.y, cmd_parse_from_arguments), so `x;` would start a new tmux command. tmux takes off
 * that `;` and, when a `\` precedes it, turns the `\` into the literal `;`: `x\;` arrives as `x;`
 * and `x\\;` as `x\;`. `tmuxArg` puts that `\` before every final `;`, so any argument passes.
 *
 * A session's environment never goes on a command line: the tmux server keeps the argv of the
 * client that started it for its whole life, and every local user can read argv (`ps -eo args`),
 * as they can `#{pane_start_command}` through the socket's owner. See `session-env.ts`.
 */
import { expectOk, loadExeca, runProgram, type RunResult } from "./exec.js";
import { writeSessionEnv, sessionProgram } from "./session-env.js";
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { pane, target, type NewSession, type Tmux, type TmuxCalls } from "./tmux-interface.js";
import { paneMethods } from "./tmux-pane.js";

export type { NewSession, PaneStatus, Tmux } from "./tmux-interface.js";

/**
 * tmux expands formats in some arguments (`display-message`'s text, `-F`, `new-session -c`, which
 * is why sessions `cd` themselves): `#(touch x)` would run a command. `##` is tmux's escape for a
 * literal `#` (format.c), so every `#` is doubled.
 */
function tmuxFormatLiteral(text: string): string {
  return text.replace(/#/g, "##");
}

export function tmuxArg(arg: string): string {
  return arg.endsWith(";") ? `${arg.slice(0, -1)}\\;` : arg;
}

/** Variables Claude Code sets in its own sessions; a nested claude refuses to start with them. */
const CLAUDE_ENV_PREFIXES = ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"];

/**
 * tmux refuses a command line longer than 16 KiB ("command too long"): the commands of several
 * sessions go in as few invocations as fit under that, each session's commands whole.
 */
export function commandBatches(sessions: string[][][], limit = 15_000): string[][][][] {
  const batches: string[][][][] = [];
  let size = limit;
  for (const commands of sessions) {
    const bytes = commands.flat().reduce((n, arg) => n + Buffer.byteLength(arg) + 2, 0);
    if (size + bytes > limit) {
      batches.push([]);
      size = 0;
    }
    batches.at(-1)!.push(commands);
    size += bytes;
  }
  return batches;
}

/** Where `tmux -L <name>` keeps its socket. */
export function socketPath(socket: string): string {
  return join(process.env.TMUX_TMPDIR || "/tmp", `tmux-${process.getuid?.() ?? 0}`, socket);
}

/**
 * Whether `$TMUX` (`<socket path>,<pid>,<session>`) names autorun's own server: only then can a
 * client switch to a stage's session; from another server's session it attaches (nested).
 */
export function onOurServer(socket: string | undefined, envTmux: string | undefined): boolean {
  const theirs = envTmux?.split(",")[0];
  return theirs !== undefined && theirs !== "" && resolve(theirs) === socketPath(socket ?? "default");
}

/**
 * The pane this process runs in (from `$TMUX_PANE`, on the server `$TMUX` names): its session and
 * the pid of the program tmux started in it. undefined outside tmux.
 */
export async function ownPane(env: NodeJS.ProcessEnv = process.env, runner: typeof runProgram = runProgram): Promise<{ session: string; pid: number } | undefined> {
  const pane = env.TMUX_PANE;
  if (!env.TMUX || !pane || !/^%\d+$/.test(pane)) return undefined;
  const r = await runner("tmux", ["display-message", "-p", "-t", pane, "#{pane_pid} #{session_name}"], { timeoutMs: 5_000, env: { TMUX: env.TMUX } });
  const m = r.ok ? /^(\d+) (.+)$/.exec(r.stdout.trim()) : null;
  return m ? { pid: Number(m[1]), session: m[2]! } : undefined;
}

function tmuxCalls(socket: string | undefined, runner: typeof runProgram): TmuxCalls {
  const prefix = socket ? ["-L", socket] : [];
  // Without -L, tmux talks to the server `$TMUX` names: from a session of another server, autorun
  // would look for its sessions there. Its server is the default one, wherever it is called from.
  const unsetEnv = [...Object.keys(process.env).filter((k) => CLAUDE_ENV_PREFIXES.some((p) => k.startsWith(p))), ...(socket ? [] : ["TMUX"])];
  const run = (args: string[], timeoutMs = 10_000): Promise<RunResult> => runMany([args], timeoutMs);
  // Several tmux commands in one invocation, separated by a bare ";"; every argument is escaped.
  // `describe` stands for the arguments in errors when they carry a session's environment.
  const runMany = (commands: string[][], timeoutMs = 10_000, describe?: string): Promise<RunResult> =>
    runner("tmux", [...prefix, ...commands.flatMap((c, i) => [...(i > 0 ? [";"] : []), ...c.map(tmuxArg)])], { timeoutMs, unsetEnv, ...(describe ? { describe } : {}) });
  /**
   * New sessions' commands: the names only in errors, never the environment given to their
   * programs. `queued`: sessions of the calls sent with this one before it, which tmux may make first.
   */
  const runSessions = (specs: readonly NewSession[], commands: string[][], queued = 0): Promise<RunResult> =>
    // A busy machine (agents booting) can keep the server from making sessions for a while.
    runMany(commands, 10_000 + 2_000 * (queued + specs.length), `tmux new-session ${specs.map((s) => s.name).join(", ")}`);
  /** The tmux commands that start one session. */
  const sessionCommands = (spec: NewSession): string[][] => {
    const size = ["-x", String(spec.width ?? 200), "-y", String(spec.height ?? 50)];
    // The variables go through a 0600 file and the directory to `cd` (session-env.ts): neither is
    // on tmux's command line nor format-expanded. Claude Code's own variables are unset even when
    // the tmux server already holds them.
    const envFile = writeSessionEnv(spec.envDir, spec.name, spec.env, [...CLAUDE_ENV_PREFIXES, ...unsetEnv]);
    const program = ["--", ...sessionProgram(envFile, spec.cwd, spec.argv)];
    // With remain-on-exit the option must hold before the program can exit, however fast. It is
    // set by the next command of the same invocation: tmux runs one client's commands one after
    // another in a single turn of its event loop, and only looks at a child's exit (SIGCHLD, the
    // pty closing) on a later turn. (Starting the session on a placeholder and respawning the pane
    // with the program costs a second process and pty per session: ~10 ms each while agents boot.)
    const start = ["new-session", "-d", ...size, "-s", spec.name, ...program];
    return spec.remainOnExit ? [start, ["set-option", "-t", pane(spec.name), "remain-on-exit", "on"]] : [start];
  };

  return { socket, prefix, runner, run, runMany, runSessions, sessionCommands };
}

/** `runner` runs tmux (injected in tests, which check the exact argument lists). */
export function createTmux(socket?: string, runner: typeof runProgram = runProgram): Tmux {
  const c = tmuxCalls(socket, runner);
  return { socket, ...sessionMethods(c), ...paneMethods(c) };
}

type SessionMethods = Pick<Tmux, "newSession" | "newSessions" | "hasSession" | "serverRunning" | "listSessions" | "killSession" | "killServer" | "displayMessage" | "attachArgv" | "attach" | "version">;

/** The server and its sessions. */
function sessionMethods({ socket, prefix, runner, run, runSessions, sessionCommands }: TmuxCalls): SessionMethods {
  return {
  async newSession(spec) {
    const commands = sessionCommands(spec);
    expectOk("tmux", [`new-session ${spec.name}`], await runSessions([spec], commands), `tmux new-session ${spec.name}`);
  },
  async newSessions(specs) {
    // Every call at once: tmux takes them one after another, and no call waits for its client
    // process to start while the agents of the calls before it boot.
    let queued = 0;
    const calls = commandBatches(specs.map(sessionCommands)).map((batch) => {
      const mine = specs.slice(queued, queued + batch.length);
      const made = runSessions(mine, batch.flat(), queued).then((r) => r.ok, () => false);
      queued += batch.length;
      return made.then((ok) => mine.map(() => ok));
    });
    return (await Promise.all(calls)).flat();
  },
  async hasSession(name) {
    return (await run(["has-session", "-t", target(name)])).ok;
  },
  async serverRunning() {
    const r = await run(["list-sessions", "-F", "#{session_name}"]);
    return r.ok || !/no server running|error connecting|No such file or directory/i.test(r.stderr);
  },
  async listSessions() {
    const r = await run(["list-sessions", "-F", "#{session_name}"]);
    return r.ok ? r.stdout.split("\n").filter(Boolean) : [];
  },
  async killSession(name) {
    return (await run(["kill-session", "-t", target(name)])).ok;
  },
  async killServer() {
    await run(["kill-server"]);
    // tmux leaves a named server's socket file behind; a private server's is ours to remove.
    if (socket) rmSync(socketPath(socket), { force: true });
  },
  async displayMessage(text) {
    const clients = await run(["list-clients", "-F", "#{client_name}"]);
    if (!clients.ok) return;
    for (const client of clients.stdout.split("\n").filter(Boolean)) {
      await run(["display-message", "-c", client, "-d", "5000", "--", tmuxFormatLiteral(text)]);
    }
  },
  attachArgv(name, insideTmux) {
    return ["tmux", ...prefix, insideTmux ? "switch-client" : "attach-session", "-t", target(name)];
  },
  async attach(name, insideTmux) {
    const argv = this.attachArgv(name, insideTmux);
    // Attaching from inside another server's session nests it, which tmux refuses while $TMUX is set.
    const env = { ...process.env };
    if (!insideTmux) delete env.TMUX;
    const { execa } = await loadExeca();
    const r = await execa(argv[0]!, argv.slice(1), { stdio: "inherit", reject: false, env, extendEnv: false });
    return r.exitCode ?? 1;
  },
  async version() {
    const r = await runner("tmux", ["-V"]).catch(() => undefined);
    return r?.ok ? r.stdout.trim() : undefined;
  },
  };
}
