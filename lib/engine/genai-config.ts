/**
 * Reads and validates an onnxruntime-genai model folder (genai_config.json, plus config.json for the
 * LongRoPE switch length) into the facts the engine needs. Every problem is a Phi4Error that names
 * the file and the field.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

import { Phi4Error } from "./errors.js";

/** A KV name per layer: the layer index replaces the one "%d"; no other "%" (the addon substitutes, never formats). */
const layerNamePattern = z.string().regex(/^[^%]*%d[^%]*$/, 'must contain "%d" (the layer index) once and no other "%"');

const providerOptions = z.array(z.record(z.string(), z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])))).default([]);

const genaiConfigSchema = z.object({
  model: z.object({
    type: z.string(),
    bos_token_id: z.number().int().optional(),
    eos_token_id: z.union([z.number().int(), z.array(z.number().int()).min(1)]),
    pad_token_id: z.number().int().optional(),
    context_length: z.number().int().positive(),
    vocab_size: z.number().int().positive(),
    decoder: z.object({
      filename: z.string().min(1),
      head_size: z.number().int().positive(),
      hidden_size: z.number().int().positive(),
      num_attention_heads: z.number().int().positive(),
      num_hidden_layers: z.number().int().positive(),
      num_key_value_heads: z.number().int().positive(),
      session_options: z
        .object({
          provider_options: providerOptions,
          intra_op_num_threads: z.number().int().optional(),
        })
        .passthrough()
        .default({ provider_options: [] }),
      inputs: z
        .object({
          input_ids: z.string().default("input_ids"),
          attention_mask: z.string().default("attention_mask"),
          position_ids: z.string().default("position_ids"),
          past_key_names: layerNamePattern.default("past_key_values.%d.key"),
          past_value_names: layerNamePattern.default("past_key_values.%d.value"),
        })
        .passthrough(),
      outputs: z
        .object({
          logits: z.string().default("logits"),
          present_key_names: layerNamePattern.default("present.%d.key"),
          present_value_names: layerNamePattern.default("present.%d.value"),
        })
        .passthrough(),
    }),
  }),
  search: z
    .object({
      do_sample: z.boolean().default(false),
      max_length: z.number().int().positive().optional(),
      repetition_penalty: z.number().positive().default(1),
      temperature: z.number().min(0).default(1),
      top_k: z.number().int().min(0).default(1),
      top_p: z.number().gt(0).max(1).default(1),
    })
    .passthrough()
    .default({ do_sample: false, repetition_penalty: 1, temperature: 1, top_k: 1, top_p: 1 }),
});

export type GenaiConfig = z.infer<typeof genaiConfigSchema>;

/** Everything the engine reads from a model folder. */
export interface ModelFolder {
  dir: string;
  modelPath: string;
  config: GenaiConfig;
  type: string;
  vocabSize: number;
  contextLength: number;
  eosTokenIds: number[];
  bosTokenId?: number;
  numLayers: number;
  numKvHeads: number;
  headSize: number;
  /** LongRoPE: past this many tokens the long-factor cache applies (0 = no switch). */
  ropeOriginalLength: number;
  /** Execution providers named in genai_config's session_options, in order, with their options. */
  providers: { name: string; options: Record<string, string> }[];
}

async function readJson(file: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (!required) return undefined;
    throw new Phi4Error("MODEL_NOT_FOUND", `${file} is missing: a model folder needs genai_config.json, model.onnx and tokenizer.json`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Phi4Error("MODEL_INVALID", `${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

/** The provider names genai_config uses -> ours. */
const PROVIDER_ALIASES: Record<string, string> = { cuda: "cuda", dml: "dml", webgpu: "webgpu", cpu: "cpu" };

function readRopeOriginalLength(type: string, contextLength: number, hfConfig: unknown): number {
  const original = (hfConfig as { original_max_position_embeddings?: unknown } | undefined)?.original_max_position_embeddings;
  if (typeof original === "number" && original > 0 && original < contextLength) return original;
  // Phi-3/Phi-4 128k exports without a config.json: their LongRoPE switch is at 4096 tokens.
  if (type === "phi3" && contextLength === 131072 && original === undefined) return 4096;
  return 0;
}

export async function loadModelFolder(dir: string): Promise<ModelFolder> {
  const absolute = path.resolve(dir);
  const info = await stat(absolute).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new Phi4Error(
      "MODEL_NOT_FOUND",
      `model folder ${absolute} does not exist or is not a folder (make one with \`phi4 make-model --preset tiny-phi4 --out DIR\`)`,
    );
  }
  const raw = await readJson(path.join(absolute, "genai_config.json"), true);
  const parsed = genaiConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
    throw new Phi4Error("MODEL_INVALID", `${path.join(absolute, "genai_config.json")} is not a valid genai config: ${problems}`);
  }
  const config = parsed.data;
  const decoder = config.model.decoder;
  const modelPath = path.resolve(absolute, decoder.filename);
  // A config must not point the runtime at files elsewhere on the machine.
  if (!modelPath.startsWith(absolute + path.sep)) {
    throw new Phi4Error(
      "MODEL_INVALID",
      `decoder.filename "${decoder.filename}" in ${path.join(absolute, "genai_config.json")} leads outside the model folder`,
    );
  }
  if (!(await stat(modelPath).catch(() => undefined))?.isFile()) {
    throw new Phi4Error("MODEL_NOT_FOUND", `${modelPath} (decoder.filename in genai_config.json) is missing`);
  }
  const hfConfig = await readJson(path.join(absolute, "config.json"), false);

  const providers = decoder.session_options.provider_options.map((entry) => {
    const [name, options] = Object.entries(entry)[0] ?? ["cpu", {}];
    return {
      name: PROVIDER_ALIASES[name.toLowerCase()] ?? name.toLowerCase(),
      options: Object.fromEntries(Object.entries(options).map(([k, v]) => [k, String(v)])),
    };
  });
  const eos = config.model.eos_token_id;
  return {
    dir: absolute,
    modelPath,
    config,
    type: config.model.type,
    vocabSize: config.model.vocab_size,
    contextLength: config.model.context_length,
    eosTokenIds: Array.isArray(eos) ? eos : [eos],
    bosTokenId: config.model.bos_token_id,
    numLayers: decoder.num_hidden_layers,
    numKvHeads: decoder.num_key_value_heads,
    headSize: decoder.head_size,
    ropeOriginalLength: readRopeOriginalLength(config.model.type, config.model.context_length, hfConfig),
    providers,
  };
}
