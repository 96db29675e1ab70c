/**
 * An ESLint rule: no module of src/ may import, directly or through others, a module that imports
 * it back (type-only imports included: they are the arrows a reader follows). The graph of src/'s
 * relative imports is read from the files once per lint run; the rule reports each import of the
 * file being linted that leads back to it, with the cycle.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const IMPORT = /^\s*(?:import|export)\s[^;]*?\sfrom\s+"(\.[^"]+)"/gms;

/** The relative imports of every .ts file under `root`, by absolute path. */
function readGraph(root) {
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith(".ts")) files.push(resolve(path));
    }
  };
  walk(root);
  const known = new Set(files);
  const graph = new Map();
  for (const file of files) {
    const targets = [...readFileSync(file, "utf8").matchAll(IMPORT)].map((m) => resolve(dirname(file), m[1].replace(/\.js$/, ".ts")));
    graph.set(file, targets.filter((t) => known.has(t)));
  }
  return graph;
}

/** A path of imports from `from` to `to`, or undefined. */
function pathTo(graph, from, to) {
  const seen = new Set([from]);
  const queue = [[from]];
  while (queue.length > 0) {
    const path = queue.shift();
    for (const next of graph.get(path[path.length - 1]) ?? []) {
      if (next === to) return [...path, next];
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push([...path, next]);
    }
  }
  return undefined;
}

const graphs = new Map();

export const noImportCycle = {
  meta: { type: "problem", schema: [{ type: "object", properties: { root: { type: "string" } } }], messages: { cycle: "import cycle: {{cycle}}. Move what both sides need into a module below them." } },
  create(context) {
    const root = resolve(context.options[0]?.root ?? "src");
    const file = resolve(context.filename);
    if (!file.startsWith(root + "/")) return {};
    if (!graphs.has(root)) graphs.set(root, readGraph(root));
    const graph = graphs.get(root);
    const check = (node) => {
      const spec = node.source?.value;
      if (typeof spec !== "string" || !spec.startsWith(".")) return;
      const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
      const back = target === file ? [file] : pathTo(graph, target, file);
      if (!back) return;
      const cycle = [file, ...back].map((p) => relative(root, p)).join(" → ");
      context.report({ node, messageId: "cycle", data: { cycle } });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check };
  },
};
