/** A person's yes before a step nothing undoes (`discard`, `done`/`skip` of a stage that has not started). */
import { createInterface } from "node:readline/promises";
import { UserError } from "../errors.js";
import type { Ctx } from "./ctx.js";

/**
 * Asks `question` with [y/N] in a terminal; without one, refuses with `refusal` (exit 2: the
 * caller's `--yes` is the way). False when the person said no ("Nothing was changed." said).
 */
export async function confirmed(ctx: Ctx, ask: { question: string; refusal: string }): Promise<boolean> {
  if (!ctx.isTTY || !process.stdin.isTTY) throw new UserError(ask.refusal);
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`${ask.question} [y/N] `).finally(() => rl.close());
  if (/^y(es)?$/i.test(answer.trim())) return true;
  ctx.out("Nothing was changed.");
  return false;
}
