/** phi4 generate: one generation from token ids, raw text or a one-turn chat. */
import { parseArgs } from "node:util";

import { Phi4Error } from "../../engine/errors.js";
import { loadModel, type ProviderName } from "../../engine/model.js";
import type { SamplingOptions } from "../../engine/sampling.js";
import { optionalNumber, parseTokenList, requireString } from "../args.js";

export const generateUsage = `usage: phi4 generate --model DIR (--tokens 1,2,3 | --prompt TEXT | --chat TEXT)
       [--max-tokens N] [--greedy | --temperature T --top-k K --top-p P --seed S]
       [--stop TEXT]... [--capacity N] [--threads N] [--provider cpu|cuda|dml|webgpu] [--json]
       [--load-state FILE] [--save-state FILE]   (with --load-state the input is appended; it may be omitted)`;

export async function generateCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      tokens: { type: "string" },
      prompt: { type: "string" },
      chat: { type: "string" },
      "max-tokens": { type: "string" },
      greedy: { type: "boolean" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
      stop: { type: "string", multiple: true },
      capacity: { type: "string" },
      threads: { type: "string" },
      provider: { type: "string", multiple: true },
      json: { type: "boolean" },
      "load-state": { type: "string" },
      "save-state": { type: "string" },
    },
  });
  const modelDir = requireString(values, "model", generateUsage);
  const inputs = [values.tokens, values.prompt, values.chat].filter((v) => v !== undefined);
  const loadState = values["load-state"];
  if (inputs.length > 1 || (inputs.length === 0 && !loadState)) {
    throw new Phi4Error("INVALID_ARGUMENT", `give exactly one of --tokens, --prompt, --chat (or none with --load-state)\n${generateUsage}`);
  }
  const sampling: SamplingOptions = {
    greedy: values.greedy ? true : undefined,
    temperature: optionalNumber(values, "temperature"),
    topK: optionalNumber(values, "top-k", true),
    topP: optionalNumber(values, "top-p"),
    seed: optionalNumber(values, "seed", true),
  };
  if (values.greedy && (sampling.temperature !== undefined || sampling.topK !== undefined || sampling.topP !== undefined)) {
    throw new Phi4Error("INVALID_ARGUMENT", "--greedy cannot be combined with --temperature, --top-k or --top-p");
  }

  const model = await loadModel(modelDir, {
    threads: optionalNumber(values, "threads", true),
    providers: values.provider as ProviderName[] | undefined,
  });
  try {
    const tokenizer = model.tokenizer;
    const prompt =
      values.tokens !== undefined
        ? parseTokenList(values.tokens)
        : values.prompt !== undefined
          ? tokenizer.encode(values.prompt)
          : values.chat !== undefined
            ? tokenizer.encode(tokenizer.applyChatTemplate([{ role: "user", content: values.chat }]))
            : [];
    const sequence = await model.createSequence({ capacity: optionalNumber(values, "capacity", true) });
    if (loadState) await sequence.loadStateFile(loadState);
    const generation = sequence.generate(prompt, {
      maxTokens: optionalNumber(values, "max-tokens", true) ?? 256,
      sampling,
      stop: values.stop,
    });
    if (!values.json) {
      for await (const chunk of generation) process.stdout.write(chunk.text);
      process.stdout.write("\n");
    }
    const result = await generation.result;
    if (values["save-state"]) await sequence.saveStateFile(values["save-state"]);
    if (values.json) {
      const out = {
        tokens: result.tokens,
        text: result.text,
        stopReason: result.stopReason,
        usage: { promptTokens: result.usage.promptTokens, outputTokens: result.usage.outputTokens },
        timings: { loadMs: model.loadMs, ttftMs: result.timings.ttftMs, decodeTokensPerSec: result.timings.decodeTokensPerSec },
      };
      process.stdout.write(JSON.stringify(out) + "\n");
    } else {
      process.stderr.write(
        `[${result.usage.outputTokens} tokens, stop: ${result.stopReason}, load ${model.loadMs.toFixed(0)} ms, ` +
          `TTFT ${result.timings.ttftMs.toFixed(0)} ms, ${result.timings.decodeTokensPerSec.toFixed(1)} tokens/s]\n`,
      );
    }
  } finally {
    await model.dispose();
  }
}
