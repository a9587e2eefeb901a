/**
 * The load-time rewrite that runs the lm_head on the last position only: what it changes in the
 * graph, that it leaves the file alone, and that graphs of another shape load unchanged.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import onnxProto from "onnx-proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { rewriteGraph } from "../lib/engine/graph-rewrites.js";
import { LOGITS_START_INPUT } from "../lib/engine/logits-start.js";
import { loadModel } from "../lib/index.js";

const { onnx } = onnxProto;
const models = inject("models");

/** The parts of a decoded graph these tests read (protobufjs fills every repeated field, typed optional). */
interface Graph {
  node: { opType: string; input: string[]; output: string[] }[];
  input: { name: string }[];
  output: { name: string; type: { tensorType: { shape: { dim: { dimValue?: unknown; dimParam?: string }[] } } } }[];
}
const graphOf = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph as unknown as Graph;

describe("the last-position rewrite", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "phi4-lastpos-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("slices the hidden states to the last position in front of the lm_head, and nothing else", async () => {
    const file = path.join(models.tiny, "model.onnx");
    const before = await readFile(file);
    const rewritten = await rewriteGraph(file, { lastPositionLogits: "logits", int4Kernel: false });
    expect(rewritten?.lastPositionLogits).toBe(true);
    const bytes = rewritten!.bytes;
    expect(await readFile(file)).toEqual(before);

    const original = graphOf(before);
    const graph = graphOf(bytes);
    expect(graph.node.length).toBe(original.node.length + 1);
    const lmHead = graph.node.find((n) => n.output.includes("logits"))!;
    const slice = graph.node.find((n) => n.opType === "Slice" && n.output[0] === lmHead.input[0])!;
    expect(slice).toBeDefined();
    // The slice reads what the lm_head read before, and comes before it.
    const originalLmHead = original.node.find((n) => n.output.includes("logits"))!;
    expect(slice.input[0]).toBe(originalLmHead.input[0]);
    expect(graph.node.indexOf(slice)).toBeLessThan(graph.node.indexOf(lmHead));
    // Where the slice starts is an input the addon feeds (-1, or -(k+1) to verify k drafted tokens).
    expect(slice.input[1]).toBe(LOGITS_START_INPUT);
    expect(graph.input.map((i) => i.name)).toContain(LOGITS_START_INPUT);
    const logits = graph.output.find((o) => o.name === "logits")!;
    expect(logits.type.tensorType.shape.dim[1].dimParam).toBe("logits_rows");
  });

  it("leaves a graph alone when the logits do not come straight from a MatMul", async () => {
    const folder = path.join(dir, "add-after-lm-head");
    await cp(models.tiny, folder, { recursive: true });
    const file = path.join(folder, "model.onnx");
    const model = onnx.ModelProto.decode(await readFile(file));
    const graph = model.graph as unknown as Graph & { node: object[] };
    const lmHead = graph.node.find((n) => n.output.includes("logits"))!;
    lmHead.output[0] = "logits_before_add";
    graph.node.push(onnx.NodeProto.create({ name: "identity_add", opType: "Add", input: ["logits_before_add", "logits_before_add"], output: ["logits"] }));
    await writeFile(file, onnx.ModelProto.encode(model).finish());

    expect(await rewriteGraph(file, { lastPositionLogits: "logits", int4Kernel: false })).toBeNull();
    const loaded = await loadModel(folder);
    try {
      expect(loaded.info.lastPositionLogits).toBe(false);
      const sequence = await loaded.createSequence({ capacity: 64 });
      const result = await sequence.generateText([1, 2, 3, 4, 5, 6, 7, 8], { maxTokens: 4, stopTokens: [], sampling: { greedy: true } });
      expect(result.tokens).toHaveLength(4);
    } finally {
      await loaded.dispose();
    }
  });

  it("returns null for a file that is not ONNX, so the loader reports ONNX Runtime's own error", async () => {
    const file = path.join(dir, "garbage.onnx");
    await writeFile(file, Buffer.from("this is not a protobuf \u00ff\u00fe", "latin1"));
    expect(await rewriteGraph(file, { lastPositionLogits: "logits", int4Kernel: false })).toBeNull();
  });
});
