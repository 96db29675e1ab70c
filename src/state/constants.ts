/** Value lists shared by the schemas and by code that must start without loading them (agents' hooks). */
export const PHASES = ["triage", "research", "create_plan", "implement", "merge"] as const;
/**
 * Why a stage needs a person: at its prompt after every nudge, a permission dialog, the usage
 * limit, a review, a refused merge, a dead session; `login` (the agent is not logged in or its key
 * is refused), `question` (a menu the agent waits on: AskUserQuestion, a setup dialog), `trust`
 * (Claude Code's workspace trust dialog).
 */
export const ATTENTION = ["idle", "permission", "rate_limited", "review", "merge_conflict", "crashed", "login", "question", "trust"] as const;
/** The attention values a dialog on the agent's screen raises; they clear when the screen shows the agent again. */
export const DIALOG_ATTENTION = ["permission", "login", "question", "trust"] as const;
export const STAGE_STATUS = ["pending", "in_progress", "merging", "completed", "failed", "blocked"] as const;
