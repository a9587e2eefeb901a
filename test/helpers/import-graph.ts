/**
 * The import graph of lib/, read from the sources with the TypeScript parser: every relative import
 * and re-export, type-only ones included, and dynamic `import()` calls and `import("x").T` types.
 * The import-cycle test and the public-surface test (what an entry loads) both walk it.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

import ts from "typescript";

/** "value": loaded when the importer loads; "type": erased at compile time; "dynamic": loaded on demand. */
export type ImportKind = "value" | "type" | "dynamic";

export interface ImportEdge {
  to: string;
  kind: ImportKind;
}

/** Files (paths relative to `root`, with "/") to their imports of other files under `root`; packages are listed under "package:name". */
export type ImportGraph = Map<string, ImportEdge[]>;

export function readImportGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of listTs(root)) {
    const text = readFileSync(file, "utf8");
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const edges: ImportEdge[] = [];
    const add = (specifier: string, kind: ImportKind) => {
      const to = resolve(root, file, specifier);
      if (to) edges.push({ to, kind });
    };
    const visit = (node: ts.Node) => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        add(node.moduleSpecifier.text, importIsTypeOnly(node) ? "type" : "value");
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        const typeOnly =
          node.isTypeOnly ||
          (node.exportClause !== undefined &&
            ts.isNamedExports(node.exportClause) &&
            node.exportClause.elements.length > 0 &&
            node.exportClause.elements.every((e) => e.isTypeOnly));
        add(node.moduleSpecifier.text, typeOnly ? "type" : "value");
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] &&
        ts.isStringLiteral(node.arguments[0])
      ) {
        add(node.arguments[0].text, "dynamic");
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
        add(node.argument.literal.text, "type");
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    graph.set(relative(root, file), edges);
  }
  return graph;
}

/** Every cycle's files (one strongly connected component each, Tarjan's algorithm), over edges of the given kinds. */
export function findCycles(graph: ImportGraph, kinds: readonly ImportKind[] = ["value", "type", "dynamic"]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const successors = (v: string) => (graph.get(v) ?? []).filter((e) => kinds.includes(e.kind) && graph.has(e.to)).map((e) => e.to);
  const connect = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of successors(v)) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || successors(v).includes(v)) cycles.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  return cycles;
}

/** Files and packages that loading `entry` loads (value imports, transitively; type and dynamic imports skipped). */
export function loadedBy(graph: ImportGraph, entry: string): Set<string> {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    for (const edge of graph.get(queue.pop()!) ?? []) {
      if (edge.kind !== "value" || seen.has(edge.to)) continue;
      seen.add(edge.to);
      queue.push(edge.to);
    }
  }
  return seen;
}

function importIsTypeOnly(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return false; // `import "x"`: loaded for its side effects
  if (clause.isTypeOnly) return true;
  if (clause.name) return false;
  const bindings = clause.namedBindings;
  return bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
}

function resolve(root: string, from: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return specifier.startsWith("node:") ? undefined : `package:${packageName(specifier)}`;
  const target = path.resolve(path.dirname(from), specifier).replace(/\.js$/, ".ts");
  for (const candidate of [target, `${target}.ts`, path.join(target, "index.ts")]) {
    if (existsSync(candidate) && candidate.endsWith(".ts")) return relative(root, candidate);
  }
  return undefined; // JSON and other non-TypeScript files
}

function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return listTs(full);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [full] : [];
  });
}

function relative(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join("/");
}
