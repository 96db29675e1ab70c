/**
 * Keeping a copy of a host's stages' work on the controller, one ssh call for several stages: on
 * the host, each stage's uncommitted work is made a commit (a snapshot) with a temporary index —
 * the agent's own index and working tree are never touched — whose first parent is the worktree's
 * HEAD, stored under `refs/autorun/snapshot/<orchestration>/<stage>` there; and its transcript's
 * bytes from an offset are printed. The caller then fetches the snapshot refs in one `git fetch`.
 *
 * Every path and name travels as a positional argument of the script (`runScript`), never inside
 * its text.
 */
import { runScript, type SshSettings, type SshTarget } from "../adapters/ssh.js";
import { lastLine } from "../adapters/exec.js";

/**
 * $1: 1 to add ignored files too (not those under dependency or build directories: at most 2000,
 * each at most 10 MiB; for the notes a cleanup brings back); then per stage five arguments: the
 * worktree, the ref to store the snapshot in, the transcript (absolute, or relative to Claude
 * Code's projects directory there), the offset to read it from, at most how many bytes.
 * Prints per stage one line `<snapshot or -> <transcript size or -1> <n>`, then n bytes of it.
 */
export const KEEP_SCRIPT = `notes=$1; shift
export GIT_AUTHOR_NAME=autorun GIT_AUTHOR_EMAIL=autorun@localhost GIT_COMMITTER_NAME=autorun GIT_COMMITTER_EMAIL=autorun@localhost GIT_LITERAL_PATHSPECS=1 GIT_OPTIONAL_LOCKS=0
tmp=$(mktemp -d) || exit 5
trap 'rm -rf "$tmp"' EXIT
while [ $# -ge 5 ]; do
  wt=$1 ref=$2 tr=$3 off=$4 max=$5; shift 5
  snap=$( cd -- "$wt" 2>/dev/null || exit 1
    tip=$(git rev-parse --verify -q HEAD) || exit 1
    real=$(git rev-parse --git-path index) || exit 1
    export GIT_INDEX_FILE="$tmp/index"
    rm -f "$GIT_INDEX_FILE"
    cp -- "$real" "$GIT_INDEX_FILE" 2>/dev/null || git read-tree HEAD || exit 1
    git add -A >/dev/null 2>&1 || exit 1
    if [ "$notes" = 1 ]; then
      git ls-files -z --others --ignored --exclude-standard \\
        | grep -zvE '(^|/)(node_modules|\\.git|dist|target|\\.venv|venv|__pycache__|\\.pytest_cache|\\.mypy_cache|\\.ruff_cache|\\.tox|\\.gradle|\\.next|\\.nuxt|\\.turbo|\\.parcel-cache|\\.cache|\\.terraform|coverage|\\.nyc_output)/' \\
        | head -z -n 2000 \\
        | xargs -0 -r sh -c 'for f; do [ -f "$f" ] && [ ! -L "$f" ] && [ "$(wc -c < "$f")" -le 10485760 ] && printf "%s\\0" "$f"; done; :' sh \\
        | git add -f --pathspec-from-file=- --pathspec-file-nul >/dev/null 2>&1
    fi
    tree=$(git write-tree) || exit 1
    c=$(git commit-tree "$tree" -p "$tip" -m "autorun: the uncommitted work of a stage") || exit 1
    git update-ref "$ref" "$c" || exit 1
    printf '%s' "$c" ) || snap=-
  [ -n "$snap" ] || snap=-
  case $tr in "") ;; /*) ;; *) tr="\${CLAUDE_CONFIG_DIR:-$HOME/.claude}/projects/$tr";; esac
  size=-1; n=0
  rm -f "$tmp/t"
  if [ -n "$tr" ] && [ -f "$tr" ]; then
    size=$(wc -c < "$tr" | tr -d ' ')
    if [ "$size" -gt "$off" ]; then tail -c +"$((off + 1))" -- "$tr" | head -c "$max" > "$tmp/t"; n=$(wc -c < "$tmp/t" | tr -d ' '); fi
  fi
  printf '%s %s %s\\n' "$snap" "$size" "$n"
  [ "$n" -gt 0 ] && cat -- "$tmp/t"
done
exit 0`;

export interface KeepRequest {
  /** The stage's worktree on the host. */
  worktree: string;
  /** Where the snapshot goes there (`refs/autorun/snapshot/...`). */
  ref: string;
  /** The transcript: absolute, or relative to Claude Code's projects directory there; "" for none. */
  transcript: string;
  /** Its bytes from here. */
  offset: number;
  maxBytes: number;
}

export interface KeepAnswer {
  /** The snapshot commit (its first parent: the worktree's HEAD), or undefined when none could be made. */
  snapshot?: string;
  /** The transcript's size there (-1: not there), and its bytes from the offset (at most maxBytes). */
  transcriptSize: number;
  bytes: Buffer;
}

/** Snapshots (and transcript bytes) of several stages in one call; `notes`: ignored files too. */
export async function keepOnHost(s: SshSettings, target: SshTarget, requests: readonly KeepRequest[], opts: { notes?: boolean; deadlineMs?: number } = {}): Promise<KeepAnswer[]> {
  const args = [opts.notes ? "1" : "0"];
  for (const r of requests) args.push(r.worktree, r.ref, r.transcript, String(r.offset), String(r.maxBytes));
  const r = await runScript(s, target, KEEP_SCRIPT, { args, deadlineMs: opts.deadlineMs ?? 30_000 });
  if (!r.ok) throw new Error(`host ${target.name}: keeping its stages' work failed: ${lastLine(r.stderr) ?? `exit ${r.code}`}`);
  return parseKeep(r.bytes, requests.length);
}

/** The script's output: per stage a header line, then that many bytes. */
export function parseKeep(out: Buffer, count: number): KeepAnswer[] {
  const answers: KeepAnswer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const nl = out.indexOf(0x0a, at);
    if (nl < 0) throw new Error(`the host's answer ends after ${i} of ${count} stages`);
    const m = /^(-|[0-9a-f]{40,64}) (-1|\d+) (\d+)$/.exec(out.subarray(at, nl).toString("utf8"));
    if (!m) throw new Error(`the host's answer for stage ${i + 1} is not understood`);
    const n = Number(m[3]);
    if (nl + 1 + n > out.length) throw new Error(`the host's answer for stage ${i + 1} is cut short`);
    answers.push({ ...(m[1] !== "-" ? { snapshot: m[1] } : {}), transcriptSize: Number(m[2]), bytes: out.subarray(nl + 1, nl + 1 + n) });
    at = nl + 1 + n;
  }
  return answers;
}
