/**
 * phi4 demo (npm start): the main job on the embedded default. Makes the tiny-phi4 test model if it
 * is missing, then streams a chat reply and prints tokens/s. Its weights are random: the reply is
 * gibberish by design; the point is the whole path (tokenizer, chat template, native decode loop).
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { packageRoot } from "../../engine/binding.js";
import { loadModel } from "../../engine/model.js";
import { makeModel } from "../../modelmaker/index.js";

export const demoUsage = "usage: phi4 demo [--model DIR] [--message TEXT] [--max-tokens N]";

export async function demoCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: "string" }, message: { type: "string" }, "max-tokens": { type: "string" } },
  });
  let dir = values.model;
  if (!dir) {
    dir = path.join(packageRoot(), "models", "tiny-phi4");
    if (!existsSync(path.join(dir, "genai_config.json"))) {
      process.stderr.write(`making the tiny-phi4 test model in ${dir} ...\n`);
      await makeModel({ preset: "tiny-phi4", outDir: dir });
    }
    process.stderr.write("note: tiny-phi4 has the real Phi-4-mini tokenizer but RANDOM weights, so the reply is gibberish.\n");
  }
  const model = await loadModel(dir);
  try {
    const message = values.message ?? "Write a haiku about local inference.";
    const prompt = model.tokenizer.encodeChat([{ role: "user", content: message }]);
    const sequence = await model.createSequence({ capacity: Math.min(model.contextLength, 1024) });
    process.stdout.write(`user: ${message}\nassistant: `);
    const generation = sequence.generate(prompt, { maxTokens: Number(values["max-tokens"] ?? 64) });
    for await (const chunk of generation) process.stdout.write(chunk.text);
    const { usage, timings, stopReason } = await generation.result;
    process.stdout.write(
      `\n\n[${usage.promptTokens} prompt tokens, ${usage.outputTokens} generated (stop: ${stopReason}); ` +
        `load ${model.loadMs.toFixed(0)} ms, TTFT ${timings.ttftMs.toFixed(1)} ms, ${timings.decodeTokensPerSec.toFixed(1)} tokens/s on ${model.threads} threads]\n`,
    );
  } finally {
    await model.dispose();
  }
}
