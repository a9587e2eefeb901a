import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { genaiConfig } from "../lib/modelmaker/folder.js";
import { onnx, type GraphProto, type NodeProto, type ValueInfoProto } from "../lib/modelmaker/graph-builder.js";
import { makeModel, MODEL_PRESETS, parameterCount, qkvSize, type ModelShape } from "../lib/modelmaker/index.js";
import { writeOnnxModel } from "../lib/modelmaker/onnx-writer.js";
import { buildPhi3Graph } from "../lib/modelmaker/phi3-graph.js";
import { buildTokenizerFiles } from "../lib/modelmaker/tokenizer-files.js";

const TINY = MODEL_PRESETS.tiny;
const TINY_VOCAB = buildTokenizerFiles("tiny").vocabSize;
let tmp: string;
let tinyDir: string;
let tinyMs: number;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "modelmaker-"));
  tinyDir = path.join(tmp, "tiny-a");
  const start = performance.now();
  await makeModel({ preset: "tiny", outDir: tinyDir, seed: 1 });
  tinyMs = performance.now() - start;
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

interface Step {
  logits: ort.Tensor;
  present: ort.Tensor[];
}

/** One forward pass: `ids` are the new tokens, `past` the presents of the previous pass (or none). */
async function forward(session: ort.InferenceSession, shape: ModelShape, ids: number[], past?: Step): Promise<Step> {
  const pastLen = past ? past.present[0].dims[2] : 0;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(pastLen + ids.length).fill(1n), [1, pastLen + ids.length]),
  };
  for (let i = 0; i < shape.numLayers; i++) {
    for (const [j, kind] of ["key", "value"].entries()) {
      feeds[`past_key_values.${i}.${kind}`] =
        past?.present[2 * i + j] ?? new ort.Tensor("float32", new Float32Array(0), [1, shape.numKvHeads, 0, shape.headSize]);
    }
  }
  const out = await session.run(feeds);
  const present: ort.Tensor[] = [];
  for (let i = 0; i < shape.numLayers; i++) present.push(out[`present.${i}.key`], out[`present.${i}.value`]);
  return { logits: out.logits, present };
}

function row(logits: ort.Tensor, index: number): Float32Array {
  const vocab = logits.dims[2];
  return (logits.data as Float32Array).slice(index * vocab, (index + 1) * vocab);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

function maxAbs(a: Float32Array): number {
  return a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

function tokens(count: number, salt: number): number[] {
  return Array.from({ length: count }, (_, i) => (i * 131 + salt * 17 + 7) % TINY_VOCAB);
}

describe("tiny model folder", () => {
  it("is written in seconds with the expected files", async () => {
    expect(tinyMs).toBeLessThan(10_000);
    for (const file of [
      "genai_config.json",
      "config.json",
      "generation_config.json",
      "tokenizer.json",
      "tokenizer_config.json",
      "special_tokens_map.json",
      "model.onnx",
    ]) {
      expect((await stat(path.join(tinyDir, file))).size).toBeGreaterThan(0);
    }
  });

  it("is byte-identical for the same seed and differs for another", async () => {
    const same = path.join(tmp, "tiny-b");
    const other = path.join(tmp, "tiny-c");
    await makeModel({ preset: "tiny", outDir: same, seed: 1 });
    await makeModel({ preset: "tiny", outDir: other, seed: 2 });
    const a = await readFile(path.join(tinyDir, "model.onnx"));
    expect(a.equals(await readFile(path.join(same, "model.onnx")))).toBe(true);
    expect(a.equals(await readFile(path.join(other, "model.onnx")))).toBe(false);
  });

  it("has the genai builder's graph structure", async () => {
    const model = onnx.ModelProto.decode(await readFile(path.join(tinyDir, "model.onnx")));
    const genai = JSON.parse(await readFile(path.join(tinyDir, "genai_config.json"), "utf8"));
    const graph = model.graph!;
    const nodes = graph.node as NodeProto[];
    const count = (op: string) => nodes.filter((n) => n.opType === op).length;
    const L = TINY.numLayers;

    expect(Number(model.irVersion)).toBe(10);
    expect(model.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([
      ["", 21],
      ["com.microsoft", 1],
    ]);
    // qkv, o_proj, gate, up, down per layer, plus lm_head.
    expect(count("MatMulNBits")).toBe(5 * L + 1);
    expect(count("GroupQueryAttention")).toBe(L);
    expect(count("SimplifiedLayerNormalization")).toBe(1);
    expect(count("SkipSimplifiedLayerNormalization")).toBe(2 * L);
    expect(count("Sigmoid")).toBe(L);
    expect(count("Mul")).toBe(2 * L);
    expect(count("If")).toBe(1);

    for (const n of nodes.filter((n) => n.domain === "com.microsoft")) {
      expect(["MatMulNBits", "GroupQueryAttention", "SkipSimplifiedLayerNormalization"]).toContain(n.opType);
    }
    const attrs = (n: NodeProto) => Object.fromEntries((n.attribute ?? []).map((a) => [a.name, a.type === 1 ? a.f : a.type === 2 ? Number(a.i) : a]));

    const gqa = nodes.find((n) => n.opType === "GroupQueryAttention")!;
    expect(gqa.input).toEqual([
      "/model/layers.0/attn/qkv_proj/MatMul/output_0",
      "",
      "",
      "past_key_values.0.key",
      "past_key_values.0.value",
      "/model/attn_mask_reformat/attn_mask_subgraph/Sub/Cast/output_0",
      "/model/attn_mask_reformat/attn_mask_subgraph/Gather/Cast/output_0",
      "cos_cache",
      "sin_cache",
    ]);
    expect(gqa.output).toEqual(["/model/layers.0/attn/GroupQueryAttention/output_0", "present.0.key", "present.0.value"]);
    const g = attrs(gqa);
    expect(g.num_heads).toBe(TINY.numHeads);
    expect(g.kv_num_heads).toBe(TINY.numKvHeads);
    expect(g.scale).toBeCloseTo(1 / Math.sqrt(TINY.headSize), 6);
    expect(g.do_rotary).toBe(1);
    expect(g.rotary_interleaved).toBe(0);
    expect(g.local_window_size).toBe(TINY.slidingWindow);

    const qkv = nodes.find((n) => n.name === "/model/layers.0/attn/qkv_proj/MatMul_Q4")!;
    expect(attrs(qkv)).toMatchObject({ K: 256, N: qkvSize(TINY), bits: 4, block_size: 32, accuracy_level: 4 });
    const b = graph.initializer!.find((t) => t.name === qkv.input![1])!;
    expect(b.dims!.map(Number)).toEqual([qkvSize(TINY), 256 / 32, 16]);
    expect(b.dataType).toBe(2);
    const scales = graph.initializer!.find((t) => t.name === qkv.input![2])!;
    expect(scales.dims!.map(Number)).toEqual([(qkvSize(TINY) * 256) / 32]);

    const lmHead = nodes.find((n) => n.opType === "MatMulNBits" && n.output![0] === "logits")!;
    expect(attrs(lmHead)).toMatchObject({ K: 256, N: TINY_VOCAB });

    const ifNode = nodes.find((n) => n.opType === "If")!;
    expect(ifNode.output).toEqual(["cos_cache", "sin_cache"]);
    const branches = Object.fromEntries(ifNode.attribute!.map((a) => [a.name, a.g!]));
    const width = (TINY.headSize * 0.75) / 2;
    const branchDims = (g: GraphProto) => g.node![0].attribute![0].t!.dims!.map(Number);
    expect(branchDims(branches.then_branch)).toEqual([TINY.maxPositionEmbeddings, width]);
    expect(branchDims(branches.else_branch)).toEqual([TINY.originalMaxPositionEmbeddings, width]);
    const greater = nodes.find((n) => n.output![0] === ifNode.input![0])!;
    expect(greater.opType).toBe("Greater");
    expect(greater.input![0]).toBe("/model/attn_mask_reformat/attn_mask_subgraph/Gather/output_0");

    const d = genai.model.decoder;
    const expectedInputs = [d.inputs.input_ids, d.inputs.attention_mask];
    const expectedOutputs = [d.outputs.logits];
    for (let i = 0; i < d.num_hidden_layers; i++) {
      expectedInputs.push(d.inputs.past_key_names.replace("%d", i), d.inputs.past_value_names.replace("%d", i));
      expectedOutputs.push(d.outputs.present_key_names.replace("%d", i), d.outputs.present_value_names.replace("%d", i));
    }
    expect(graph.input!.map((v) => v.name)).toEqual(expectedInputs);
    expect(graph.output!.map((v) => v.name)).toEqual(expectedOutputs);
    const dims = (v: ValueInfoProto) => v.type!.tensorType!.shape!.dim!.map((x) => x.dimParam || Number(x.dimValue));
    expect(dims(graph.input![0])).toEqual(["batch_size", "sequence_length"]);
    expect(dims(graph.input![1])).toEqual(["batch_size", "total_sequence_length"]);
    expect(dims(graph.input![2])).toEqual(["batch_size", 2, "past_sequence_length", 64]);
    expect(dims(graph.output![0])).toEqual(["batch_size", "sequence_length", TINY_VOCAB]);
    expect(dims(graph.output![1])).toEqual(["batch_size", 2, "total_sequence_length", 64]);
    expect(genai.model.vocab_size).toBe(TINY_VOCAB);
    expect(genai.search.max_length).toBe(TINY.maxPositionEmbeddings);
    expect(genai.search.past_present_share_buffer).toBe(true);
  });
});

describe("tiny model in onnxruntime-node", () => {
  let session: ort.InferenceSession;
  beforeAll(async () => {
    session = await ort.InferenceSession.create(path.join(tinyDir, "model.onnx"));
  });
  afterAll(async () => {
    await session?.release();
  });

  it("prefills, then decodes one token in agreement with full recomputation", async () => {
    const prompt = tokens(5, 1);
    const first = await forward(session, TINY, prompt);
    expect(first.logits.dims).toEqual([1, 5, TINY_VOCAB]);
    for (const p of first.present) expect(p.dims).toEqual([1, TINY.numKvHeads, 5, TINY.headSize]);

    const next = argmax(row(first.logits, 4));
    const step = await forward(session, TINY, [next], first);
    expect(step.logits.dims).toEqual([1, 1, TINY_VOCAB]);
    for (const p of step.present) expect(p.dims).toEqual([1, TINY.numKvHeads, 6, TINY.headSize]);

    const full = await forward(session, TINY, [...prompt, next]);
    const expected = row(full.logits, 5);
    expect(maxAbsDiff(row(step.logits, 0), expected)).toBeLessThan(1e-3 * maxAbs(expected));
  });

  it("switches to the long RoPE caches past original_max_position_embeddings", async () => {
    const original = TINY.originalMaxPositionEmbeddings;
    const long = tokens(original + 6, 2);
    const longRun = await forward(session, TINY, long);
    expect(longRun.logits.dims).toEqual([1, original + 6, TINY_VOCAB]);
    const shortRun = await forward(session, TINY, long.slice(0, original));
    const shorter = await forward(session, TINY, long.slice(0, original - 4));
    // Causal: within one regime, a prefix's logits do not depend on what follows...
    const p = original - 5;
    expect(maxAbsDiff(row(shorter.logits, p), row(shortRun.logits, p))).toBeLessThan(1e-3 * maxAbs(row(shortRun.logits, p)));
    // ...so a difference at the same position comes from the long caches alone.
    const last = original - 1;
    expect(maxAbsDiff(row(longRun.logits, last), row(shortRun.logits, last))).toBeGreaterThan(1e-2 * maxAbs(row(shortRun.logits, last)));
  });

  it("gives input-dependent greedy tokens", async () => {
    const picks = new Set<number>();
    for (let salt = 0; salt < 6; salt++) {
      const run = await forward(session, TINY, tokens(3 + salt, salt));
      picks.add(argmax(row(run.logits, 2 + salt)));
    }
    expect(picks.size).toBeGreaterThanOrEqual(4);

    // A greedy continuation does not lock onto one token either.
    let step = await forward(session, TINY, tokens(4, 9));
    const generated: number[] = [];
    for (let i = 0; i < 10; i++) {
      const next = argmax(row(step.logits, step.logits.dims[1] - 1));
      generated.push(next);
      step = await forward(session, TINY, [next], step);
    }
    expect(new Set(generated).size).toBeGreaterThan(2);
  });
});

describe("phi4-mini preset", () => {
  const PHI4 = MODEL_PRESETS["phi4-mini"];

  it("has Phi-4-mini's parameter count and tensor shapes", () => {
    expect(parameterCount(PHI4, 200064)).toBe(3_836_021_760);
    const graph = buildPhi3Graph({ shape: PHI4, vocabSize: 200064, seed: 0 });
    const byName = new Map(graph.initializers.map((t) => [t.name, t]));
    expect(byName.get("model.embed_tokens.weight")!.dims).toEqual([200064, 3072]);
    expect(byName.get("model.layers.0.attn.qkv_proj.MatMul.weight_Q4")!.dims).toEqual([5120, 96, 16]);
    expect(byName.get("model.layers.31.mlp.down_proj.MatMul.weight_Q4")!.dims).toEqual([3072, 256, 16]);
    expect(byName.get("lm_head.MatMul.weight_Q4")!.dims).toEqual([200064, 96, 16]);
    expect(byName.get("lm_head.MatMul.weight_scales")!.dims).toEqual([200064 * 96]);
    const total = graph.initializers.reduce((s, t) => s + t.byteLength, 0);
    expect(total).toBeGreaterThan(4.5e9);
    expect(total).toBeLessThan(5.2e9);
    // The first chunk of the 2.4 GB table is produced without materializing the rest.
    const first = byName.get("model.embed_tokens.weight")!.chunks()[Symbol.iterator]().next().value as Uint8Array;
    expect(first.length).toBeLessThanOrEqual(16 << 20);
    const ifNode = graph.nodes.find((n) => n.opType === "If")!;
    const large = ifNode.attribute!.find((a) => a.name === "then_branch")!.g!.node![0].attribute![0].t!;
    expect(large.dims).toEqual([131072, 48]);
  });

  it("writes external data that onnxruntime loads and runs (one layer, small vocab)", async () => {
    const shape: ModelShape = { ...PHI4, numLayers: 1, maxPositionEmbeddings: 8192 };
    const dir = path.join(tmp, "phi4-external");
    await mkdir(dir, { recursive: true });
    const progress: number[] = [];
    const written = await writeOnnxModel({
      graph: buildPhi3Graph({ shape, vocabSize: 512, seed: 3 }),
      dir,
      fileName: "model.onnx",
      externalData: true,
      onProgress: (done, total) => progress.push(done / total),
    });
    expect(written.files).toEqual(["model.onnx", "model.onnx.data"]);
    expect(progress.at(-1)).toBe(1);
    expect((await stat(path.join(dir, "model.onnx.data"))).size).toBeGreaterThan(60e6);

    const session = await ort.InferenceSession.create(path.join(dir, "model.onnx"));
    try {
      const run = await forward(session, shape, [1, 2, 3]);
      expect(run.logits.dims).toEqual([1, 3, 512]);
      expect(run.present[0].dims).toEqual([1, 8, 3, 128]);
      expect(Number.isFinite(maxAbs(row(run.logits, 2)))).toBe(true);
    } finally {
      await session.release();
    }
  });
});

describe("tiny-phi4-long preset", () => {
  it("is tiny-phi4 with Phi-4-mini's context and RoPE switch", () => {
    const LONG = MODEL_PRESETS["tiny-phi4-long"];
    expect({ ...LONG, maxPositionEmbeddings: 0, originalMaxPositionEmbeddings: 0 }).toEqual({
      ...MODEL_PRESETS["tiny-phi4"],
      maxPositionEmbeddings: 0,
      originalMaxPositionEmbeddings: 0,
    });
    expect(LONG.maxPositionEmbeddings).toBe(MODEL_PRESETS["phi4-mini"].maxPositionEmbeddings);
    expect(LONG.originalMaxPositionEmbeddings).toBe(MODEL_PRESETS["phi4-mini"].originalMaxPositionEmbeddings);
    const tok = buildTokenizerFiles(LONG.tokenizer);
    expect(genaiConfig(LONG, tok, "model.onnx")).toMatchObject({ model: { context_length: 131072 }, search: { max_length: 131072 } });

    const graph = buildPhi3Graph({ shape: LONG, vocabSize: tok.vocabSize, seed: 0 });
    const ifNode = graph.nodes.find((n) => n.opType === "If")!;
    const cache = (branch: string) => ifNode.attribute!.find((a) => a.name === branch)!.g!.node![0].attribute![0].t!.dims;
    expect(cache("then_branch")).toEqual([131072, 24]);
    expect(cache("else_branch")).toEqual([4096, 24]);
  });
});
