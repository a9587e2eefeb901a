/** phi4 info: the ONNX Runtime library in use, its providers, and (with --model) a model folder's facts. */
import { parseArgs } from "node:util";

import { loadModelFolder } from "../../engine/genai-config.js";
import { runtimeInfo } from "../../engine/runtime.js";
import { physicalCoreCount } from "../../engine/threads.js";

export const infoUsage = "usage: phi4 info [--model DIR] [--json]";

export async function infoCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { model: { type: "string" }, json: { type: "boolean" } } });
  const runtime = runtimeInfo();
  const folder = values.model ? await loadModelFolder(values.model) : undefined;
  const info = {
    onnxruntime: { version: runtime.version, apiVersion: runtime.apiVersion, library: runtime.libraryPath, providers: runtime.providers },
    defaultThreads: physicalCoreCount(),
    model: folder && {
      dir: folder.dir,
      type: folder.type,
      file: folder.modelPath,
      vocabSize: folder.vocabSize,
      contextLength: folder.contextLength,
      layers: folder.numLayers,
      kvHeads: folder.numKvHeads,
      headSize: folder.headSize,
      ropeSwitchAt: folder.ropeOriginalLength || null,
      eosTokenIds: folder.eosTokenIds,
      providers: folder.providers.map((p) => p.name),
    },
  };
  if (values.json) {
    process.stdout.write(JSON.stringify(info, null, 2) + "\n");
    return;
  }
  const lines = [
    `ONNX Runtime ${runtime.version} (C API ${runtime.apiVersion}) from ${runtime.libraryPath}`,
    `execution providers: ${runtime.providers.join(", ")}`,
    `default threads: ${info.defaultThreads} (physical cores)`,
  ];
  if (info.model) {
    const m = info.model;
    lines.push(
      `model: ${m.dir} (${m.type}, ${m.layers} layers, ${m.kvHeads} KV heads x ${m.headSize}, vocabulary ${m.vocabSize})`,
      `context: ${m.contextLength} tokens${m.ropeSwitchAt ? `, LongRoPE switch after ${m.ropeSwitchAt}` : ""}; eos ${m.eosTokenIds.join(", ")}`,
    );
  }
  process.stdout.write(lines.join("\n") + "\n");
}
