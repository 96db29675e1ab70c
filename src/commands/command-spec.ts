/**
 * What a command of the table is: what its help shows, how its options are read (a zod schema,
 * plain string flags for the agents' hot commands, or none) and how it runs. The table itself is
 * data built with these (table.ts, table-agents.ts); src/cli.ts turns it into the commander program.
 */
import type * as Z from "zod";
import type { OptionBuilders } from "./option-schemas.js";
import type { Ctx } from "./ctx.js";

/** A hook payload is a few kilobytes; more than this is not one, and is not held in memory. */
const STDIN_LIMIT = 8 * 1024 * 1024;

/** What was piped in: its text, or that it was over STDIN_LIMIT (and left unread). */
export type Stdin = { text: string } | { tooLarge: true };

export async function readStdin(): Promise<Stdin> {
  if (process.stdin.isTTY) return { text: "" };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += bytes.length;
    if (size > STDIN_LIMIT) {
      process.stdin.destroy();
      return { tooLarge: true };
    }
    chunks.push(bytes);
  }
  return { text: Buffer.concat(chunks).toString("utf8") };
}

/** The controller's JSON input of `autorun host …`: refused when it is over the limit. */
export async function hostInput(which: string): Promise<string> {
  const stdin = await readStdin();
  if ("text" in stdin) return stdin.text;
  const { UserError } = await import("../errors.js");
  throw new UserError(`autorun host ${which}: the input on stdin is over ${STDIN_LIMIT / 1024 / 1024} MB, which no controller sends; nothing was done.`);
}

export interface OptionSpec {
  /** commander's syntax: `--max-parallel <n>`, `-f, --follow`, `--no-monitor`, `--question <q...>`. */
  flags: string;
  help: string;
  choices?: readonly string[];
  default?: string;
  required?: boolean;
}

/** The arguments as commander gives them: a string, a list for `<x...>`, undefined when optional and absent. */
export type Args = (string | string[] | undefined)[];

/** Commander's options object, before its command's own reading of it. */
export type RawOptions = Record<string, unknown>;

/** What the help shows of a command: its name (`review new` for a subcommand), what it does, its arguments and options, an example. */
interface Shown {
  name: string;
  summary: string;
  args?: [string, string?][];
  options?: OptionSpec[];
  example: string;
  /**
   * Only a person may run it: it acts on a run (launches, stops, merges, types into a session,
   * raises a budget). Refused, before anything is read, from inside any stage's session.
   */
  person?: boolean;
  /** Left out of help: run by autorun itself (on a host, by the controller), not by people. */
  hidden?: boolean;
}

/**
 * A command with options checked by its zod schema (loaded only when such a command runs) into
 * the typed object its runner takes. Runners import their module only then, so `--help` loads
 * none of them.
 */
interface Checked<O> extends Shown {
  schema: (z: OptionBuilders) => Z.ZodType<O>;
  run(ctx: Ctx, args: Args, opts: O): Promise<number> | number;
}

/** An agents' hot command: string flags read without zod (it checks what it writes itself). */
interface Flags<K extends string> extends Shown {
  flags: readonly K[];
  run(ctx: Ctx, args: Args, opts: Partial<Record<K, string>>): Promise<number> | number;
}

/** A command that takes no options. */
interface Plain extends Shown {
  run(ctx: Ctx, args: Args): Promise<number> | number;
}

/** A command of the table as src/cli.ts uses it: what commander needs, and `invoke`, which reads the options and runs it. */
export interface CommandSpec extends Shown {
  invoke(ctx: Ctx, args: Args, raw: RawOptions): Promise<number>;
}

/** Commander's options through the command's schema: one typed object, or a one-line error naming the flag. */
export function command<O>(spec: Checked<O>): CommandSpec {
  const { schema, run, ...shown } = spec;
  return {
    ...shown,
    invoke: async (ctx, args, raw) => {
      const { optionBuilders } = await import("./option-schemas.js");
      const parsed = schema(optionBuilders).safeParse(raw);
      if (parsed.success) return run(ctx, args, parsed.data);
      const issue = parsed.error.issues[0]!;
      const flag = `--${String(issue.path[0] ?? "").replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`;
      const { UserError } = await import("../errors.js");
      // zod's own words for an empty string ("Too small: expected string to have >=1 characters") in a person's.
      const said = issue.code === "too_small" && issue.origin === "string" ? "must not be empty; give it a value or leave the option out" : issue.message;
      throw new UserError(`${flag} ${JSON.stringify(raw[String(issue.path[0])])}: ${said}.`);
    },
  };
}

/** Commander's options as the strings they are (`--flag <value>`), the rest left out. */
export function agentCommand<K extends string>(spec: Flags<K>): CommandSpec {
  const { flags, run, ...shown } = spec;
  return {
    ...shown,
    invoke: async (ctx, args, raw) => {
      const opts: Partial<Record<K, string>> = {};
      for (const key of flags) {
        const value = raw[key];
        if (typeof value === "string") opts[key] = value;
      }
      return run(ctx, args, opts);
    },
  };
}

/** A command without options. */
export function plain(spec: Plain): CommandSpec {
  const { run, ...shown } = spec;
  return { ...shown, invoke: async (ctx, args) => run(ctx, args) };
}

export const str = (a: Args[number]): string => (typeof a === "string" ? a : "");
export const maybe = (a: Args[number]): string | undefined => (typeof a === "string" ? a : undefined);
export const list = (a: Args[number]): string[] => (Array.isArray(a) ? a : []);

/** A number from a flag's text, for a configuration key: the configuration's own check says what range it takes. */
export function configNumber(z: OptionBuilders) {
  return z.coerce.number({ error: "must be a number" });
}

/** A number > 0 from a flag's text (seconds, dollars). */
export function amount(z: OptionBuilders) {
  return z.coerce.number({ error: "must be a number > 0" }).positive("must be a number > 0");
}
