/**
 * The structure of lib/, checked from the sources (see docs/architecture.md):
 *   - no import cycle, type-only and dynamic imports included (a failure lists each cycle's files);
 *   - each layer imports only the layers below it (providers know nothing of the router, MCP nothing
 *     of the router, the engine nothing of the Messages layers);
 *   - no exported type, interface or class is declared in two files;
 *   - each package entry exists, and the root entry (the engine) does not load the layers above it,
 *     the model maker, the bench, or onnx-proto's protobuf code.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import ts from "typescript";
import { describe, expect, it } from "vitest";

import { findCycles, loadedBy, readImportGraph, type ImportGraph } from "./helpers/import-graph.js";

const lib = fileURLToPath(new URL("../lib", import.meta.url));
const packageJson = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  exports: Record<string, string | { import: string; types: string }>;
};

/** Bottom to top; a file may import its own layer and those listed before it. */
const LAYERS: [name: string, dirs: string[]][] = [
  ["util", ["util"]],
  ["engine", ["engine", "tokenizer", "chat"]],
  ["messages", ["messages"]],
  ["tools", ["tools"]],
  ["providers", ["providers"]],
  ["mcp", ["mcp"]],
  ["router", ["router"]],
  ["agent", ["agent"]],
  ["server", ["server"]],
  ["apps", ["cli", "bench", "modelmaker", "pull", "."]],
];

function layerOf(file: string): number {
  const dir = file.includes("/") ? file.slice(0, file.indexOf("/")) : ".";
  const index = LAYERS.findIndex(([, dirs]) => dirs.includes(dir));
  if (index < 0) throw new Error(`${file} is in no layer: add its folder to LAYERS`);
  return index;
}

describe("lib/ structure", () => {
  const graph = readImportGraph(lib);

  it("has no import cycle, counting type-only and dynamic imports", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(findCycles(graph).map((files) => `cycle among ${files.join(", ")}`)).toEqual([]);
  });

  it("finds a cycle when there is one (the checker itself can fail)", () => {
    const looped: ImportGraph = new Map([
      ["a.ts", [{ to: "b.ts", kind: "type" }]],
      ["b.ts", [{ to: "c.ts", kind: "value" }]],
      ["c.ts", [{ to: "a.ts", kind: "dynamic" }]],
      ["d.ts", [{ to: "a.ts", kind: "value" }]],
    ]);
    expect(findCycles(looped)).toEqual([["a.ts", "b.ts", "c.ts"]]);
    expect(findCycles(looped, ["value"])).toEqual([]);
  });

  it("imports downwards only: each layer uses its own and the layers below", () => {
    const upward: string[] = [];
    for (const [file, edges] of graph) {
      for (const edge of edges) {
        if (edge.to.startsWith("package:")) continue;
        if (layerOf(edge.to) > layerOf(file)) upward.push(`${file} (${LAYERS[layerOf(file)]![0]}) imports ${edge.to} (${LAYERS[layerOf(edge.to)]![0]})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it("declares each exported type, interface and class once", () => {
    const declaredIn = new Map<string, string[]>();
    for (const file of graph.keys()) {
      const source = ts.createSourceFile(file, readFileSync(path.join(lib, file), "utf8"), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
      for (const statement of source.statements) {
        const declaration =
          ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isEnumDeclaration(statement);
        const exported = ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
        if (!declaration || !exported || !statement.name) continue;
        declaredIn.set(statement.name.text, [...(declaredIn.get(statement.name.text) ?? []), file]);
      }
    }
    expect(declaredIn.get("StopReason")).toEqual(["messages/types.ts"]);
    expect([...declaredIn].filter(([, files]) => files.length > 1).map(([name, files]) => `${name} in ${files.join(", ")}`)).toEqual([]);
  });

  it("has a source file for every package entry", () => {
    const entries = Object.entries(packageJson.exports).filter(([key]) => key !== "./package.json");
    expect(entries.length).toBeGreaterThan(5);
    for (const [key, target] of entries) {
      expect(typeof target, key).toBe("object");
      const { import: js, types } = target as { import: string; types: string };
      expect(types, key).toBe(js.replace(/\.js$/, ".d.ts"));
      expect(graph.has(js.replace(/^\.\/dist\//, "").replace(/\.js$/, ".ts")), `${key} -> ${js}`).toBe(true);
    }
  });

  it("loads only the engine from the root entry", () => {
    const loaded = [...loadedBy(graph, "index.ts")];
    const above = loaded.filter((file) => !file.startsWith("package:") && layerOf(file) > layerOf("engine/model.ts") && file !== "index.ts");
    expect(above).toEqual([]);
    expect(loaded.filter((file) => /^(modelmaker|bench|cli)\//.test(file))).toEqual([]);
    for (const heavy of ["package:onnx-proto", "package:protobufjs", "package:js-tiktoken", "package:@modelcontextprotocol/sdk", "package:ajv"])
      expect(loaded).not.toContain(heavy);
    // The engine itself is there: the check is not vacuous.
    expect(loaded).toEqual(expect.arrayContaining(["engine/model.ts", "engine/sequence.ts", "tokenizer/tokenizer.ts"]));
  });

  it("keeps the model maker and the bench off the CLI's path until their command runs", () => {
    const loaded = [...loadedBy(graph, "cli/main.ts")];
    expect(loaded.filter((file) => /^(modelmaker|bench|server|router|mcp|agent)\//.test(file))).toEqual([]);
  });
});
