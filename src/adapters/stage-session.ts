/**
 * Is this process running inside a stage's session, and which one? A stage's agent can drop or
 * change its own environment (`env -u AUTORUN_STAGE`, `AUTORUN_STAGE=2 autorun …`) and pass any
 * flag, but it cannot change the environment its ancestors were started with: the program tmux
 * started in the stage's pane (claude) got `AUTORUN_ORCH_DIR` and `AUTORUN_STAGE` from autorun,
 * and every command the agent runs descends from it. So the identity is read from
 * `/proc/<pid>/environ` up the parent chain, the topmost ancestor that carries it winning; a
 * process's own variables count too (so an agent's command is refused even where /proc cannot be
 * read, e.g. inside the sandbox's own process namespace or on macOS).
 *
 * What this does not stop (docs/RELIABILITY.md, threat model): a process that left the chain (a
 * double fork, `setsid -f`) and dropped the variables. Without the sandbox such a command is not
 * on the allow-list, so a person is asked first; with it, the command runs where it can write
 * nothing of the run's and reach no tmux server.
 */
import { readFileSync } from "node:fs";

export interface StageSession {
  orchDir: string;
  stage: string;
  /** Where it was read: an ancestor's environment (pid), or only this process's own variables. */
  from: { pid: number } | "own environment";
}

function parentOf(pid: number, proc: string): number | undefined {
  try {
    const stat = readFileSync(`${proc}/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

function identityIn(pid: number, proc: string): { orchDir: string; stage: string } | undefined {
  let environ: string[];
  try {
    environ = readFileSync(`${proc}/${pid}/environ`, "utf8").split("\0");
  } catch {
    return undefined;
  }
  const value = (name: string) => environ.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
  const orchDir = value("AUTORUN_ORCH_DIR");
  const stage = value("AUTORUN_STAGE");
  return orchDir && stage ? { orchDir, stage } : undefined;
}

/**
 * The stage session this process runs in, or undefined for a person's terminal (or the monitor,
 * which autorun starts detached with the person's environment).
 */
export function stageSession(env: NodeJS.ProcessEnv = process.env, opts: { pid?: number; proc?: string } = {}): StageSession | undefined {
  const proc = opts.proc ?? "/proc";
  let found: StageSession | undefined;
  // Parent chains are short; the bound only guards against a cycle read mid-change.
  for (let pid: number | undefined = opts.pid ?? process.pid, steps = 0; pid !== undefined && pid > 1 && steps < 128; pid = parentOf(pid, proc), steps++) {
    const id = identityIn(pid, proc);
    if (id) found = { ...id, from: { pid } };
  }
  if (found) return found;
  if (env.AUTORUN_ORCH_DIR && env.AUTORUN_STAGE) return { orchDir: env.AUTORUN_ORCH_DIR, stage: env.AUTORUN_STAGE, from: "own environment" };
  return undefined;
}

/** Does anything say this is a stage's session (an ancestor, or either variable of its own)? */
export function inStageSession(env: NodeJS.ProcessEnv = process.env, opts: { pid?: number; proc?: string } = {}): StageSession | { orchDir?: string; stage?: string; from: "own environment" } | undefined {
  return stageSession(env, opts) ?? (env.AUTORUN_ORCH_DIR || env.AUTORUN_STAGE ? { ...(env.AUTORUN_ORCH_DIR ? { orchDir: env.AUTORUN_ORCH_DIR } : {}), ...(env.AUTORUN_STAGE ? { stage: env.AUTORUN_STAGE } : {}), from: "own environment" } : undefined);
}
