import { RuntimeError } from "../errors.js";
import type { Ctx } from "./context.js";

export async function runDoctor(_ctx: Ctx, _f: { fix?: boolean; project?: string; tmuxSocket?: string }): Promise<number> {
  throw new RuntimeError("doctor is not built yet (issue 4).");
}
