/** The project a command works in: `--project <dir>` (checked), else the git repository of the current directory. */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import * as git from "../adapters/git.js";
import { UserError } from "../errors.js";
import type { Ctx } from "./ctx.js";

/** The root of the repository `--project` names (refused when it names none), else of the current directory's (if any). */
export async function projectDir(ctx: Pick<Ctx, "cwd">, project: string | undefined): Promise<string | undefined> {
  if (project === undefined) return git.toplevel(ctx.cwd);
  const dir = resolve(ctx.cwd, project);
  const isDir = existsSync(dir) && statSync(dir).isDirectory();
  const root = isDir ? await git.toplevel(dir) : undefined;
  if (!root) throw new UserError(`--project ${project} is not ${isDir ? "inside a git repository" : "a directory"}; pass the project's directory.`);
  return root;
}
