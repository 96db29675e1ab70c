/** `--parse-with claude`: ask `claude -p` for the stage list of a free-form plan; validate it like YAML. */
import { z } from "zod";
import { runProgram } from "./exec.js";
import { buildPlan, type Plan, type RawStage } from "../core/plan.js";
import { parseDepValue } from "../core/deps.js";
import { RuntimeError } from "../errors.js";

const stageList = z.object({
  stages: z.array(z.object({ id: z.string().regex(/^\d+(\.\d+)*$/), name: z.string().min(1), depends_on: z.array(z.string()), scope: z.string() })).min(1),
});

const JSON_SCHEMA = JSON.stringify(z.toJSONSchema(stageList));

export async function parsePlanWithClaude(file: string, text: string): Promise<Plan> {
  const prompt = `Split this master plan into implementation stages with numeric ids and dependencies. Return only JSON matching the schema.\n\n${text}`;
  const r = await runProgram("claude", ["-p", "--output-format", "json", "--json-schema", JSON_SCHEMA, prompt], { timeoutMs: 300_000 });
  if (!r.ok) throw new RuntimeError(`claude -p failed (exit ${r.code}): ${r.stderr.trim().slice(-300)}`);
  let payload: unknown;
  try {
    const outer = JSON.parse(r.stdout) as { structured_output?: unknown; result?: unknown };
    payload = outer.structured_output ?? (typeof outer.result === "string" ? JSON.parse(outer.result) : outer.result);
  } catch (error) {
    throw new RuntimeError(`claude -p did not return JSON for ${file}: ${(error as Error).message}`);
  }
  const parsed = stageList.safeParse(payload);
  if (!parsed.success) throw new RuntimeError(`claude's stage list for ${file} is not valid: ${parsed.error.issues[0]?.message}`);
  const raw: RawStage[] = parsed.data.stages.map((s, i) => ({
    id: s.id,
    name: s.name,
    scope: s.scope,
    line: i + 1,
    deps: s.depends_on.flatMap((d) => parseDepValue(d).map((ref) => ({ ref, line: i + 1 }))),
  }));
  return buildPlan(file, raw);
}
