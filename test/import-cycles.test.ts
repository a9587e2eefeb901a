/**
 * lib/ has no import cycle, type-only imports included: each layer's files point one way, so a file
 * can be read (and loaded) knowing only what it imports. A failure lists each cycle's files.
 */
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { findCycles, readImportGraph, type ImportGraph } from "./helpers/import-graph.js";

const lib = fileURLToPath(new URL("../lib", import.meta.url));

describe("import graph of lib/", () => {
  const graph = readImportGraph(lib);

  it("has no cycle, counting type-only and dynamic imports", () => {
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
});
