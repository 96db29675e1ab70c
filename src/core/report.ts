/** The final report: per stage status, attempts, nudges, duration, merge commit; waves; failures; rollback. Pure. */
import { compareIds } from "./ids.js";
import type { AutorunEvent, Status, Usage } from "../types/schemas.js";
import { addUsage, formatCost } from "./usage.js";
import { eventText, stageState } from "./words.js";
import { formatDuration, hostCell, triesUsed, usesHosts } from "./stage-cells.js";

export interface Report {
  plan_name: string;
  status: Status["status"];
  project_root: string;
  base_branch: string;
  created_at: string;
  completed_at: string | null;
  duration_seconds: number | null;
  stages: {
    id: string;
    name: string;
    status: string;
    attempts: number;
    /** The sessions that count against its attempts since its last retry (status's TRIES). */
    tries: number;
    /** The plan's cap on them (`Max attempts:`); null: none. */
    max_attempts: number | null;
    /** How often a person retried it. */
    retries: number;
    nudges: number;
    duration_seconds: number | null;
    merge_commit: string | null;
    /** Whether `validate` passed on the merge commit itself (null: no validate, or not merged). */
    validated: boolean | null;
    failure_reason: string | null;
    /** The stage's plan and the notes its agent left uncommitted, kept when its worktree went. */
    plan_file: string | null;
    kept_files: string | null;
    /** What the kept files left out, each with why. */
    kept_dropped: string[];
    /** Tokens and USD from the agent's transcripts; null for an agent that reports none. */
    usage: Usage | null;
    /** The model it ran with last when not the configured one (the plan's, or an escalation's). */
    model: string | null;
    /** Done before the run (the plan said so): never launched. */
    done_in_plan: boolean;
    /** Completed without autorun's merge: merged by a person (`person`), or `skipped`. */
    finished_by: "person" | "skipped" | null;
    /** What the person who finished or skipped it said (or what was found). */
    finished_note: string | null;
    /** The stage's state in the words `status` and the dashboard use (`merged`, `failed`, `implementing 2/3`). */
    state: string;
    /** The host it ran on last (`local`: this machine), when the run uses other hosts; else null. */
    host: string | null;
  }[];
  /** What the run controls did: escalations, budgets crossed and raised, the circuit breaker. */
  controls: { at: string; stage: string | null; what: string }[];
  /** Sum over the stages that report usage; null when none does. */
  usage: Usage | null;
  waves: { wave: number; stages: string[]; started_at: string | null; completed_at: string | null; duration_seconds: number | null }[];
  failures: { stage: string; reason: string }[];
  /** Rules added to the project's own `.claude/settings.local.json` during the run (absent: not known). */
  project_rules_added?: string[];
}

// Whole seconds, cut as the status table cuts them, so the two never differ by one.
const secs = (a: string | null, b: string | null): number | null => (a && b ? Math.max(0, Math.floor((Date.parse(b) - Date.parse(a)) / 1000)) : null);

/** Seconds as people read them (the same words as `status`), or a dash when unknown. */
export function human(seconds: number | null): string {
  return seconds === null ? "—" : formatDuration(seconds * 1000);
}

/** The merges of a stage refused for what it handed over, in words: "its checks failed on 3 merges". */
const REFUSED: Readonly<Record<string, string>> = { validate_failed: "its checks failed on", conflict: "its branch conflicted with the base on" };

/** What a person did next about a failed stage, in words; undefined: nothing yet (it is failed now). */
const AFTER_FAILURE: Readonly<Record<string, (now: string) => string>> = {
  stage_retried: (now) => `then retried; now ${now}`,
  stage_skipped: () => "then skipped by a person",
  stage_done_by_person: () => "then marked done by a person",
};

/**
 * What failed: each failure a person then dealt with (retried, saying how that ended; skipped or
 * marked done: the run went on without that stage's work passing), the merges refused of a stage a
 * person then skipped or marked done, then what is failed (or blocked) now, stage by stage.
 */
function failuresOf(events: readonly AutorunEvent[], stages: readonly { id: string; failure_reason: string | null; state: string; finished_by: string | null }[]): { stage: string; reason: string }[] {
  const out: { stage: string; reason: string; at: number }[] = [];
  events.forEach((e, i) => {
    if (e.type !== "stage_failed" || e.stage === undefined) return;
    const next = events.slice(i + 1).find((x) => x.stage === e.stage && x.type in AFTER_FAILURE);
    const now = stages.find((s) => s.id === e.stage);
    if (next) out.push({ stage: e.stage, reason: `${e.reason} (${AFTER_FAILURE[next.type]!(now?.state ?? "unknown")})`, at: i });
  });
  for (const s of stages.filter((x) => x.finished_by)) {
    for (const [kind, what] of Object.entries(REFUSED)) {
      const n = events.filter((e) => e.type === "merge_conflict" && e.stage === s.id && e.reason === kind).length;
      if (n > 0) out.push({ stage: s.id, reason: `${what} ${n === 1 ? "its merge" : `${n} merges`} (then ${s.finished_by === "skipped" ? "skipped" : "marked done"} by a person)`, at: -1 });
    }
  }
  for (const s of stages) if (s.failure_reason) out.push({ stage: s.id, reason: s.failure_reason, at: Infinity });
  return out.sort((a, b) => compareIds(a.stage, b.stage) || a.at - b.at).map(({ stage, reason }) => ({ stage, reason }));
}

export function buildReport(status: Status, events: readonly AutorunEvent[]): Report {
  const waveTimes = new Map<number, { started_at: string | null; completed_at: string | null }>();
  for (const e of events) {
    if (e.type === "wave_started") waveTimes.set(e.wave, { started_at: e.ts, completed_at: waveTimes.get(e.wave)?.completed_at ?? null });
    if (e.type === "wave_complete") waveTimes.set(e.wave, { started_at: waveTimes.get(e.wave)?.started_at ?? null, completed_at: e.ts });
  }
  const finishedNotes = new Map<string, string>();
  for (const e of events) if ((e.type === "stage_done_by_person" || e.type === "stage_skipped") && e.stage !== undefined) finishedNotes.set(e.stage, e.type === "stage_skipped" ? e.reason : eventText(e));
  const hosts = usesHosts(status.stages);
  const stages = Object.entries(status.stages)
    .sort(([a], [b]) => compareIds(a, b))
    .map(([id, s]) => ({
      id,
      name: s.name,
      status: s.status,
      attempts: s.attempts,
      tries: triesUsed(s),
      max_attempts: s.settings.max_attempts ?? null,
      retries: s.retries,
      nudges: s.nudges,
      duration_seconds: secs(s.started_at, s.completed_at),
      merge_commit: s.merge_commit,
      validated: s.merge_validated,
      failure_reason: s.failure_reason,
      plan_file: s.plan_file,
      kept_files: s.kept_files,
      kept_dropped: s.kept_dropped,
      usage: s.usage,
      model: s.model,
      done_in_plan: s.done_in_plan,
      finished_by: s.finished_by,
      finished_note: finishedNotes.get(id) ?? null,
      state: stageState(s),
      host: hosts ? hostCell(s) : null,
    }));
  const controls = events
    .filter((e) => CONTROL_EVENTS.has(e.type))
    .map((e) => ({ at: e.ts, stage: e.stage ?? null, what: eventText(e) }));
  const used = stages.map((s) => s.usage).filter((u): u is Usage => u !== null);
  return {
    plan_name: status.plan_name,
    status: status.status,
    project_root: status.project_root,
    base_branch: status.base_branch,
    created_at: status.created_at,
    completed_at: status.completed_at,
    duration_seconds: secs(status.created_at, status.completed_at),
    stages,
    waves: status.waves.map((ids, i) => {
      const t = waveTimes.get(i + 1) ?? { started_at: null, completed_at: null };
      return { wave: i + 1, stages: ids, ...t, duration_seconds: secs(t.started_at, t.completed_at) };
    }),
    failures: failuresOf(events, stages),
    usage: used.length > 0 ? used.reduce((a, b) => addUsage(a, b)) : null,
    controls,
  };
}

const CONTROL_EVENTS = new Set(["stage_escalated", "budget_exceeded", "budget_raised", "circuit_open", "circuit_closed"]);

export function renderReportMarkdown(r: Report): string {
  const hosts = r.stages.some((s) => s.host !== null);
  const out = [
    `# autorun report: ${r.plan_name}`,
    "",
    `Status: **${r.status}**. Project ${r.project_root}, base branch \`${r.base_branch}\`. Started ${when(r.created_at)}${r.completed_at ? `, ended ${when(r.completed_at)} (${human(r.duration_seconds)})` : ""}.${r.usage ? ` Cost: ${formatCost(r.usage)} (${tokens(r.usage)}).` : ""}`,
    "",
    "## Stages",
    "",
    `| Stage | Name | Status |${hosts ? " Host |" : ""} Tries | Nudges | Duration | Cost | Merge commit | Checks on the merge |`,
    `|---|---|---|${hosts ? "---|" : ""}---|---|---|---|---|---|`,
    ...r.stages.map((s) => `| ${s.id} | ${s.name.replace(/\|/g, "\\|")} | ${s.state}${s.model ? ` (${s.model})` : ""} |${hosts ? ` ${s.host || "—"} |` : ""} ${s.tries}${s.max_attempts !== null ? `/${s.max_attempts}` : ""}${s.retries ? `, retried ${s.retries}×` : ""} | ${s.nudges} | ${human(s.duration_seconds)} | ${formatCost(s.usage)} | ${s.merge_commit ? `\`${s.merge_commit.slice(0, 12)}\`` : "—"} | ${s.validated === true ? "passed" : s.validated === false ? "not run" : "—"} |`),
    "",
    ...(r.stages.some((s) => s.plan_file || s.kept_files)
      ? ["## Plans and notes", "", ...r.stages.filter((s) => s.plan_file || s.kept_files).map((s) => `- Stage ${s.id}: ${[s.plan_file ? `plan ${s.plan_file}` : "", s.kept_files ? `notes kept in ${s.kept_files}` : "", s.kept_dropped.length ? `not kept: ${s.kept_dropped.join(", ")}` : ""].filter(Boolean).join("; ")}`), ""]
      : []),
    ...(r.stages.some((s) => s.finished_by)
      ? [
          "## Finished by a person",
          "",
          ...r.stages.filter((s) => s.finished_by).map((s) =>
            s.finished_by === "skipped"
              ? `- Stage ${s.id} was skipped (${s.finished_note ?? "by a person"}): the stages after it went on without its work; its worktree and branch were kept.`
              : `- Stage ${s.id} was ${s.finished_note ?? "marked done by a person"}: its dependants went on from there.`,
          ),
          "",
        ]
      : []),
    "## Waves",
    "",
    ...r.waves.map((w) => `- Wave ${w.wave} (${w.stages.join(", ")}): ${w.completed_at ? `done in ${human(w.duration_seconds)}` : w.started_at ? "not finished" : w.stages.every((id) => r.stages.find((s) => s.id === id)?.done_in_plan) ? "done before the run" : "not started"}`),
    "",
    "## What failed",
    "",
    ...(r.failures.length ? r.failures.map((f) => `- Stage ${f.stage}: ${f.reason}`) : ["Nothing failed."]),
    "",
    ...(r.project_rules_added?.length
      ? ["## Rules added to your project", "", `Added to ${r.project_root}/.claude/settings.local.json during the run (a person's "don't ask again", or a file a session wrote); every Claude Code session in the project now allows them. Remove any you did not mean to keep:`, "", ...r.project_rules_added.map((rule) => `- \`${rule}\``), ""]
      : []),
    ...(r.controls.length ? ["## Run controls", "", ...r.controls.map((c) => `- ${when(c.at)}${c.stage ? ` stage ${c.stage}` : ""}: ${c.what}`), ""] : []),
    "## Review and roll back",
    "",
    r.stages.some((s) => s.merge_commit)
      ? "Each stage went into the base branch as one merge commit (first parent: the base before it, second: the stage branch):"
      : "No stage went into the base branch in this run: there is nothing of it to review or roll back.",
    "",
    ...r.stages.filter((s) => s.merge_commit).flatMap((s) => [
      `- Stage ${s.id}: review \`git log --oneline ${s.merge_commit!.slice(0, 12)}^1..${s.merge_commit!.slice(0, 12)}^2\`, diff \`git diff ${s.merge_commit!.slice(0, 12)}^1 ${s.merge_commit!.slice(0, 12)}\`, undo \`git revert -m 1 ${s.merge_commit!.slice(0, 12)}\``,
    ]),
    "",
  ];
  return out.join("\n");
}

function tokens(u: Usage): string {
  const k = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${Math.round(n / 1e3)}k` : String(n));
  return `${k(u.input_tokens)} in, ${k(u.output_tokens)} out, ${k(u.cache_read_tokens)} cache read, ${k(u.cache_creation_tokens)} cache write tokens`;
}

/** A time for a person (the JSON report keeps the ISO value): "2026-12-03 16:40 UTC". */
function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}
