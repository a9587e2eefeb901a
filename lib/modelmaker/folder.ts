// The JSON files of a model folder besides model.onnx: genai_config.json in the shape the
// onnxruntime-genai builder writes for Phi-4-mini, plus the Hugging Face config.json and
// generation_config.json that describe the same network.

import type { ModelShape } from "./presets.js";
import { IO_NAMES } from "./phi3-graph.js";
import { longFactors, shortFactors } from "./rope.js";
import type { TokenizerFiles } from "./tokenizer-files.js";

export function genaiConfig(shape: ModelShape, tok: TokenizerFiles, modelFile: string): object {
  return {
    model: {
      bos_token_id: tok.bosTokenId,
      context_length: shape.maxPositionEmbeddings,
      decoder: {
        session_options: { log_id: "onnxruntime-genai", provider_options: [] },
        filename: modelFile,
        head_size: shape.headSize,
        hidden_size: shape.hiddenSize,
        inputs: {
          input_ids: IO_NAMES.inputIds,
          attention_mask: IO_NAMES.attentionMask,
          past_key_names: IO_NAMES.pastKey,
          past_value_names: IO_NAMES.pastValue,
        },
        outputs: {
          logits: IO_NAMES.logits,
          present_key_names: IO_NAMES.presentKey,
          present_value_names: IO_NAMES.presentValue,
        },
        num_attention_heads: shape.numHeads,
        num_hidden_layers: shape.numLayers,
        num_key_value_heads: shape.numKvHeads,
      },
      eos_token_id: tok.eosTokenIds,
      pad_token_id: tok.padTokenId,
      type: "phi3",
      vocab_size: tok.vocabSize,
    },
    search: {
      do_sample: false,
      max_length: shape.maxPositionEmbeddings,
      past_present_share_buffer: true,
      repetition_penalty: 1.0,
      temperature: 1.0,
      top_k: 1,
      top_p: 1.0,
      num_beams: 1,
    },
  };
}

export function hfConfig(shape: ModelShape, tok: TokenizerFiles): object {
  return {
    architectures: ["Phi3ForCausalLM"],
    model_type: "phi3",
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: tok.bosTokenId,
    eos_token_id: tok.eosTokenIds,
    pad_token_id: tok.padTokenId,
    hidden_act: "silu",
    hidden_size: shape.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: shape.intermediateSize,
    max_position_embeddings: shape.maxPositionEmbeddings,
    original_max_position_embeddings: shape.originalMaxPositionEmbeddings,
    num_attention_heads: shape.numHeads,
    num_hidden_layers: shape.numLayers,
    num_key_value_heads: shape.numKvHeads,
    partial_rotary_factor: shape.partialRotaryFactor,
    rms_norm_eps: shape.rmsNormEps,
    rope_scaling: { type: "longrope", short_factor: shortFactors(shape), long_factor: longFactors(shape) },
    rope_theta: shape.ropeTheta,
    sliding_window: shape.slidingWindow,
    tie_word_embeddings: true,
    torch_dtype: "float32",
    use_cache: true,
    vocab_size: tok.vocabSize,
  };
}

export function generationConfig(tok: TokenizerFiles): object {
  return {
    bos_token_id: tok.bosTokenId,
    eos_token_id: tok.eosTokenIds,
    pad_token_id: tok.padTokenId,
  };
}
