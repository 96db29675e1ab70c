/** Review files: questions for a person, answered in their editor. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { localStamp } from "../core/time.js";
import writeFileAtomic from "write-file-atomic";
import { makeDir, reviewDir } from "./paths.js";

export interface ReviewQuestion {
  topic: string;
  question: string;
}

export interface ReviewMeta {
  stage?: string;
  orch_dir?: string;
  plan_name?: string;
  questions: number;
  created_at: string;
  /** Set by the monitor when the condition the review was about cleared, or when it did what the answer asked. */
  resolved?: { at: string; reason: string };
  /** A review the monitor filed: the condition it is about, and the words an answer may start with. */
  key?: string;
  actions?: string[];
  /** What the condition showed when the review was filed (a permission dialog's lines), so an answer acts only on that. */
  about?: string;
}

export interface ParsedReview {
  title: string;
  answers: { topic: string; question: string; answer: string }[];
  meta?: ReviewMeta;
  /** Every question is present and answered, and the file is whole (footer present). */
  complete: boolean;
  /** What keeps the file from being read as answered, beyond empty answers (each says the fix). */
  damage?: string[];
}

const FOOTER = "*Edit this file with your answers and save. The process will continue automatically.*";
const META = /<!--\s*autorun-review\s+(\{.*\})\s*-->/;
const META_ALL = new RegExp(META.source, "g");

/** The metadata block autorun wrote: the file's last one (one quoted in the text above it is not). */
function lastMeta(text: string): RegExpExecArray | undefined {
  return [...text.matchAll(META_ALL)].at(-1) as RegExpExecArray | undefined;
}

/** Text given for a review (often an agent's): no HTML comment of its own, which could pass for autorun's. */
function noComment(text: string): string {
  return text.replace(/<!--/g, "&lt;!--");
}

function summarySlug(title: string): string {
  return (
    title
      .normalize("NFKD")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "")
      // At most 40 characters, ending at a word's end.
      .replace(/^(.{0,40})(-.*)?$/, (whole, head: string, rest?: string) => (rest === undefined || whole.length <= 40 ? whole : head))
      .slice(0, 40)
      .replace(/-+$/, "") || "review"
  );
}

export function renderReview(title: string, context: string, questions: ReviewQuestion[], meta: ReviewMeta): string {
  const parts = [`# Review: ${noComment(title)}`, "## Context", noComment(context.trim()) || "(none given)", "## Questions / Feedback Requested"];
  questions.forEach((q, i) => parts.push(`### ${i + 1}. ${noComment(q.topic)}`, noComment(q.question.trim()), "**Your answer**:", ""));
  parts.push("---", FOOTER, "", `<!-- autorun-review ${JSON.stringify(meta)} -->`, "");
  return parts.join("\n");
}

export async function createReviewFile(home: string, review: { title: string; context: string; questions: ReviewQuestion[] }, meta: Omit<ReviewMeta, "questions" | "created_at">, now = new Date()): Promise<string> {
  const { title, context, questions } = review;
  const dir = reviewDir(home);
  makeDir(dir);
  const stamp = localStamp(now, "-", "");
  const base = `${stamp}-${summarySlug(title)}`;
  let file = join(dir, `${base}.md`);
  for (let n = 2; existsSync(file); n++) file = join(dir, `${base}-${n}.md`);
  await writeFileAtomic(file, renderReview(title, context, questions, { ...meta, questions: questions.length, created_at: now.toISOString() }), { mode: 0o600 });
  return file;
}

export function parseReview(text: string): ParsedReview {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const title = /^# Review:\s*(.*)$/.exec(lines[0] ?? "")?.[1]?.trim() ?? "";
  let meta: ReviewMeta | undefined;
  const metaMatch = lastMeta(text);
  if (metaMatch?.[1]) {
    try {
      meta = JSON.parse(metaMatch[1]) as ReviewMeta;
    } catch {
      meta = undefined;
    }
  }
  const answers: ParsedReview["answers"] = [];
  let current: { topic: string; question: string[]; answer: string[]; inAnswer: boolean } | undefined;
  const damage: string[] = [];
  const flush = () => {
    if (!current) return;
    answers.push({ topic: current.topic, question: current.question.join("\n").trim(), answer: current.answer.join("\n").trim() });
    // Without its answer line, whatever was written below a question reads as part of it.
    if (!current.inAnswer) damage.push(`question ${answers.length} ("${current.topic}") has no "**Your answer**:" line, so what is written under it reads as part of the question; put a line "**Your answer**:" back below the question, write your answer after it, and save again`);
  };
  for (const line of lines) {
    const q = /^###\s+(?:\d+\.\s*)?(.*)$/.exec(line);
    if (q) {
      flush();
      current = { topic: (q[1] ?? "").trim(), question: [], answer: [], inAnswer: false };
      continue;
    }
    if (!current) continue;
    if (/^---\s*$/.test(line) || /^##\s/.test(line)) {
      flush();
      current = undefined;
      continue;
    }
    const a = /^\*\*Your answer\*\*:?\s*(.*)$/.exec(line);
    if (a) {
      current.inAnswer = true;
      if (a[1]) current.answer.push(a[1]);
      continue;
    }
    (current.inAnswer ? current.answer : current.question).push(line);
  }
  flush();
  if (meta !== undefined && answers.length < meta.questions) damage.push(`${meta.questions - answers.length} of its ${meta.questions} questions ${meta.questions - answers.length === 1 ? "is" : "are"} missing (a "### N. …" heading was deleted); put ${meta.questions - answers.length === 1 ? "it" : "them"} back, each with its "**Your answer**:" line`);
  if (meta !== undefined && answers.length > meta.questions) damage.push(`it has ${answers.length} questions where ${meta.questions} were asked: a line starting with "###" in an answer starts a new question; write it without the "###"`);
  if (!text.includes(FOOTER)) damage.push(`its last lines ("---" and "${FOOTER}") are missing; put them back at the end`);
  const whole = damage.length === 0;
  return { title, answers, ...(meta ? { meta } : {}), complete: whole && answers.length > 0 && answers.every((a) => a.answer !== ""), ...(damage.length ? { damage } : {}) };
}

export function readReview(file: string): ParsedReview {
  return parseReview(readFileSync(file, "utf8"));
}

/**
 * Marks a review the monitor filed as resolved (its condition cleared, or `answered`: the monitor
 * did what its answer asked): the metadata says so and a line in the context tells the person. An
 * answered review is otherwise left as it is. Returns whether the file was changed.
 */
export async function resolveReviewFile(file: string, reason: string, now = new Date(), opts: { answered?: boolean } = {}): Promise<boolean> {
  if (!existsSync(file)) return false;
  const text = readFileSync(file, "utf8");
  const parsed = parseReview(text);
  if ((parsed.complete && !opts.answered) || parsed.meta === undefined || parsed.meta.resolved) return false;
  const meta: ReviewMeta = { ...parsed.meta, resolved: { at: now.toISOString(), reason } };
  // Replacer functions: a reason may hold `$1` or `$&` ("the budget is now $10.00").
  const at = lastMeta(text)!;
  const updated = (text.slice(0, at.index) + `<!-- autorun-review ${JSON.stringify(meta)} -->` + text.slice(at.index + at[0].length))
    // In the context, not after an answer line, where it would read as an answer.
    .replace(/^## Context$/m, () => `## Context\n**Resolved by autorun** (${now.toISOString()}): ${reason}. Nothing more is needed here.\n`);
  await writeFileAtomic(file, updated, { mode: 0o600 });
  return true;
}

/**
 * An answer the monitor could not act on: the answer is cleared (so the review is open again) and
 * the context says why, with the answer that was given.
 */
export async function reopenReviewFile(file: string, why: string, now = new Date()): Promise<boolean> {
  if (!existsSync(file)) return false;
  const text = readFileSync(file, "utf8");
  const at = text.lastIndexOf("**Your answer**:");
  const end = text.indexOf("\n---\n", at);
  if (at < 0 || end < 0) return false;
  const updated = (text.slice(0, at) + "**Your answer**:\n" + text.slice(end)).replace(/^## Context$/m, () => `## Context\n**autorun could not act on your answer** (${now.toISOString()}): ${why}. Answer again below.\n`);
  await writeFileAtomic(file, updated, { mode: 0o600 });
  return true;
}

export function listReviewFiles(home: string): string[] {
  const dir = reviewDir(home);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".md") && !f.startsWith("."))
    // Oldest first: by the time in the name, then by the number a second file of the same second
    // and title got (`x.md` before `x-2.md`, which a plain sort puts first).
    .map((f) => ({ f, key: f.replace(/(?:-(\d+))?\.md$/, (_m, n: string | undefined) => `\u0000${(n ?? "1").padStart(6, "0")}`) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ f }) => join(dir, f));
}

export interface ReviewEntry {
  file: string;
  title: string;
  state: "open" | "answered" | "resolved";
  /** Why it was resolved (its condition cleared, or what its answer did). */
  resolved_reason: string | null;
  stage: string | null;
  plan_name: string | null;
  /** The orchestration it is about (its state directory); null for a review of no run. */
  orch_dir: string | null;
  /** The condition the monitor filed it for (`circuit`, `budget`, …); null for one an agent or person filed. */
  key: string | null;
  questions: number;
}

/** Every review file under `home`, with its state: open, answered, or resolved by autorun. */
export function reviewEntries(home: string): ReviewEntry[] {
  return listReviewFiles(home).map((file) => {
    let r: ParsedReview;
    try {
      r = readReview(file);
    } catch {
      r = { title: "(unreadable)", answers: [], complete: false };
    }
    return { file, title: r.title, state: r.meta?.resolved ? "resolved" : r.complete ? "answered" : "open", resolved_reason: r.meta?.resolved?.reason ?? null, stage: r.meta?.stage ?? null, plan_name: r.meta?.plan_name ?? null, orch_dir: r.meta?.orch_dir ?? null, key: r.meta?.key ?? null, questions: r.answers.length };
  });
}
