/**
 * Who an agent-facing command speaks for (`phase`, `event`, `hook`, `review new`, `review wait`):
 * one check for all of them. Light: hooks load it on every turn.
 */
import { existsSync } from "node:fs";
import { join, resolve as resolvePath } from "node:path";
import { readFirstLine } from "../state/append.js";
import { pathsFromOrchDir, type OrchPaths } from "../state/paths.js";
import { UserError } from "../errors.js";
import { stageSession } from "../adapters/stage-session.js";
import type { Ctx } from "./ctx.js";

export interface StageIdentity {
  paths: OrchPaths;
  plan_name: string;
  project_slug: string;
  stage: string | undefined;
}

/**
 * Inside a stage's session the identity is the session's own, read where the agent cannot change
 * it (src/adapters/stage-session.ts): `--orch-dir`, `--stage` and the variables may only repeat it.
 * Outside one (a person's terminal), the flags or the variables say which stage.
 */
export function ownIdentity(ctx: Pick<Ctx, "env">, opts: { orchDir?: string; stage?: string }): { orchDir?: string; stage?: string } {
  const session = stageSession(ctx.env);
  if (!session) return { ...((opts.orchDir ?? ctx.env.AUTORUN_ORCH_DIR) ? { orchDir: opts.orchDir ?? ctx.env.AUTORUN_ORCH_DIR } : {}), ...((opts.stage ?? ctx.env.AUTORUN_STAGE) ? { stage: opts.stage ?? ctx.env.AUTORUN_STAGE } : {}) };
  for (const [flag, given] of [["--orch-dir", opts.orchDir], ["AUTORUN_ORCH_DIR", ctx.env.AUTORUN_ORCH_DIR]] as const) {
    if (given !== undefined && resolvePath(given) !== resolvePath(session.orchDir)) {
      throw new UserError(`this session belongs to ${session.orchDir}; ${flag} ${given} is refused (a stage reports only about itself).`);
    }
  }
  for (const [flag, given] of [["--stage", opts.stage], ["AUTORUN_STAGE", ctx.env.AUTORUN_STAGE]] as const) {
    if (given !== undefined && given !== session.stage) throw new UserError(`this session is stage ${session.stage}; ${flag} ${given} is refused (a stage reports only about itself).`);
  }
  return { orchDir: session.orchDir, stage: session.stage };
}

/**
 * The orchestration and stage a command speaks for: the session's own inside a stage (see
 * ownIdentity), checked against the orchestration's first event (it exists, the stage is in its
 * plan). `needStage`: a stage must be named.
 */
export function stageIdentity(ctx: Pick<Ctx, "env">, opts: { orchDir?: string; stage?: string }, needStage: boolean): StageIdentity {
  const { orchDir, stage } = ownIdentity(ctx, opts);
  if (!orchDir) throw new UserError("AUTORUN_ORCH_DIR is not set: run this inside a stage session, or pass --orch-dir <dir> --stage <id>.");
  if (needStage && !stage) throw new UserError("AUTORUN_STAGE is not set: run this inside a stage session, or pass --stage <id>.");
  const events = join(resolvePath(orchDir), "events.jsonl");
  if (!existsSync(events)) throw new UserError(`${orchDir} is not an orchestration (no events.jsonl); check AUTORUN_ORCH_DIR.`);
  // Only the first event is needed (the plan's identity and stages): agents call this often.
  const started = readFirstLine(events);
  const ids = Array.isArray(started?.stages) ? (started.stages as { id?: unknown }[]).map((s) => String(s.id)) : undefined;
  if (started?.type !== "orchestration_started" || typeof started.plan_name !== "string" || typeof started.project_slug !== "string" || !ids) {
    throw new UserError(`${events} does not start with orchestration_started; the orchestration is damaged.`);
  }
  if (stage !== undefined && !ids.includes(stage)) {
    throw new UserError(`stage ${stage} is not in plan ${started.plan_name} (stages: ${ids.join(", ")}); check AUTORUN_STAGE.`);
  }
  return { paths: pathsFromOrchDir(orchDir, started.project_slug), plan_name: started.plan_name, project_slug: started.project_slug, stage };
}

