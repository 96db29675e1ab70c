/** `--parse-with claude`: ask `claude -p` for the stage list of a free-form plan; validate it like YAML. */
import "../types/zod-setup.js";
import * as z from "zod";
import { runProgram } from "./exec.js";
import { buildPlan, type Plan, type RawStage } from "../core/plan.js";
import { parseDepValue } from "../core/deps.js";
import { RuntimeError } from "../errors.js";
import { findExecutable } from "./process.js";

const stageList = z.object({
  stages: z.array(z.object({ id: z.string().regex(/^\d+(\.\d+)*$/), name: z.string().min(1), depends_on: z.array(z.string()), scope: z.string() })).min(1),
});

const JSON_SCHEMA = JSON.stringify(z.toJSONSchema(stageList));

export async function parsePlanWithClaude(file: string, text: string): Promise<Plan> {
  const prompt = `Split this master plan into implementation stages with numeric ids and dependencies. Return only JSON matching the schema.\n\n${text}`;
  if (!findExecutable("claude")) {
    throw new RuntimeError(`--parse-with claude needs Claude Code, which is not installed or not on PATH (npm install -g @anthropic-ai/claude-code); or give ${file} stage headings (## Stage 1: Name) and drop --parse-with.`);
  }
  let r;
  try {
    r = await runProgram("claude", ["-p", "--output-format", "json", "--json-schema", JSON_SCHEMA, prompt], { timeoutMs: 300_000 });
  } catch (error) {
    // The error would quote the whole command line (the schema and the plan): say what matters.
    throw new RuntimeError(`claude -p did not split ${file} into stages (it ran over 5 minutes, or could not start); try again, or give it stage headings (## Stage 1: Name).`, { cause: error });
  }
  if (!r.ok) throw new RuntimeError(`claude -p failed (exit ${r.code}) splitting ${file}: ${r.stderr.trim().split("\n").slice(-1)[0]?.slice(0, 200) ?? ""}`);
  let payload: unknown;
  try {
    const outer = JSON.parse(r.stdout) as { structured_output?: unknown; result?: unknown };
    payload = outer.structured_output ?? (typeof outer.result === "string" ? JSON.parse(outer.result) : outer.result);
  } catch (error) {
    throw new RuntimeError(`claude -p did not return JSON for ${file} (${(error as Error).message.slice(0, 100)}); try again, or give it stage headings (## Stage 1: Name).`);
  }
  const parsed = stageList.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RuntimeError(`claude's stage list for ${file} is not valid (${issue?.path.join(".") || "stages"}: ${issue?.message ?? "invalid"}); try again, or give it stage headings (## Stage 1: Name).`);
  }
  const raw: RawStage[] = parsed.data.stages.map((s, i) => ({
    id: s.id,
    name: s.name,
    scope: s.scope,
    line: i + 1,
    deps: s.depends_on.flatMap((d) => parseDepValue(d).map((ref) => ({ ref, line: i + 1 }))),
  }));
  return buildPlan(file, raw);
}
