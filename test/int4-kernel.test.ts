/**
 * The addon's int4 kernel (native/int4_matmul.h) held to ONNX Runtime's MatMulNBits (accuracy level
 * 4) on the same inputs, and the load-time rewrite that points a graph's MatMulNBits nodes at it.
 * The engine-level oracle (engine-oracle.test.ts) runs whole models with and without it.
 */
import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadBinding } from "../lib/engine/binding.js";
import { rewriteGraph } from "../lib/engine/graph-rewrites.js";
import type { NativeBinding } from "../lib/engine/native-types.js";
import { int4KernelSupported } from "../lib/engine/runtime.js";
import { loadModel } from "../lib/index.js";
import { roundToFloat16 } from "../lib/modelmaker/float16.js";
import { makeModel } from "../lib/modelmaker/index.js";
import { THIS_CPU } from "./helpers/cpu.js";
import { relativeError } from "./helpers/oracle.js";

const { onnx } = onnxProto;
const models = inject("models");
const binding = loadBinding() as unknown as NativeBinding;

/** Deterministic pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

interface Case {
  rows: number;
  k: number;
  n: number;
  a: Float32Array;
  weights: Uint8Array;
  scales: Float32Array;
}

function randomCase(rows: number, k: number, n: number, seed: number): Case {
  const next = random(seed);
  const a = Float32Array.from({ length: rows * k }, () => (next() - 0.5) * 4);
  // Rows the quantization must get right at its edges: all zeros (scale 0), and a huge range.
  if (rows > 2) a.fill(0, k, 2 * k);
  if (rows > 3) for (let i = 3 * k; i < 4 * k; i++) a[i] *= i % 7 === 0 ? 1e4 : 1e-3;
  const weights = Uint8Array.from({ length: (n * k) / 2 }, () => Math.floor(next() * 256));
  const scales = Float32Array.from({ length: (n * k) / 32 }, () => next() * 0.05);
  return { rows, k, n, a, weights, scales };
}

/** The same product through onnxruntime-node: a one-node MatMulNBits model. */
async function onnxRuntimeProduct({ rows, k, n, a, weights, scales }: Case): Promise<Float32Array> {
  const int = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  const tensor = (name: string, elemType: number, dims: number[]) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((dimValue) => ({ dimValue })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [
      { domain: "", version: 17 },
      { domain: "com.microsoft", version: 1 },
    ],
    graph: {
      name: "matmul",
      node: [
        {
          opType: "MatMulNBits",
          domain: "com.microsoft",
          input: ["A", "B", "scales"],
          output: ["Y"],
          attribute: [int("K", k), int("N", n), int("bits", 4), int("block_size", 32), int("accuracy_level", 4)],
        },
      ],
      initializer: [
        { name: "B", dataType: onnx.TensorProto.DataType.UINT8, dims: [n, k / 32, 16], rawData: weights },
        { name: "scales", dataType: onnx.TensorProto.DataType.FLOAT, dims: [n, k / 32], rawData: new Uint8Array(scales.buffer) },
      ],
      input: [tensor("A", onnx.TensorProto.DataType.FLOAT, [rows, k])],
      output: [tensor("Y", onnx.TensorProto.DataType.FLOAT, [rows, n])],
    },
  });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { intraOpNumThreads: 1 });
  try {
    const { Y } = await session.run({ A: new ort.Tensor("float32", a, [rows, k]) });
    return Y.data as Float32Array;
  } finally {
    await session.release();
  }
}

const variants = binding.int4KernelVariants();
const bestVariant = binding.int4KernelVariant;

it("lists its variants, fastest first, and uses the fastest this CPU runs", () => {
  expect(variants.map((v) => v.name)).toEqual(["avx512vnni", "avxvnni", "avx2", "portable"]);
  expect(variants.find((v) => v.name === "portable")?.supported).toBe(true);
  expect(bestVariant).toBe(variants.find((v) => v.supported)?.name);
  expect(int4KernelSupported()).toBe(bestVariant !== "portable");
  console.info(
    `int4 kernel variants on ${THIS_CPU}: ${variants.map((v) => `${v.name} ${v.supported ? "runs" : "not available"}`).join(", ")}; models use ${bestVariant}`,
  );
});

// Every variant against ONNX Runtime, wherever the CPU runs the variant; a variant this
// CPU lacks says so in its test's name instead of passing.
for (const variant of variants) {
  const title = variant.supported
    ? `the ${variant.name} int4 kernel (runs on ${THIS_CPU})`
    : `the ${variant.name} int4 kernel (not run: ${THIS_CPU} lacks ${variant.name})`;
  describe.skipIf(!variant.supported)(title, () => {
    const cases: [number, number, number][] = [
      [1, 64, 1],
      [1, 256, 64],
      [3, 128, 65],
      [4, 3072, 40],
      [5, 512, 33],
      [9, 256, 130],
      [37, 128, 17],
      [2, 8192, 70],
      [20, 192, 24],
    ];
    it.each(cases)(`equals ONNX Runtime's MatMulNBits for %i rows, K=%i, N=%i`, async (rows, k, n) => {
      const c = randomCase(rows, k, n, rows * 1000 + k + n);
      const ours = binding.int4MatMul({ ...c, variant: variant.name });
      // The kernel keeps the weight scales in fp16; ONNX Runtime gets the same rounded scales.
      const theirs = await onnxRuntimeProduct({ ...c, scales: roundToFloat16(c.scales.slice()) });
      // Same int8 activations, int4 weights and scales, and exact integer block sums; only the order
      // of the float additions across blocks differs: a few float32 ulps times sqrt(K/32).
      for (let r = 0; r < rows; r++) {
        const row = (x: Float32Array) => x.subarray(r * n, (r + 1) * n);
        if (rows > 2 && r === 1) expect(Math.max(...row(ours).map(Math.abs))).toBe(0);
        else expect(relativeError(row(ours), row(theirs))).toBeLessThan(1e-5);
      }
    });

    it(`gives each row the same bits whatever rows it is multiplied with (tiles of ${variant.tileRows} rows)`, () => {
      // A prompt chunk, a batched decode step and a lone decode step must give a position the same
      // logits: speculative decoding and prefix reuse rely on it.
      const c = randomCase(37, 256, 48, 99);
      const all = binding.int4MatMul({ ...c, variant: variant.name });
      for (const rows of [1, 2, 5, 9]) {
        const some = binding.int4MatMul({ ...c, rows, a: c.a.slice(4 * c.k, (4 + rows) * c.k), variant: variant.name });
        expect(Array.from(some)).toEqual(Array.from(all.subarray(4 * c.n, (4 + rows) * c.n)));
      }
    });

    it("rounds activations halfway between two integers to even, as ONNX Runtime does", async () => {
      // max |a| = 127 makes the block scale 1, so a = 0.5, 1.5, 2.5, ... are exact ties.
      const c = randomCase(1, 64, 8, 7);
      for (let i = 0; i < 64; i++) c.a[i] = i === 0 ? 127 : (i % 9) - 4 + 0.5;
      const rounded = await onnxRuntimeProduct({ ...c, scales: roundToFloat16(c.scales.slice()) });
      expect(relativeError(binding.int4MatMul({ ...c, variant: variant.name }), rounded)).toBeLessThan(1e-6);
    });
  });
}

describe("the int4 kernel's SIMD variants", () => {
  const simd = variants.filter((v) => v.supported && v.name !== "portable");
  it(`give the same bits as each other: the same exact block sums, added in the same order (here: ${simd.map((v) => v.name).join(", ") || "none"})`, () => {
    const c = randomCase(11, 512, 40, 1234);
    const results = simd.map((v) => Array.from(binding.int4MatMul({ ...c, variant: v.name })));
    for (const result of results.slice(1)) expect(result).toEqual(results[0]);
  });
});

describe("the int4 kernel's fp16 weight scales", () => {
  it("move each output by no more than the scales' rounding allows: sum over blocks of |scale error| x 8 x sum |a| (plus half an int8 step per value)", async () => {
    const c = randomCase(4, 3072, 48, 77);
    const ours = binding.int4MatMul(c);
    const exact = await onnxRuntimeProduct(c);
    const rounded = roundToFloat16(c.scales.slice());
    const blocks = c.k / 32;
    let largest = 0;
    for (let r = 0; r < c.rows; r++) {
      const row = c.a.subarray(r * c.k, (r + 1) * c.k);
      const scale = Math.max(...Array.from(exact.subarray(r * c.n, (r + 1) * c.n), Math.abs));
      for (let col = 0; col < c.n; col++) {
        let bound = 1e-5 * scale; // the float reordering, as above
        for (let b = 0; b < blocks; b++) {
          const block = row.subarray(b * 32, (b + 1) * 32);
          const step = Math.max(...Array.from(block, Math.abs)) / 127;
          const activations = block.reduce((sum, v) => sum + Math.abs(v) + step / 2, 0);
          bound += Math.abs(rounded[col * blocks + b] - c.scales[col * blocks + b]) * 8 * activations;
        }
        const error = Math.abs(ours[r * c.n + col] - exact[r * c.n + col]);
        expect(error).toBeLessThanOrEqual(bound);
        if (scale > 0) largest = Math.max(largest, error / scale); // row 1 of the case is all zeros
      }
    }
    expect(largest).toBeGreaterThan(0); // the rounding does show
    expect(largest).toBeLessThan(2e-3); // and stays far below the int8 activation rounding (about 1e-2)
  });
});

describe("the int4 kernel's arguments", () => {
  it("rejects arguments that do not fit together", () => {
    const c = randomCase(2, 64, 4, 3);
    expect(() => binding.int4MatMul({ ...c, k: 96 })).toThrow(/multiple of 64/);
    expect(() => binding.int4MatMul({ ...c, scales: new Float32Array(3) })).toThrow(/scales must have 8 elements/);
    expect(() => binding.int4MatMul({ ...c, variant: "sse9" as never })).toThrow(/unknown int4 kernel variant 'sse9'/);
    for (const v of variants.filter((x) => !x.supported)) {
      expect(() => binding.int4MatMul({ ...c, variant: v.name })).toThrow(/this CPU cannot run/);
    }
  });
});

describe("the int4 kernel graph rewrite", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "phi4-int4-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const matMulNBits = (graph: onnxProto.onnx.IGraphProto) => (graph.node ?? []).filter((node) => node.opType === "MatMulNBits");

  it("points every MatMulNBits node of the CPU export at the kernel, keeping inputs, outputs and attributes", async () => {
    const file = path.join(models.tinyPhi4, "model.onnx");
    const original = onnx.ModelProto.decode(await readFile(file)).graph!;
    const rewritten = await rewriteGraph(file, { lastPositionLogits: null, int4Kernel: true });
    expect(rewritten?.lastPositionLogits).toBe(false);
    expect(rewritten?.int4Nodes).toBe(matMulNBits(original).length);
    const model = onnx.ModelProto.decode(rewritten!.bytes);
    expect(matMulNBits(model.graph!)).toHaveLength(0);
    expect(model.opsetImport.some((o) => o.domain === "phi4_onnx")).toBe(true);
    for (const before of matMulNBits(original)) {
      const after = model.graph!.node!.find((node) => node.name === before.name)!;
      expect([after.domain, after.opType]).toEqual(["phi4_onnx", "Int4MatMul"]);
      expect(after.input).toEqual(before.input);
      expect(after.output).toEqual(before.output);
      expect(after.attribute).toEqual(before.attribute);
    }
  });

  it("leaves to ONNX Runtime the nodes the kernel does not compute: another accuracy level, zero points", async () => {
    const model = onnx.ModelProto.decode(await readFile(path.join(models.tinyPhi4, "model.onnx")));
    const [fp32Compute, withZeroPoints] = matMulNBits(model.graph!);
    const accuracy = fp32Compute.attribute!.find((a) => a.name === "accuracy_level")!;
    accuracy.i = 0;
    withZeroPoints.input = [...withZeroPoints.input!, "zero_points"];
    const file = path.join(dir, "model.onnx");
    await writeFile(file, onnx.ModelProto.encode(model).finish());
    const rewritten = onnx.ModelProto.decode((await rewriteGraph(file, { lastPositionLogits: null, int4Kernel: true }))!.bytes);
    expect(matMulNBits(rewritten.graph!).map((node) => node.name)).toEqual([fp32Compute.name, withZeroPoints.name]);
  });

  it("reads weights kept in model.onnx.data itself (ONNX Runtime never loads them), with the same logits as weights held inline", async () => {
    const inline = path.join(dir, "inline");
    const external = path.join(dir, "external");
    await makeModel({ preset: "tiny-phi4", outDir: inline, seed: 5, externalData: false });
    await makeModel({ preset: "tiny-phi4", outDir: external, seed: 5, externalData: true });
    const file = path.join(external, "model.onnx");
    const original = onnx.ModelProto.decode(await readFile(file)).graph!;
    const rewritten = onnx.ModelProto.decode((await rewriteGraph(file, { lastPositionLogits: null, int4Kernel: true }))!.bytes).graph!;
    const kernelNodes = rewritten.node!.filter((node) => node.opType === "Int4MatMul");
    expect(kernelNodes).toHaveLength(matMulNBits(original).length);
    const remaining = new Set(rewritten.initializer!.map((t) => t.name));
    for (const node of kernelNodes) {
      const before = matMulNBits(original).find((n) => n.name === node.name)!;
      expect(node.input).toEqual(before.input!.slice(0, 1));
      expect(remaining.has(before.input![1]) || remaining.has(before.input![2])).toBe(false);
      const text = (name: string) => new TextDecoder().decode(node.attribute!.find((a) => a.name === name)!.s!);
      expect(text("weights_path")).toBe(path.join(external, "model.onnx.data"));
      expect(text("scales_path")).toBe(path.join(external, "model.onnx.data"));
    }

    const ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
    const fromFile = await loadModel(external);
    const held = await loadModel(inline);
    try {
      expect(fromFile.info.int4Kernel).toBe(int4KernelSupported());
      const a = await (await fromFile.createSequence({ capacity: 32 })).evaluate(ids);
      const b = await (await held.createSequence({ capacity: 32 })).evaluate(ids);
      expect(Array.from(a)).toEqual(Array.from(b));
    } finally {
      await fromFile.dispose();
      await held.dispose();
    }
  });

  const cutTitle = int4KernelSupported()
    ? `refuses to load a folder whose model.onnx.data is cut short, saying so (the kernel runs on ${THIS_CPU})`
    : `refuses to load a folder whose model.onnx.data is cut short (not run: ${THIS_CPU} has no int4 kernel variant)`;
  it.skipIf(!int4KernelSupported())(cutTitle, async () => {
    const cut = path.join(dir, "cut");
    await makeModel({ preset: "tiny-phi4", outDir: cut, seed: 5, externalData: true });
    const data = path.join(cut, "model.onnx.data");
    await truncate(data, (await readFile(data)).length - 64 * 1024);
    await expect(loadModel(cut)).rejects.toThrow(/model\.onnx\.data/);
  });

  it("runs a variant asked for by name, and refuses one this CPU lacks or that does not exist", async () => {
    const slowest = variants.filter((v) => v.supported && v.name !== "portable").at(-1);
    if (slowest) {
      const model = await loadModel(models.tiny, { int4Kernel: slowest.name });
      try {
        expect(model.info.int4KernelVariant).toBe(slowest.name);
      } finally {
        await model.dispose();
      }
    }
    await expect(loadModel(models.tiny, { int4Kernel: "sse9" as never })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: /no int4 kernel variant "sse9"/,
    });
    for (const v of variants.filter((x) => !x.supported)) {
      await expect(loadModel(models.tiny, { int4Kernel: v.name })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: /this CPU cannot run/ });
    }
  });

  it("is on by default where the CPU can run it, and off when asked", async () => {
    const byDefault = await loadModel(models.tiny);
    const without = await loadModel(models.tiny, { int4Kernel: false });
    try {
      expect(byDefault.info.int4Kernel).toBe(int4KernelSupported());
      expect(byDefault.info.int4KernelVariant).toBe(int4KernelSupported() ? bestVariant : null);
      expect(without.info.int4Kernel).toBe(false);
      expect(without.info.int4KernelVariant).toBe(null);
      // The lm_head rewrite is independent of it.
      expect(without.info.lastPositionLogits).toBe(true);
      const ids = [3, 1, 4, 1, 5, 9, 2, 6];
      const a = await (await byDefault.createSequence({ capacity: 32 })).evaluate(ids);
      const b = await (await without.createSequence({ capacity: 32 })).evaluate(ids);
      expect(relativeError(a, b)).toBeLessThan(5e-2);
    } finally {
      await byDefault.dispose();
      await without.dispose();
    }
  });
});
