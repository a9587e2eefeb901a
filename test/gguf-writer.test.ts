/**
 * phi4 make-model --format gguf, read back independently: the header through node-llama-cpp's GGUF
 * parser, the tensors by decoding Q4_0 blocks here and comparing them with the initializers of the
 * ONNX folder of the same preset and seed (read from its model.onnx). Every int4 weight must come back
 * as the same codes with the scale rounded to fp16; every fp32 tensor byte for byte.
 */
import { execFile } from "node:child_process";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { readGgufFileInfo } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { float16Bits, float16Value } from "../lib/modelmaker/float16.js";
import { onnx, type TensorProto } from "../lib/modelmaker/graph-builder.js";
import { MODEL_PRESETS, rotaryDim } from "../lib/modelmaker/index.js";

const run = promisify(execFile);
const bin = path.resolve("bin/phi4.js");
const models = inject("models");
const TINY = MODEL_PRESETS.tiny;

let tmp: string;
let file: string;
let info: Awaited<ReturnType<typeof readGgufFileInfo>>;
let initializers: Map<string, TensorProto>;
let config: { vocab_size: number; rope_scaling: { long_factor: number[]; short_factor: number[] } };

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "gguf-writer-"));
  file = path.join(tmp, "tiny.gguf");
  // The global setup wrote the tiny folder with seed 1.
  await run(process.execPath, [bin, "make-model", "--preset", "tiny", "--format", "gguf", "--seed", "1", "--out", file]);
  info = await readGgufFileInfo(file, { logWarnings: false });
  const model = onnx.ModelProto.decode(await readFile(path.join(models.tiny, "model.onnx")));
  initializers = new Map(model.graph!.initializer!.map((t) => [t.name!, t]));
  config = JSON.parse(await readFile(path.join(models.tiny, "config.json"), "utf8"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function tensorBytes(name: string, byteLength: number): Promise<Buffer> {
  const t = info.fullTensorInfo!.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor ${name}`);
  const handle = await open(file, "r");
  try {
    const out = Buffer.alloc(byteLength);
    await handle.read(out, 0, byteLength, Number(t.fileOffset));
    return out;
  } finally {
    await handle.close();
  }
}

const raw = (t: TensorProto) => Buffer.from(t.rawData!);
const floats = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

/** Values of an int4 MatMulNBits weight, from its B and scales initializers, with each scale rounded to fp16. */
function matMulNBitsValues(prefix: string): Float32Array {
  const b = raw(initializers.get(`${prefix}.weight_Q4`)!);
  const scales = floats(raw(initializers.get(`${prefix}.weight_scales`)!));
  const out = new Float32Array(b.length * 2);
  for (let i = 0; i < out.length; i++) {
    const code = (b[i >> 1] >> ((i & 1) * 4)) & 15; // element 2j low nibble, 2j+1 high
    out[i] = float16Value(float16Bits(scales[i >> 5])) * (code - 8);
  }
  return out;
}

/** Values of a Q4_0 tensor, decoded from the GGUF bytes (block: fp16 d, then element j low / j+16 high). */
function q4_0Values(bytes: Buffer): Float32Array {
  const out = new Float32Array((bytes.length / 18) * 32);
  for (let block = 0; block < bytes.length / 18; block++) {
    const d = float16Value(bytes.readUInt16LE(block * 18));
    for (let j = 0; j < 16; j++) {
      const q = bytes[block * 18 + 2 + j];
      out[block * 32 + j] = d * ((q & 15) - 8);
      out[block * 32 + j + 16] = d * ((q >> 4) - 8);
    }
  }
  return out;
}

describe("GGUF from make-model --format gguf", () => {
  it("has llama.cpp's phi3 metadata for the preset", () => {
    const m = info.metadata as unknown as Record<string, Record<string, unknown>> & { phi3: Record<string, unknown> };
    expect(info.version).toBe(3);
    expect(m.general.architecture).toBe("phi3");
    expect(m.phi3).toMatchObject({
      context_length: TINY.maxPositionEmbeddings,
      embedding_length: TINY.hiddenSize,
      feed_forward_length: TINY.intermediateSize,
      block_count: TINY.numLayers,
      attention: { head_count: TINY.numHeads, head_count_kv: TINY.numKvHeads, key_length: TINY.headSize, value_length: TINY.headSize },
      rope: { dimension_count: rotaryDim(TINY), freq_base: TINY.ropeTheta, scaling: { original_context_length: TINY.originalMaxPositionEmbeddings } },
    });
    const phi3 = m.phi3 as { attention: { layer_norm_rms_epsilon: number }; rope: { scaling: { attn_factor: number } } };
    expect(phi3.attention.layer_norm_rms_epsilon).toBeCloseTo(TINY.rmsNormEps, 9);
    // sqrt(1 + ln(256/64) / ln(64)): the magnitude scale baked into the ONNX cos/sin caches.
    expect(phi3.rope.scaling.attn_factor).toBeCloseTo(Math.sqrt(1 + Math.log(4) / Math.log(64)), 6);
    const tok = m.tokenizer as { ggml: { model: string; tokens: string[]; token_type: number[]; merges: string[]; eos_token_id: number } };
    expect(tok.ggml.model).toBe("gpt2");
    expect(tok.ggml.tokens).toHaveLength(config.vocab_size);
    expect(tok.ggml.token_type).toHaveLength(config.vocab_size);
    expect(tok.ggml.tokens[tok.ggml.eos_token_id]).toBe("<|endoftext|>");
    expect(tok.ggml.merges.length).toBeGreaterThan(100);
  });

  it("holds every tensor the phi3 loader needs, in ggml's dimension order", () => {
    const byName = new Map(info.fullTensorInfo!.map((t) => [t.name, t]));
    const h = TINY.hiddenSize;
    const expected: [string, number[], number][] = [
      ["token_embd.weight", [h, config.vocab_size], 0],
      ["output.weight", [h, config.vocab_size], 2],
      ["output_norm.weight", [h], 0],
      ["rope_factors_long.weight", [rotaryDim(TINY) / 2], 0],
      ["rope_factors_short.weight", [rotaryDim(TINY) / 2], 0],
    ];
    for (let i = 0; i < TINY.numLayers; i++) {
      expected.push(
        [`blk.${i}.attn_norm.weight`, [h], 0],
        [`blk.${i}.attn_qkv.weight`, [h, (TINY.numHeads + 2 * TINY.numKvHeads) * TINY.headSize], 2],
        [`blk.${i}.attn_output.weight`, [TINY.numHeads * TINY.headSize, h], 2],
        [`blk.${i}.ffn_norm.weight`, [h], 0],
        [`blk.${i}.ffn_up.weight`, [h, 2 * TINY.intermediateSize], 2],
        [`blk.${i}.ffn_down.weight`, [TINY.intermediateSize, h], 2],
      );
    }
    expect([...byName.keys()].sort()).toEqual(expected.map(([n]) => n).sort());
    for (const [name, dims, type] of expected) {
      expect(byName.get(name)!.dimensions.map(Number), name).toEqual(dims);
      expect(Number(byName.get(name)!.ggmlType), name).toBe(type);
      expect(Number(byName.get(name)!.offset) % 32, name).toBe(0);
    }
  });

  it("int4 weights come back as the ONNX folder's codes with fp16 scales (ffn_up: gate rows, then up rows)", async () => {
    const h = TINY.hiddenSize;
    const ff = TINY.intermediateSize;
    const q4 = async (name: string, rows: number, k: number) => q4_0Values(await tensorBytes(name, (rows * k * 18) / 32));
    for (let i = 0; i < TINY.numLayers; i++) {
      const layer = `model.layers.${i}`;
      expect(await q4(`blk.${i}.attn_qkv.weight`, (TINY.numHeads + 2 * TINY.numKvHeads) * TINY.headSize, h)).toEqual(
        matMulNBitsValues(`${layer}.attn.qkv_proj.MatMul`),
      );
      expect(await q4(`blk.${i}.attn_output.weight`, h, TINY.numHeads * TINY.headSize)).toEqual(matMulNBitsValues(`${layer}.attn.o_proj.MatMul`));
      const up = await q4(`blk.${i}.ffn_up.weight`, 2 * ff, h);
      expect(up.subarray(0, ff * h)).toEqual(matMulNBitsValues(`${layer}.mlp.gate_proj.MatMul`));
      expect(up.subarray(ff * h)).toEqual(matMulNBitsValues(`${layer}.mlp.up_proj.MatMul`));
      expect(await q4(`blk.${i}.ffn_down.weight`, h, ff)).toEqual(matMulNBitsValues(`${layer}.mlp.down_proj.MatMul`));
    }
    expect(await q4("output.weight", config.vocab_size, h)).toEqual(matMulNBitsValues("lm_head.MatMul"));
  });

  it("fp32 tensors are the ONNX initializers byte for byte, and the RoPE factors are config.json's", async () => {
    const same = async (gguf: string, onnxName: string) => {
      const expected = raw(initializers.get(onnxName)!);
      expect((await tensorBytes(gguf, expected.length)).equals(expected), gguf).toBe(true);
    };
    await same("token_embd.weight", "model.embed_tokens.weight");
    await same("output_norm.weight", `model.layers.${TINY.numLayers}.final_norm_layernorm.weight`);
    for (let i = 0; i < TINY.numLayers; i++) {
      await same(`blk.${i}.attn_norm.weight`, `model.layers.${i}.input_layernorm.weight`);
      await same(`blk.${i}.ffn_norm.weight`, `model.layers.${i}.post_attention_layernorm.weight`);
    }
    const width = rotaryDim(TINY) / 2;
    expect(floats(await tensorBytes("rope_factors_long.weight", width * 4))).toEqual(Float32Array.from(config.rope_scaling.long_factor));
    expect(floats(await tensorBytes("rope_factors_short.weight", width * 4))).toEqual(Float32Array.from(config.rope_scaling.short_factor));
  });

  it("is deterministic in the seed", async () => {
    const again = path.join(tmp, "again.gguf");
    const other = path.join(tmp, "other.gguf");
    await run(process.execPath, [bin, "make-model", "--preset", "tiny", "--format", "gguf", "--seed", "1", "--out", again]);
    await run(process.execPath, [bin, "make-model", "--preset", "tiny", "--format", "gguf", "--seed", "2", "--out", other]);
    const a = await readFile(file);
    expect(a.equals(await readFile(again))).toBe(true);
    expect(a.equals(await readFile(other))).toBe(false);
  });

  it("refuses an unknown format and --precision with gguf", async () => {
    for (const args of [
      ["--format", "ggml"],
      ["--format", "gguf", "--precision", "fp16"],
    ]) {
      const failure = await run(process.execPath, [bin, "make-model", "--preset", "tiny", "--out", path.join(tmp, "x"), ...args]).catch((e) => e);
      expect(failure.code).toBe(1);
      expect(failure.stderr).toMatch(args.includes("ggml") ? /unknown format "ggml"/ : /--precision applies to ONNX folders/);
    }
  });
});
