/**
 * What the controller and a host's `autorun host …` commands say to each other: one JSON object
 * on the command's stdin, one JSON object on its stdout. Both sides run the same autorun version
 * (the controller checks it first), so one schema module serves both. And where things live on a
 * host, derived from what `prepare` reports (the host's autorun home and its project root).
 */
import { join } from "node:path";
import "../types/zod-setup.js";
import * as z from "zod";

const absolute = z.string().min(1).refine((p) => p.startsWith("/") && !/[\0\n]/.test(p), "an absolute path without newlines");
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "letters, digits, . _ -");

/** `autorun host prepare`: the project root (relative: to the host user's home, where ssh starts). */
export const prepareInput = z.object({ root: z.string().min(1).refine((p) => !/[\0\n]/.test(p), "a path without newlines"), agent: z.string().min(1).optional() }).strict();
export type PrepareInput = z.infer<typeof prepareInput>;

/** `host versions`: with `root`, also whether Claude Code trusts it there (read, nothing made). */
export const versionsInput = prepareInput.partial({ root: true });

export const versionsSchema = z.object({ autorun: z.string().nullable(), git: z.string().nullable(), tmux: z.string().nullable(), agent: z.string().nullable() });
export type HostVersions = z.infer<typeof versionsSchema>;

export const prepareOutput = z.object({
  /** The project root, absolute, as it is on the host. */
  root: absolute,
  /** The host's $AUTORUN_HOME. */
  home: absolute,
  created: z.boolean(),
  versions: versionsSchema,
  /** The autorun plugin of the host's own autorun (what its sessions get as --plugin-dir). */
  plugin_dir: absolute,
  /** Claude Code's workspace trust of the root there; null when the agent is not Claude Code or its settings could not be read. */
  trusted: z.boolean().nullable(),
});
export type PrepareOutput = z.infer<typeof prepareOutput>;

/** The base branch's name, as git takes it (no option, no `..`). */
const baseBranch = z.string().min(1).refine((b) => !b.startsWith("-") && !/[\0-\x20~^:?*[\\]/.test(b) && !b.includes(".."), "a branch name");

/** `autorun host launch`: one stage's worktree, context, environment and tmux session. */
export const launchInput = z
  .object({
    root: absolute,
    /** The orchestration's directory name, and its first event as the controller wrote it. */
    orchestration: name,
    started: z.record(z.string(), z.unknown()),
    stage: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
    /** The stage's branch, made at `start` (a pushed commit) when the host does not have it yet. */
    branch: z.string().min(1).refine((b) => !b.startsWith("-") && !/[\0-\x20~^:?*[\\]/.test(b), "a branch name"),
    start: z.string().regex(/^[0-9a-f]{40,64}$/, "a commit id"),
    /** The worktree's directory name under `<root>/.claude/worktrees/`. */
    worktree: name,
    context: z.string(),
    session: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, "a tmux session name"),
    /** The tmux server's name: its socket is `<host home>/tmux/<socket>`. */
    socket: name,
    argv: z.array(z.string()).min(1),
    /** Variables for the agent beyond autorun's own (the host's `env` names, with the controller's values). */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()),
    width: z.number().int().positive().optional(),
    height: z.number().int().positive().optional(),
    /**
     * The base tip, already on the host (pushed while its merge was checked): its refs there are
     * moved to it first, as the controller's push of the base would (the base ref, and the root's
     * branch of that name unless `own_branch` is false or the root's checkout is on it).
     */
    base: z
      .object({
        branch: baseBranch,
        commit: z.string().regex(/^[0-9a-f]{40,64}$/, "a commit id"),
        own_branch: z.boolean(),
      })
      .strict()
      .optional(),
    /** The session starts in the worktree, not the root (a `--resume`: Claude Code finds a conversation by the directory it runs in). */
    in_worktree: z.boolean().optional(),
    /**
     * A stage moved here off a lost host: in the worktree just made, the files of `commit` (a
     * snapshot of its uncommitted work, pushed first) put back uncommitted, and its conversation
     * (base64) placed where Claude Code looks for it in that worktree.
     */
    restore: z
      .object({
        commit: z.string().regex(/^[0-9a-f]{40,64}$/, "a commit id"),
        transcript: z.object({ session_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/), base64: z.string() }).strict().optional(),
      })
      .strict()
      .optional(),
    /**
     * Claude Code's Bash sandbox, wanted: where this host has it, the sandbox of the stage's paths
     * here (its worktree, this root's git directory, the base branch's ref closed) goes into the
     * `--settings` of `argv`; the output says whether it did.
     */
    sandbox: z
      .object({
        domains: z.array(z.string().min(1)).max(256),
        base_branch: baseBranch,
      })
      .strict()
      .optional(),
  })
  .strict();
export type LaunchInput = z.infer<typeof launchInput>;

/** Worktrees made ahead of their stages' launch, at `commit` (already pushed there). */
export const worktreesInput = z
  .object({
    root: absolute,
    commit: z.string().regex(/^[0-9a-f]{40,64}$/, "a commit id"),
    worktrees: z.array(z.object({ worktree: name, branch: launchInput.shape.branch }).strict()).min(1).max(256),
  })
  .strict();
export type WorktreesInput = z.infer<typeof worktreesInput>;

/**
 * A commit sent as a thin pack (base64) made against a commit the host has: unpacked into the
 * root and kept under `ref` (one of autorun's own), in place of a `git push` of it.
 */
export const objectsInput = z
  .object({
    root: absolute,
    commit: z.string().regex(/^[0-9a-f]{40,64}$/, "a commit id"),
    ref: z.string().regex(/^refs\/autorun\/[A-Za-z0-9._/-]+$/, "a ref under refs/autorun/").refine((r) => !r.includes("..") && !r.endsWith("/") && !r.endsWith(".lock"), "a ref name"),
    pack: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "base64"),
  })
  .strict();
export type ObjectsInput = z.infer<typeof objectsInput>;

/** Several stages in one call: `{launches: [...]}`. */
export const launchManyInput = z.object({ launches: z.array(launchInput).min(1).max(256) }).strict();

export const launchOutput = z.object({
  worktree: absolute,
  /** The host's events file was this long when the session started: its lines for this stage from here on are this attempt's. */
  events_offset: z.number().int().nonnegative(),
  /** "made": the worktree was added at `start`; "existing": it was there (a relaunch). */
  worktree_state: z.enum(["made", "existing"]),
  /** "adopted": the session existed already (a launch repeated after an interrupted one). */
  session_state: z.enum(["started", "adopted"]),
  /** With `sandbox` asked and a `--settings` in the argument list: on, or what this host lacks for it. */
  sandbox: z.object({ on: z.boolean(), missing: z.array(z.string()) }).strict().optional(),
});
export type LaunchOutput = z.infer<typeof launchOutput>;

/**
 * `autorun host serve`: the same commands as `autorun host <command>`, one process for many
 * calls. It first prints `{"serving": <its autorun version>}`, then answers each request line with
 * one line as its call finishes (calls run side by side): `{"id", "ok": true, "output"}` or
 * `{"id", "ok": false, "error"}`.
 */
export const serveRequest = z.object({ id: z.number().int().nonnegative(), command: z.enum(["prepare", "launch", "session", "versions", "worktrees", "objects"]), input: z.unknown() }).strict();
export type ServeRequest = z.infer<typeof serveRequest>;
export const serveAnswer = z.union([
  z.object({ id: z.number().int().nonnegative().nullable(), ok: z.literal(true), output: z.unknown() }).strict(),
  z.object({ id: z.number().int().nonnegative().nullable(), ok: z.literal(false), error: z.string() }).strict(),
]);
export const serveReady = z.object({ serving: z.string() }).strict();

/** How often `autorun host follow` says it is there (`H <size>`) while nothing is written. */
export const FOLLOW_HEARTBEAT_MS = 1_000;

/** Where the stage worktrees of a project root are on a host (`claude --worktree <name>` finds them there). */
export function hostWorktree(root: string, worktreeName: string): string {
  return join(root, ".claude", "worktrees", worktreeName);
}

export function hostOrchDir(home: string, orchestration: string): string {
  return join(home, "orchestration", orchestration);
}

export function hostEventsFile(home: string, orchestration: string): string {
  return join(hostOrchDir(home, orchestration), "events.jsonl");
}

export function hostTmuxSocket(home: string, socket: string): string {
  return join(home, "tmux", socket);
}

/** What fetches a stage's branch as its host has it into this repository's branch of that name. */
export function stageBranchRefspec(branch: string): string {
  return `+refs/heads/${branch}:refs/heads/${branch}`;
}

/** The ref of a host's project root that holds the base tip the controller pushed last. */
export function hostBaseRef(baseBranch: string): string {
  return `refs/autorun/base/${baseBranch}`;
}
