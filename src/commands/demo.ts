import { RuntimeError } from "../errors.js";
import type { Ctx } from "./context.js";

export async function runDemo(_ctx: Ctx, _f: { keep?: boolean; dashboard?: boolean }): Promise<number> {
  throw new RuntimeError("the demo is not built yet.");
}
