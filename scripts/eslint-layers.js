/**
 * An ESLint rule: each module of src/ belongs to a layer (the first entry of `layers` whose `path`
 * holds it: a directory ending in "/", or one file), and may import only modules of its own layer
 * and of the layers its entry names in `may`. Static, type-only, re-export and dynamic imports
 * (`await import("…")`) are all arrows. The table itself is docs/ARCHITECTURE.md's "Layers".
 * `sealed` names exports only their own layer may import (`{ module, names, layer, why }`).
 */
import { dirname, relative, resolve } from "node:path";

function layerOf(layers, rel) {
  return layers.find((l) => (l.path.endsWith("/") ? rel.startsWith(l.path) : rel === l.path));
}

export const layers = {
  meta: {
    type: "problem",
    schema: [
      {
        type: "object",
        properties: {
          root: { type: "string" },
          layers: { type: "array", items: { type: "object", properties: { name: { type: "string" }, path: { type: "string" }, may: { type: "array", items: { type: "string" } } } } },
          sealed: { type: "array", items: { type: "object", properties: { module: { type: "string" }, names: { type: "array", items: { type: "string" } }, layer: { type: "string" }, why: { type: "string" } } } },
        },
      },
    ],
    messages: {
      against: "{{from}} ({{fromLayer}}) may not import {{to}} ({{toLayer}}): {{fromLayer}} may use only {{allowed}} (docs/ARCHITECTURE.md, Layers). Move what both need into a layer below them.",
      sealed: "{{from}} may not import {{name}} from {{to}}: only {{layer}} may ({{why}}).",
      unknown: "{{file}} is in no layer of the table; add it to the layers in eslint.config.js and docs/ARCHITECTURE.md.",
    },
  },
  create(context) {
    const root = resolve(context.options[0]?.root ?? "src");
    const table = context.options[0]?.layers ?? [];
    const sealed = context.options[0]?.sealed ?? [];
    const file = resolve(context.filename);
    if (!file.startsWith(root + "/")) return {};
    const rel = relative(root, file);
    const own = layerOf(table, rel);
    if (!own) {
      return { Program: (node) => context.report({ node, messageId: "unknown", data: { file: rel } }) };
    }
    const check = (node) => {
      const spec = node.source?.value;
      if (typeof spec !== "string" || !spec.startsWith(".")) return;
      const targetRel = relative(root, resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      if (targetRel.startsWith("..")) return;
      for (const seal of sealed) {
        if (seal.module !== targetRel || seal.layer === own.name) continue;
        for (const spec of node.specifiers ?? []) {
          const name = spec.imported?.name ?? spec.local?.name;
          if (seal.names.includes(name)) context.report({ node: spec, messageId: "sealed", data: { from: rel, name, to: targetRel, layer: seal.layer, why: seal.why } });
        }
      }
      const target = layerOf(table, targetRel);
      if (!target || target.name === own.name || own.may.includes(target.name)) return;
      context.report({ node, messageId: "against", data: { from: rel, fromLayer: own.name, to: targetRel, toLayer: target.name, allowed: own.may.length ? own.may.join(", ") : "nothing" } });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};
