/**
 * The `hosts` and `sshOptions` configuration keys: the machines stages may run on, keyed by a
 * name of the person's choosing; `local` is this machine.
 */
import "./zod-setup.js";
import * as z from "zod";

export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const LABEL = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

const noControl = (s: string) => !/[\0-\x1f]/.test(s);
/** Variables a host has its own of, or that autorun sets for each session: never sent from here. */
const HOST_OWN_VARIABLES = /^(PATH|HOME|USER|LOGNAME|SHELL|TMPDIR|TMUX.*|AUTORUN_(HOME|ORCH_DIR|STAGE|BIN|HOST_WORKTREE))$/;

/** Extra ssh arguments, passed as they are. */
export const sshOptionsSchema = z.array(z.string().min(1, "an ssh option cannot be empty").refine(noControl, "an ssh option cannot hold a newline or control character"));

export const hostSchema = z
  .object({
    /** The destination exactly as the person would type it to ssh: an alias of their ssh config or user@host. */
    ssh: z
      .string()
      .min(1)
      .refine((s) => !s.startsWith("-") && !/\s/.test(s) && noControl(s), "must be an ssh destination (a host alias or user@host), not an option and without spaces"),
    /** Stages at once on that host (0: none). */
    slots: z.number({ message: "must be a whole number of stages at once, 0 to 256" }).int("must be a whole number").min(0).max(256),
    /** The project's checkout on that host; `{project}` is the project's slug. */
    root: z.string().min(1).refine(noControl, "cannot hold a newline or control character"),
    labels: z.array(z.string().regex(LABEL, "a label is a word: a letter, then letters, digits, . _ -")),
    /**
     * Names (never values) of the controller's variables the host's agents get. Not those the host
     * has its own of or autorun sets for the session: this machine's value would replace the host's.
     */
    env: z.array(
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name")
        .refine((name) => !HOST_OWN_VARIABLES.test(name), {
          error: (issue) => `${JSON.stringify(issue.input)} is the host's own or set by autorun for each session (as PATH, HOME, USER, LOGNAME, SHELL, TMPDIR, TMUX…, AUTORUN_HOME, AUTORUN_STAGE… are): this machine's value would replace it there; leave it out`,
        }),
    ),
    sshOptions: sshOptionsSchema,
    /** The autorun command on that host, when not `autorun`. */
    autorun: z.string().min(1).refine(noControl, "cannot hold a newline or control character"),
    agentCommand: z.array(z.string().min(1)).min(1),
  })
  .partial()
  .strict();

export type HostConfig = z.infer<typeof hostSchema>;

export const hostsSchema = z.record(z.string(), hostSchema).superRefine((hosts, ctx) => {
  for (const [name, host] of Object.entries(hosts)) {
    if (!HOST_NAME.test(name)) ctx.addIssue({ code: "custom", path: [name], message: "a host name is letters, digits, . _ - (at most 64); rename it" });
    if (name === "local") {
      for (const key of ["ssh", "root", "sshOptions", "autorun"] as const) {
        if (host[key] !== undefined) ctx.addIssue({ code: "custom", path: [name, key], message: `local is this machine and takes no ${key}; give the other machine its own name` });
      }
      continue;
    }
    if (host.ssh === undefined) ctx.addIssue({ code: "custom", path: [name, "ssh"], message: "missing: the destination as you would type it to ssh (a host alias or user@host)" });
    if (host.slots === undefined) ctx.addIssue({ code: "custom", path: [name, "slots"], message: "missing: how many stages may run at once on that host" });
  }
});

export type HostsConfig = z.infer<typeof hostsSchema>;
