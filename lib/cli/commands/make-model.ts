/**
 * phi4 make-model: writes a model folder with random weights (for tests and benchmarks), or with
 * --format gguf the same network and weights as one GGUF file for llama.cpp.
 */
import { parseArgs } from "node:util";

import cliProgress from "cli-progress";

import { Phi4Error } from "../../engine/errors.js";
import { makeGguf, makeModel, MODEL_PRECISIONS, MODEL_PRESETS, type ModelPrecision, type ModelPreset } from "../../modelmaker/index.js";
import { optionalNumber, requireString } from "../args.js";

const FORMATS = ["onnx", "gguf"] as const;

export const makeModelUsage =
  `usage: phi4 make-model --preset <${Object.keys(MODEL_PRESETS).join("|")}> --out DIR [--seed N] [--precision <${MODEL_PRECISIONS.join("|")}>]\n` +
  `   or: phi4 make-model --preset <${Object.keys(MODEL_PRESETS).join("|")}> --format gguf --out FILE.gguf [--seed N]\n` +
  "  --precision fp16 writes the GPU exports' graph (fp16 logits, KV and weights), which also runs on CPU; default fp32\n" +
  "  --format gguf writes the fp32 folder's network and weights (same preset and seed) for llama.cpp: arch phi3, Q4_0";

export async function makeModelCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { preset: { type: "string" }, out: { type: "string" }, seed: { type: "string" }, precision: { type: "string" }, format: { type: "string" } },
  });
  const preset = requireString(values, "preset", makeModelUsage);
  const outDir = requireString(values, "out", makeModelUsage);
  if (!(preset in MODEL_PRESETS)) throw new Phi4Error("INVALID_ARGUMENT", `unknown preset "${preset}"\n${makeModelUsage}`);
  const format = values.format ?? "onnx";
  if (!(FORMATS as readonly string[]).includes(format)) throw new Phi4Error("INVALID_ARGUMENT", `unknown format "${format}"\n${makeModelUsage}`);
  if (format === "gguf" && values.precision !== undefined) {
    throw new Phi4Error("INVALID_ARGUMENT", `--precision applies to ONNX folders; a GGUF holds the fp32 folder's weights as Q4_0\n${makeModelUsage}`);
  }
  const precision = values.precision ?? "fp32";
  if (!(MODEL_PRECISIONS as readonly string[]).includes(precision)) {
    throw new Phi4Error("INVALID_ARGUMENT", `unknown precision "${precision}"\n${makeModelUsage}`);
  }
  const bar = new cliProgress.SingleBar(
    { format: "writing {bar} {percentage}% | {doneMiB}/{totalMiB} MiB", stream: process.stderr, noTTYOutput: false },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  const onProgress = (done: number, total: number) => {
    if (!started) {
      bar.start(total, 0, { doneMiB: "0", totalMiB: mib(total) });
      started = true;
    }
    bar.update(done, { doneMiB: mib(done) });
  };
  const seed = optionalNumber(values, "seed", true);
  if (format === "gguf") {
    const made = await makeGguf({ preset: preset as ModelPreset, outFile: outDir, seed, onProgress });
    if (started) bar.stop();
    process.stdout.write(`wrote ${made.outFile} (${(made.parameters / 1e6).toFixed(1)}M parameters, phi3 Q4_0, ${mib(made.bytes)} MiB; random weights)\n`);
    return;
  }
  const made = await makeModel({ preset: preset as ModelPreset, outDir, seed, precision: precision as ModelPrecision, onProgress });
  if (started) bar.stop();
  process.stdout.write(
    `wrote ${made.outDir}: ${made.files.join(", ")} (${(made.parameters / 1e6).toFixed(1)}M parameters, ${made.precision}, ${mib(made.bytes)} MiB; random weights)\n`,
  );
}
