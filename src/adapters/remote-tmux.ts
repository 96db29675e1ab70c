/**
 * tmux on a socket file (`tmux -S <path>`), here or on another host, behind the same `Tmux`
 * interface the monitor uses for its own server: stall detection, verified nudges, messages,
 * dialogs and exit diagnostics read and type into a host's panes with the same code.
 *
 * On a host, tmux calls run in one long-lived `sh -s` there (`SshShell`, over the host's shared
 * connection): tmux's argument array arrives on its stdin as quoted positional parameters
 * (`"$@"`), so no name or text reaches a shell unquoted, and no ssh process is started per call. tmux's
 * own quirks (a final `;`, `#` in formats) are handled by `createTmux` as for a local server.
 *
 * A session's environment must be written on the host (a 0600 file that the session loads and
 * removes), so `newSession(s)` asks the host's autorun to start it (`autorun host session`),
 * with the spec as JSON on stdin. An ssh failure (exit 255: the host unreachable) is thrown,
 * never read as "no such session".
 */
import { rmSync } from "node:fs";
import { lastLine, runProgram, type RunOptions, type RunResult } from "./exec.js";
import { createTmux, type NewSession, type Tmux } from "./tmux.js";
import { quoteSh, runScript, sshArgs, type SshSettings, type SshTarget } from "./ssh.js";
import { sshShell } from "./ssh-shell.js";
import { ToolError } from "../errors.js";

type Runner = (file: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

/**
 * `tmux -u -S <path>` through `runner`; `-V` needs no server. `-u`: a client started without a
 * UTF-8 locale (an ssh command gets none) would have tmux print a tab of a format as `_`.
 */
function onSocket(path: string, runner: Runner): Runner {
  return (file, args, opts) => runner(file, file === "tmux" && args[0] !== "-V" ? ["-u", "-S", path, ...args] : args, opts);
}

/** tmux on the server whose socket is `path`, on this machine. */
export function tmuxAtPath(path: string, runner: Runner = runProgram): Tmux {
  const inner = createTmux(undefined, onSocket(path, runner) as typeof runProgram);
  return {
    ...inner,
    socket: path,
    async killServer() {
      await inner.killServer();
      rmSync(path, { force: true });
    },
    attachArgv: (name, insideTmux) => ["tmux", "-S", path, insideTmux ? "switch-client" : "attach-session", "-t", `=${name}`],
  };
}

/** Runs `file args…` on the host through its shared connection; ssh's own failure (255) throws. */
export function sshRunner(s: SshSettings, target: SshTarget): Runner {
  return async (file, args, opts = {}) => {
    const r = await runScript(s, target, 'exec "$@"', { args: [file, ...args], deadlineMs: opts.timeoutMs ?? 10_000 });
    if (r.code === 255) throw new ToolError(`ssh to host ${target.name} (${target.destination}) failed: ${lastLine(r.stderr) ?? "exit 255"}`, { argv: ["ssh", target.destination, file, ...args.slice(0, 3)], code: 255, stderr: r.stderr });
    return r;
  };
}

export interface RemoteTmuxOptions {
  /** The tmux server's socket on the host (`<host's AUTORUN_HOME>/tmux/<name>`). */
  socketPath: string;
  /** The autorun command on the host (`hosts.<name>.autorun`). */
  autorun: string;
}

/**
 * Runs `file args…` on the host in its long-lived shell (`SshShell`): no ssh process started per
 * call. ssh's own failure throws.
 */
export function shellRunner(s: SshSettings, target: SshTarget): Runner {
  const shell = sshShell(s, target);
  return (file, args, opts = {}) => shell.run(file, args, opts.timeoutMs ?? 10_000);
}

/** tmux on a host, through its shared ssh connection (one long-lived shell there for its calls). */
export function createRemoteTmux(s: SshSettings, target: SshTarget, o: RemoteTmuxOptions): Tmux {
  const run = shellRunner(s, target);
  const inner = createTmux(undefined, onSocket(o.socketPath, run) as typeof runProgram);
  const start = async (specs: readonly NewSession[]): Promise<{ made: boolean; error?: string }[]> => {
    // The environment goes inside the JSON on stdin (never on a command line), and is written to a
    // 0600 file on the host; the names alone are in errors.
    const input = JSON.stringify({ socket_path: o.socketPath, sessions: specs.map(({ envDir: _envDir, ...spec }) => spec) });
    const r = await runScript(s, target, 'printf "%s" "$2" | "$1" host session', { args: [o.autorun, input], deadlineMs: 20_000 + 2_000 * specs.length });
    if (!r.ok) throw new ToolError(`host ${target.name}: could not start tmux session ${specs.map((x) => x.name).join(", ")}: ${lastLine(r.stderr) ?? `exit ${r.code}`}`, { argv: ["ssh", target.destination, "autorun", "host", "session"], code: r.code, stderr: r.stderr });
    return (JSON.parse(r.stdout) as { sessions: { made: boolean; error?: string }[] }).sessions;
  };
  return {
    ...inner,
    socket: o.socketPath,
    async newSession(spec) {
      const [one] = await start([spec]);
      // The host's tmux error as stderr, as a local new-session's ("duplicate session: …").
      if (!one?.made) throw new ToolError(`host ${target.name}: tmux new-session ${spec.name} failed: ${one?.error ?? "no answer"}`, { argv: ["tmux", "new-session", spec.name], code: 1, stderr: one?.error ?? "" });
    },
    newSessions: async (specs) => (specs.length === 0 ? [] : (await start(specs).catch(() => specs.map(() => ({ made: false })))).map((x) => x.made)),
    async killServer() {
      await inner.killServer();
      await runScript(s, target, 'rm -f -- "$1"', { args: [o.socketPath] });
    },
    attachArgv: (name, insideTmux) => {
      // The one call that needs the terminal on stdin: the remote command is quoted for a POSIX
      // login shell, word by word; nothing in it comes from an agent. UTF-8 (-u) whatever locale
      // the host's sshd passes on: the agent's screen draws box characters.
      const remote = ["tmux", "-u", "-S", o.socketPath, "attach-session", "-t", `=${name}`].map(quoteSh);
      // From inside a local tmux too: the host's server is another server, reached over ssh.
      void insideTmux;
      return ["ssh", "-t", ...sshArgs(s, target, remote)];
    },
    async attach(name, insideTmux) {
      const argv = this.attachArgv(name, insideTmux);
      const { loadExeca } = await import("./exec.js");
      const { execa } = await loadExeca();
      const r = await execa(argv[0]!, argv.slice(1), { stdio: "inherit", reject: false });
      return r.exitCode ?? 1;
    },
  };
}
