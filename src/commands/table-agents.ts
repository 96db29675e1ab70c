/**
 * The commands people do not type: what agents run at every step (`phase`, `event`, `hook`: string
 * flags, no zod loaded) and what the controller runs on another host over ssh (`host …`, hidden,
 * their JSON input on stdin).
 */
import { HOOK_EVENTS } from "../types/constants.js";
import { agentCommand, hostInput, list, plain, readStdin, str, type CommandSpec } from "./command-spec.js";

/** Agents' own reports about their stage. */
export const AGENT_COMMANDS: CommandSpec[] = [
  agentCommand({
    name: "phase",
    summary: "(agents) report a phase of the current stage",
    args: [["<phase>", "triage | research | create_plan | implement | merge"], ["<state>", "start | done"]],
    options: [
      { flags: "--current <n>", help: "implementation phase number" },
      { flags: "--total <n>", help: "number of implementation phases" },
      { flags: "--plan-file <file>", help: "the stage's implementation plan" },
      { flags: "--complexity <c>", help: "QUICK | MEDIUM | LARGE (triage)" },
      { flags: "--orch-dir <dir>", help: "orchestration dir (default: $AUTORUN_ORCH_DIR)" },
      { flags: "--stage <id>", help: "stage id (default: $AUTORUN_STAGE)" },
    ],
    example: "autorun phase implement start --current 1 --total 3",
    // Hot (agents call it at every step): checked by the event it writes, without loading zod here.
    flags: ["current", "total", "planFile", "complexity", "orchDir", "stage"],
    run: async (c, [phase, state], f) => (await import("./agent-report.js")).runPhase(c, str(phase), str(state), f),
  }),
  agentCommand({
    name: "event",
    summary: "(agents) append a validated event",
    args: [["<type>"], ["[fields...]", "key=value pairs"]],
    options: [
      { flags: "--data <json>", help: "fields as a JSON object" },
      { flags: "--orch-dir <dir>", help: "orchestration dir (default: $AUTORUN_ORCH_DIR)" },
      { flags: "--stage <id>", help: "stage id (default: $AUTORUN_STAGE)" },
    ],
    example: "autorun event stage_idle source=hook reason=waiting",
    flags: ["data", "orchDir", "stage"],
    run: async (c, [type, fields], f) => (await import("./agent-report.js")).runEvent(c, str(type), list(fields), f),
  }),
  plain({
    name: "hook",
    summary: "(hooks) turn a Claude Code hook payload on stdin into an event",
    args: [["<name>", HOOK_EVENTS.join(" | ")]],
    example: `echo '{"notification_type":"idle_prompt"}' | autorun hook Notification`,
    run: async (c, [name]) => (await import("./agent-report.js")).runHook(c, str(name), await readStdin()),
  }),
];

/** What the controller runs on a host (`autorun host …`). */
export const HOST_COMMANDS: CommandSpec[] = [
  plain({
    name: "host prepare",
    person: true,
    hidden: true,
    summary: "(controller) make the project root a git repository if missing; print where things are and the versions here; JSON on stdin",
    example: "autorun host prepare < input.json",
    run: async (c) => (await import("./host.js")).runHost(c, "prepare", await hostInput("prepare")),
  }),
  plain({
    name: "host launch",
    person: true,
    hidden: true,
    summary: "(controller) add a stage's worktree from the pushed tip, write its context and events files, start its tmux session; JSON on stdin",
    example: "autorun host launch < input.json",
    run: async (c) => (await import("./host.js")).runHost(c, "launch", await hostInput("launch")),
  }),
  plain({
    name: "host session",
    person: true,
    hidden: true,
    summary: "(controller) start tmux sessions with their environment in a 0600 file; JSON on stdin",
    example: "autorun host session < input.json",
    run: async (c) => (await import("./host.js")).runHost(c, "session", await hostInput("session")),
  }),
  plain({
    name: "host versions",
    person: true,
    hidden: true,
    summary: "(controller) print the versions of autorun, git, tmux and the agent here; JSON on stdin",
    example: "autorun host versions < input.json",
    run: async (c) => (await import("./host.js")).runHost(c, "versions", await hostInput("versions")),
  }),
  plain({
    name: "host serve",
    person: true,
    hidden: true,
    summary: "(controller) answer host commands, one JSON request per line on stdin, until stdin ends",
    example: "autorun host serve",
    run: async (c) => (await import("./host.js")).runHostServe(c),
  }),
  plain({
    name: "host follow",
    person: true,
    hidden: true,
    summary: "(controller) stream an events file's bytes from a byte offset as they are written, until stdin ends",
    args: [["<file>", "the events file (absolute)"], ["<offset>", "the byte offset to start from"]],
    example: "autorun host follow ~/.autorun/orchestration/x/events.jsonl 0",
    run: async (_c, [file, offset]) => (await import("./host.js")).runHostFollow(str(file), str(offset)),
  }),
];
