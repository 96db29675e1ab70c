/** Value lists shared by the schemas and by code that must start without loading them (agents' hooks). */
export const PHASES = ["triage", "research", "create_plan", "implement", "merge"] as const;
/**
 * Why a stage needs a person (or is waiting on something): at its prompt after every nudge, a
 * permission dialog, the usage limit, a review, a dead session; a merge sent back to the agent
 * (`merge_conflict`, `check_failed`: validate failed on the merged result, `no_commits`) or
 * waiting on the person's checkout (`merge_waiting`: uncommitted changes to the merge's files, a
 * merge or rebase of theirs in progress); `login` (the agent is not logged in or its key is
 * refused), `question` (a menu the agent waits on: AskUserQuestion, a setup dialog), `trust`
 * (Claude Code's workspace trust dialog), `budget` (the stage or the run spent its budget: no
 * more nudges, and with `onBudget: stop` its session ended).
 */
export const ATTENTION = ["idle", "permission", "rate_limited", "review", "merge_conflict", "check_failed", "no_commits", "merge_waiting", "crashed", "host_lost", "login", "question", "trust", "budget"] as const;
/** The attention a refused merge raises, by the refusal's reason. */
export const MERGE_ATTENTION = {
  conflict: "merge_conflict",
  validate_failed: "check_failed",
  no_commits: "no_commits",
  checkout_overlap: "merge_waiting",
  dirty_root: "merge_waiting",
  wrong_branch: "merge_waiting",
  untracked_overwrite: "merge_waiting",
  guarded_files: "review",
} as const;
/** The attention values a dialog on the agent's screen raises; they clear when the screen shows the agent again. */
export const DIALOG_ATTENTION = ["permission", "login", "question", "trust"] as const;

export function isDialogAttention(a: string | null): a is (typeof DIALOG_ATTENTION)[number] {
  return (DIALOG_ATTENTION as readonly (string | null)[]).includes(a);
}
export const STAGE_STATUS = ["pending", "in_progress", "merging", "completed", "failed", "blocked"] as const;
/**
 * The Claude Code hooks a stage session reports through `autorun hook <Name>`. StopFailure (a turn
 * ended on an API error: rate limit, refused key, …) fires instead of Stop; PermissionRequest, as a
 * Bash call's permission dialog is about to show, answers it from `permissionAnswers` where that
 * gives a plain yes or no. A Claude Code that does not know a hook name ignores it.
 */
export const HOOK_EVENTS = ["Notification", "Stop", "StopFailure", "SessionStart", "SessionEnd", "UserPromptSubmit", "PermissionRequest"] as const;
