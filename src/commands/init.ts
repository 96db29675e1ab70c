/**
 * `autorun init`: a commented master plan and configuration in the project, to edit and run. Nothing
 * of the person's is overwritten: an existing plan of that name is refused (exit 2, nothing
 * written); an existing configuration is kept and said so.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import * as git from "../adapters/git.js";
import { UserError } from "../errors.js";
import { INIT_EXAMPLES } from "../core/plan.js";
import type { Ctx } from "./ctx.js";

export const CONFIG_FILE = "autorun.config.json";

/** The scaffolded plan: three stages in the heading format, each setting shown once. */
export function planTemplate(project: string, file: string): string {
  return `# Master plan: ${project}

<!--
  autorun reads each "Stage N: name" heading as a stage; the text under it, up to the next stage
  heading, is what that stage's agent is asked to do. A stage starts once the stages it depends on
  are merged into the base branch; stages with nothing between them run side by side.

  Lines a stage body may have (all optional):
    Depends on: 1, 2        stages it waits for (None when it waits for nothing)
    Validate: npm test      a check run on the merged result before it lands on the base branch
    Budget: $5              what the stage may spend before autorun pauses it
    Model: opus             the model for this stage
    Exclusive: database     stages sharing a name never run at the same time
    Max attempts: 2         launches before the stage is marked failed

  Check it without starting anything:  autorun orchestrate ${file} --dry-run
  Then run it:                         autorun orchestrate ${file}
-->

## Stage 1: Foundations
${INIT_EXAMPLES[0]}

Depends on: None

## Stage 2: First feature
${INIT_EXAMPLES[1]}

Depends on: 1

## Stage 3: Second feature
${INIT_EXAMPLES[2]}

Depends on: 1
`;
}

/** The scaffolded configuration: the settings people change first, at their defaults, each explained. */
export function configTemplate(): string {
  const config = {
    "//": [
      "autorun's settings for this project; $AUTORUN_HOME/config.json holds your own, and flags win over both.",
      "maxParallel: stages running at once. permissionMode: Claude Code's permission mode for every stage.",
      "stallSeconds: how long an agent may sit idle at its prompt before autorun nudges it.",
      "validate: commands (argument lists) run on the merged result before each merge, e.g. [[\"npm\", \"test\"]].",
      "allowedTools: Claude Code permission rules added to every stage, e.g. \"Bash(npm test:*)\".",
      "sandbox: Claude Code's Bash sandbox (needs bubblewrap and socat on Linux); sandboxDomains: what its commands may reach.",
      "budgetUsd / stageBudgetUsd: what the run and each stage may spend. Every key: the README, section Configuration.",
    ],
    maxParallel: 4,
    permissionMode: "acceptEdits",
    stallSeconds: 60,
    validate: [],
    allowedTools: [],
    sandbox: true,
    sandboxDomains: [],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

export async function runInit(ctx: Ctx, opts: { plan?: string }): Promise<number> {
  const root = await git.toplevel(ctx.cwd);
  if (!root) throw new UserError(`${ctx.cwd} is not in a git repository; autorun runs stages as branches of one: run \`git init\` first.`);
  const name = opts.plan ?? "master-plan.md";
  if (!/\.(md|markdown)$/i.test(name)) throw new UserError(`--plan ${name}: a plan written by init is markdown; give a name ending in .md.`);
  const plan = resolve(ctx.cwd, name);
  if (existsSync(plan)) throw new UserError(`${plan} already exists; nothing was written. Choose another name: autorun init --plan other-plan.md`);
  const config = join(root, CONFIG_FILE);
  const keepConfig = existsSync(config);
  // A plan in a folder not made yet (docs/master-plan.md): the folder is made for it.
  mkdirSync(dirname(plan), { recursive: true });
  writeFileSync(plan, planTemplate(basename(root), name), { flag: "wx" });
  if (!keepConfig) writeFileSync(config, configTemplate(), { flag: "wx" });
  ctx.out(`wrote ${plan}: three example stages to replace with yours`);
  ctx.out(keepConfig ? `kept your ${config}` : `wrote ${config}: the settings people change first, each explained under "//"`);
  ctx.out(`Next: edit the plan, then check it without starting anything: autorun orchestrate ${name} --dry-run`);
  return 0;
}
