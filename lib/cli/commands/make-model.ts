/** phi4 make-model: writes a model folder with random weights (for tests and benchmarks). */
import { parseArgs } from "node:util";

import cliProgress from "cli-progress";

import { Phi4Error } from "../../engine/errors.js";
import { makeModel, MODEL_PRECISIONS, MODEL_PRESETS, type ModelPrecision, type ModelPreset } from "../../modelmaker/index.js";
import { optionalNumber, requireString } from "../args.js";

const usage =
  `usage: phi4 make-model --preset <${Object.keys(MODEL_PRESETS).join("|")}> --out DIR [--seed N] [--precision <${MODEL_PRECISIONS.join("|")}>]\n` +
  "  --precision fp16 writes the GPU exports' graph (fp16 logits, KV and weights), which also runs on CPU; default fp32";

export async function makeModelCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { preset: { type: "string" }, out: { type: "string" }, seed: { type: "string" }, precision: { type: "string" } },
  });
  const preset = requireString(values, "preset", usage);
  const outDir = requireString(values, "out", usage);
  if (!(preset in MODEL_PRESETS)) throw new Phi4Error("INVALID_ARGUMENT", `unknown preset "${preset}"\n${usage}`);
  const precision = values.precision ?? "fp32";
  if (!(MODEL_PRECISIONS as readonly string[]).includes(precision)) {
    throw new Phi4Error("INVALID_ARGUMENT", `unknown precision "${precision}"\n${usage}`);
  }
  const bar = new cliProgress.SingleBar(
    { format: "writing {bar} {percentage}% | {doneMiB}/{totalMiB} MiB", stream: process.stderr, noTTYOutput: false },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  const made = await makeModel({
    preset: preset as ModelPreset,
    outDir,
    seed: optionalNumber(values, "seed", true),
    precision: precision as ModelPrecision,
    onProgress: (done, total) => {
      if (!started) {
        bar.start(total, 0, { doneMiB: "0", totalMiB: mib(total) });
        started = true;
      }
      bar.update(done, { doneMiB: mib(done) });
    },
  });
  if (started) bar.stop();
  process.stdout.write(
    `wrote ${made.outDir}: ${made.files.join(", ")} (${(made.parameters / 1e6).toFixed(1)}M parameters, ${made.precision}, ${mib(made.bytes)} MiB; random weights)\n`,
  );
}
