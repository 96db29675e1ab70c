/** `autorun report [plan]`: the final report, written at the end of every orchestration. */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import writeFileAtomic from "write-file-atomic";
import { buildReport, renderReportMarkdown } from "../core/report.js";
import { readAllEvents } from "../state/events.js";
import { loadStatus } from "../state/status.js";
import { reportsDir, type OrchPaths } from "../state/paths.js";
import { readProjectRules } from "../state/settings.js";
import { localAllowRules } from "../adapters/agent.js";
import type { Ctx } from "./ctx.js";
import { openOrchestration, resolveOrchestration } from "../state/orchestration.js";

export async function writeReport(_ctx: Ctx, paths: OrchPaths): Promise<string | undefined> {
  const status = loadStatus(paths);
  if (!status) return undefined;
  const report = buildReport(status, readAllEvents(paths.events));
  const before = readProjectRules(paths.dir);
  if (before) report.project_rules_added = localAllowRules(status.project_root).filter((r) => !before.includes(r));
  const dir = reportsDir(paths.home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Named by the orchestration's directory: a run kept aside by --fresh has its own report.
  const name = basename(paths.dir);
  const md = join(dir, `${name}.md`);
  await writeFileAtomic(md, renderReportMarkdown(report), { mode: 0o600 });
  await writeFileAtomic(join(dir, `${name}.json`), JSON.stringify(report, null, 2) + "\n", { mode: 0o600 });
  return md;
}

export async function runReport(ctx: Ctx, plan: string | undefined, opts: { json?: boolean }): Promise<number> {
  // A discarded run's state is gone, its report kept: that is what there is to show.
  const kept = plan === undefined || openOrchestration(ctx.home, plan) ? undefined : join(reportsDir(ctx.home), `${plan}.${opts.json ? "json" : "md"}`);
  if (kept !== undefined && /^[\w.-]+$/.test(plan!) && existsSync(kept)) {
    ctx.err(`autorun: ${plan} is no orchestration any more (discarded); its report as it was kept: ${kept}`);
    ctx.out(readFileSync(kept, "utf8").trimEnd());
    return 0;
  }
  const orch = resolveOrchestration(ctx, plan);
  if (orch.guessed) ctx.err(`autorun: ${orch.guessed}`);
  const file = join(reportsDir(ctx.home), `${basename(orch.paths.dir)}.${opts.json ? "json" : "md"}`);
  if (!existsSync(file) || orch.status.status === "running") await writeReport(ctx, orch.paths);
  ctx.out(readFileSync(file, "utf8").trimEnd());
  return 0;
}
