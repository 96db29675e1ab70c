/** Value lists shared by the schemas and by code that must start without loading them (agents' hooks). */
export const PHASES = ["triage", "research", "create_plan", "implement", "merge"] as const;
export const ATTENTION = ["idle", "permission", "rate_limited", "review", "merge_conflict", "crashed"] as const;
export const STAGE_STATUS = ["pending", "in_progress", "merging", "completed", "failed", "blocked"] as const;
