import { RuntimeError } from "../errors.js";
import type { Ctx } from "../commands/context.js";

export async function runDashboard(_ctx: Ctx, _plan: string | undefined): Promise<number> {
  throw new RuntimeError("the dashboard is not built yet (issue 5); use `autorun status --watch` meanwhile.");
}
