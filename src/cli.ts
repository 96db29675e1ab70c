#!/usr/bin/env node
/**
 * The command line. The only module that knows commander: it builds the program from the command
 * table (commands/table.ts), checks each command's options with its schema into one typed object,
 * and runs it (its module imported only then, so `autorun --help` loads nothing heavy). Only
 * `main` exits.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import type { Ctx } from "./commands/ctx.js";
import { printable } from "./core/printable.js";
import { COMMANDS, GROUPS } from "./commands/table.js";
import type { Args } from "./commands/command-spec.js";

/** autorun's own package.json, found upward from this file (src/ when run from source, dist/src/ when built). */
function ownPackage(): { version: string; bugs?: { url?: string } | string } {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version: string; bugs?: { url?: string } | string };
      if (pkg.name === "autorun") return pkg;
    } catch {
      // not here; look further up
    }
    if (dirname(dir) === dir) return { version: "unknown" };
  }
}

async function ctx(): Promise<Ctx> {
  return (await import("./commands/ctx.js")).defaultCtx();
}

/** An argument as commander passes it: a string, a list of them for `<x...>`, or undefined. */
function asArg(value: unknown): Args[number] {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return undefined;
}

function oneLine(str: string): string {
  return str.trim().split("\n").map((l) => l.trim()).filter(Boolean).slice(0, 2).join(" ");
}

/** "unknown option '--fresh'" with "(Did you mean --fresh-worktree?)" when a flag of the command starts with it. */
function withSuggestion(message: string, flags: readonly string[]): string {
  const given = /unknown option '(--[\w-]+)/.exec(message)?.[1];
  if (!given || /Did you mean/.test(message)) return message;
  const near = flags.filter((f) => f.startsWith(given) || given.startsWith(f));
  return near.length ? `${message} (Did you mean ${near.join(" or ")}?)` : message;
}

export function buildProgram(setCode: (code: number) => void): Command {
  const program = new Command("autorun")
    .description("Run a staged master plan with AI coding agents, each in its own tmux session, with a monitor that nudges, merges and launches.")
    .version(ownPackage().version)
    .showSuggestionAfterError()
    // One line: commander's message, with its "(Did you mean …?)" kept on that line.
    .configureOutput({ outputError: (str, write) => write(oneLine(str) + "\n") })
    .exitOverride();
  const parents = new Map<string, Command>([["", program]]);
  for (const spec of COMMANDS) {
    const words = spec.name.split(" ");
    const groupName = words.slice(0, -1).join(" ");
    let parent = parents.get(groupName);
    if (!parent) {
      const group = GROUPS[groupName]!;
      parent = program.command(groupName, { hidden: group.hidden ?? false }).description(group.summary).addHelpText("after", helpExample(group.example));
      parents.set(groupName, parent);
    }
    const cmd = parent.command(words.at(-1)!, { hidden: spec.hidden ?? false }).description(spec.summary).addHelpText("after", helpExample(spec.example));
    // Commander's suggestion misses a flag cut short (`--agent` for `--agent-cmd`): this one's own flags do not.
    const longFlags = (spec.options ?? []).map((o) => /--[\w-]+/.exec(o.flags)?.[0]).filter((f): f is string => f !== undefined);
    cmd.configureOutput({ outputError: (str, write) => write(withSuggestion(oneLine(str), longFlags) + "\n") });
    for (const [name, help] of spec.args ?? []) cmd.argument(name, help);
    for (const o of spec.options ?? []) {
      const option = new Option(o.flags, o.help);
      if (o.choices) option.choices(o.choices);
      if (o.default !== undefined) option.default(o.default);
      if (o.required) option.makeOptionMandatory();
      cmd.addOption(option);
    }
    cmd.action(async (...received: unknown[]) => {
      await refuseFlagAsValue(cmd);
      if (spec.person) await refuseInStage(spec.name);
      const args: Args = received.slice(0, spec.args?.length ?? 0).map(asArg);
      setCode(await spec.invoke(await ctx(), args, cmd.opts()));
    });
  }
  return program;
}

/**
 * An option whose value was left out takes the next word, even another of the command's options
 * (`--permission-mode --dry-run`, and the dry run is lost): refused, before anything is done.
 */
async function refuseFlagAsValue(cmd: Command): Promise<void> {
  const flags = new Set(cmd.options.map((o) => o.long).filter((f): f is string => f !== undefined));
  for (const o of cmd.options) {
    const value: unknown = cmd.getOptionValue(o.attributeName());
    if (typeof value !== "string" || !flags.has(value.split("=")[0]!)) continue;
    const { UserError } = await import("./errors.js");
    throw new UserError(`${o.long} was given no value: it took the option ${value} as its value; write ${o.flags} before ${value}.`);
  }
}

/** A command only a person may run, called from a stage's session: a user error, nothing done. */
async function refuseInStage(name: string): Promise<void> {
  const { inStageSession } = await import("./adapters/stage-session.js");
  const session = inStageSession();
  if (!session) return;
  const { UserError } = await import("./errors.js");
  const which = session.stage !== undefined ? `stage ${session.stage}${session.orchDir ? ` of ${session.orchDir}` : ""}` : (session.orchDir ?? "a stage");
  throw new UserError(`${name}: run this from your own terminal, not from a stage's session (this process runs in ${which}); a stage hands its work over with \`autorun phase implement done\`.`);
}

function helpExample(text: string): string {
  return `\nExample:\n  ${text.split("\n").join("\n  ")}\n`;
}

export async function main(argv: string[]): Promise<number> {
  // `autorun status | head -1`: a reader that goes away is not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") process.exit(0);
    });
  }
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return 0;
      return error.exitCode === 0 ? 0 : 2;
    }
    const { isExpectedError } = await import("./errors.js");
    const debug = Boolean(process.env.AUTORUN_DEBUG);
    if (isExpectedError(error)) {
      process.stderr.write(`autorun: ${printable(error.message)}\n`);
      if (debug && error.stack) process.stderr.write(error.stack + "\n");
      return error.exitCode;
    }
    const errno = error as NodeJS.ErrnoException;
    if (errno?.code && ["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "ENAMETOOLONG"].includes(errno.code)) {
      const { describeErrno } = await import("./errors.js");
      const where = errno.path ? ` ${errno.path}` : ` in ${process.env.AUTORUN_HOME || "~/.autorun"}`;
      process.stderr.write(`autorun: cannot ${errno.syscall ?? "write"}${printable(where)}: ${errno.code}${describeErrno(errno.code)}\n`);
      return 1;
    }
    process.stderr.write(`autorun: internal error: ${printable((error as Error)?.message ?? String(error))}\n`);
    // What a report needs: the versions, the command, and where to send it.
    const pkg = ownPackage();
    const where = typeof pkg.bugs === "string" ? pkg.bugs : (pkg.bugs?.url ?? "the autorun issue tracker");
    process.stderr.write(`autorun ${pkg.version}, node ${process.version}, ${process.platform}; command: autorun ${printable(argv.slice(2).join(" "))}\n`);
    process.stderr.write(debug ? `${(error as Error)?.stack ?? ""}\n` : `Run again with AUTORUN_DEBUG=1 for the stack, and please report it with these lines to ${where}.\n`);
    return 1;
  }
}

/** True when this file is the program being run (directly or through the dist/bin/autorun link). */
async function isEntry(): Promise<boolean> {
  try {
    const { realpathSync } = await import("node:fs");
    const { pathToFileURL } = await import("node:url");
    return process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (await isEntry()) {
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    () => {
      process.exitCode = 1;
    },
  );
}
