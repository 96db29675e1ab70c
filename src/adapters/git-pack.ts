/**
 * A commit sent to another repository as a pack, without `git push`: the sending side makes a thin
 * pack of what the commit has beyond one the receiving side is known to have; the receiving side
 * unpacks it, refusing it if anything it links to is missing, and points a ref at it. What a push
 * does, minus its ssh session, protocol exchange and processes: a host's server takes the pack in
 * a request line (see `RemoteHost.send`).
 */
import { lastLine, runProgram } from "./exec.js";
import { ToolError } from "../errors.js";

/** The objects of `commit` that `known` (a commit the other side has, with all it reaches) does not reach, as a thin pack. */
export async function thinPack(root: string, commit: string, known: string): Promise<Buffer> {
  const args = ["-C", root, "pack-objects", "--stdout", "--thin", "--revs", "-q"];
  const r = await runProgram("git", args, { input: `${commit}\n^${known}\n`, bytes: true, timeoutMs: 60_000 });
  if (!r.ok || !r.bytes) throw new ToolError(`git pack-objects of ${commit.slice(0, 10)} failed: ${lastLine(r.stderr) ?? `exit ${r.code}`}`, { argv: ["git", ...args], code: r.code, stderr: r.stderr, cwd: root });
  return r.bytes;
}

/**
 * Takes a pack made by `thinPack` into `root` and points `ref` at `commit`. `--strict`: an object
 * whose links lead to one that is neither in the pack nor here (a pack made against a commit this
 * repository lacks) is refused, nothing is written and the ref is left as it was.
 */
export async function takePack(root: string, pack: Buffer, to: { commit: string; ref: string }): Promise<void> {
  const steps: [string, string[], Buffer?][] = [
    ["unpack", ["unpack-objects", "-q", "--strict"], pack],
    ["ref", ["update-ref", to.ref, to.commit]],
  ];
  for (const [what, args, input] of steps) {
    const r = await runProgram("git", ["-C", root, ...args], { ...(input ? { input } : {}), timeoutMs: 60_000 });
    if (!r.ok) throw new ToolError(`could not take ${to.commit.slice(0, 10)} into ${root} (${what}): ${lastLine(r.stderr) ?? `exit ${r.code}`}`, { argv: ["git", "-C", root, ...args], code: r.code, stderr: r.stderr, cwd: root });
  }
}
