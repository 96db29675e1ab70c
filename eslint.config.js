import tseslint from "typescript-eslint";
import { noImportCycle } from "./scripts/eslint-no-import-cycle.js";
import { layers } from "./scripts/eslint-layers.js";

// The layers of src/, bottom first (docs/ARCHITECTURE.md, "Layers"): each may import its own layer
// and those it names, nothing above it. `autorun/layers` fails on an import against the table.
const below = (...names) => names;
const LAYERS = [
  { name: "errors", path: "errors.ts", may: below() },
  { name: "types", path: "types/", may: below("errors") },
  { name: "core", path: "core/", may: below("types", "errors") },
  { name: "state", path: "state/", may: below("core", "types", "errors") },
  { name: "adapters", path: "adapters/", may: below("core", "types", "errors") },
  { name: "host", path: "host/", may: below("state", "adapters", "core", "types", "errors") },
  { name: "monitor", path: "monitor/", may: below("host", "state", "adapters", "core", "types", "errors") },
  { name: "tui", path: "tui/", may: below("monitor", "host", "state", "adapters", "core", "types", "errors") },
  { name: "commands", path: "commands/", may: below("tui", "monitor", "host", "state", "adapters", "core", "types", "errors") },
  { name: "cli", path: "cli.ts", may: below("commands", "tui", "monitor", "host", "state", "adapters", "core", "types", "errors") },
];
// Writers of events.jsonl without the schema: every other module writes through src/state/
// (validated: `appendFor`, the handle's `append`; the agents' fixed-shape events: `appendAgentEvent`).
const SEALED = [{ module: "state/append.ts", names: ["appendLine", "appendLines"], layer: "state", why: "events are written through src/state/orchestration.ts or agent-append.ts" }];

// Within those: only adapters start processes, only the TUI loads blessed, only cli.ts knows
// commander, and core stays pure.
const noProcess = {
  paths: [
    { name: "execa", message: "Only src/adapters/ may start processes." },
    { name: "child_process", message: "Only src/adapters/ may start processes." },
    { name: "node:child_process", message: "Only src/adapters/ may start processes." },
    { name: "blessed", message: "Only src/tui/ may import blessed." },
    { name: "commander", message: "Only src/cli.ts may import commander." },
  ],
};

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/"] },
  ...tseslint.configs.recommended,
  {
    files: ["src/**/*.ts"],
    plugins: { autorun: { rules: { "no-import-cycle": noImportCycle, layers } } },
    rules: {
      "no-restricted-imports": ["error", noProcess],
      "autorun/no-import-cycle": ["error", { root: "src" }],
      "autorun/layers": ["error", { root: "src", layers: LAYERS, sealed: SEALED }],
    },
  },
  {
    files: ["src/adapters/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { paths: noProcess.paths.filter((p) => !["execa", "child_process", "node:child_process"].includes(p.name)) }],
    },
  },
  {
    files: ["src/tui/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { paths: noProcess.paths.filter((p) => p.name !== "blessed") }],
    },
  },
  {
    files: ["src/cli.ts"],
    rules: {
      "no-restricted-imports": ["error", { paths: noProcess.paths.filter((p) => p.name !== "commander") }],
    },
  },
  {
    files: ["src/core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: noProcess.paths,
          patterns: [{ group: ["node:fs", "node:fs/*", "fs", "../adapters/*", "../monitor/*"], message: "src/core is pure: no fs, no processes." }],
        },
      ],
    },
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  // Functions short enough to read at once (80 lines, blank lines and comments aside), and a
  // parameter object instead of a fifth positional parameter. No file is exempt.
  {
    files: ["src/**/*.ts"],
    rules: {
      "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }],
      "max-params": ["error", 4],
    },
  },
  // Type-aware rules where a slip costs most: a promise nobody awaits (a merge or a write that
  // fails unseen) and a switch over an event or state union that misses a member.
  {
    files: ["src/**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
    },
  },
);
