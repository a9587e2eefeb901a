/** phi4 pull: downloads a model folder from a Hugging Face-style endpoint, then checks that it loads. */
import path from "node:path";
import { parseArgs } from "node:util";

import cliProgress from "cli-progress";

import { loadModelFolder } from "../../engine/genai-config.js";
import { Phi4Error } from "../../engine/errors.js";
import { DEFAULT_ENDPOINT, pullModel, type PullResult } from "../../pull/index.js";
import { optionalNumber } from "../args.js";

export const pullUsage = "usage: phi4 pull <owner/repo> [--include FOLDER]... [--dir DIR] [--endpoint URL] [--retries N]";

export async function pullCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      include: { type: "string", multiple: true },
      dir: { type: "string" },
      endpoint: { type: "string" },
      retries: { type: "string" },
    },
  });
  const [repo, ...extra] = positionals;
  if (!repo || extra.length > 0) throw new Phi4Error("INVALID_ARGUMENT", `expected one repository id\n${pullUsage}`);
  const retries = optionalNumber(values, "retries", true);
  if (retries !== undefined && retries < 0) throw new Phi4Error("INVALID_ARGUMENT", `--retries must be 0 or more\n${pullUsage}`);
  const dir = values.dir ?? repo.split("/").pop()!;

  const bar = new cliProgress.SingleBar(
    { format: "{bar} {percentage}% | {doneMiB}/{totalMiB} MiB | {file}", stream: process.stderr, noTTYOutput: false },
    cliProgress.Presets.shades_classic,
  );
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  let started = false;
  let result: PullResult;
  try {
    result = await pullModel({
      repo,
      include: values.include ?? [],
      dir,
      endpoint: values.endpoint ?? (process.env.HF_ENDPOINT || DEFAULT_ENDPOINT),
      token: process.env.HF_TOKEN || undefined,
      retries,
      onProgress: (done, total, file) => {
        if (!started) bar.start(total, 0, { totalMiB: mib(total) });
        started = true;
        bar.update(done, { doneMiB: mib(done), file });
      },
    });
  } finally {
    if (started) bar.stop();
  }

  const downloaded = result.files.filter((f) => f.status === "downloaded").length;
  const bytes = result.files.reduce((sum, f) => sum + f.size, 0);
  const lines = [
    `pulled ${repo} into ${result.dir}: ${result.files.length} files, ${mib(bytes)} MiB (${downloaded} downloaded, ${result.files.length - downloaded} already complete)`,
  ];
  for (const modelDir of result.modelDirs) {
    // The same check `generate` does first: a folder that passes it has a valid config and its model file.
    const folder = await loadModelFolder(modelDir);
    const relative = path.relative(process.cwd(), modelDir);
    const shown = relative === "" ? "." : relative.startsWith("..") || path.isAbsolute(relative) ? modelDir : relative;
    lines.push(
      `model folder ${shown}: ${folder.type}, ${folder.numLayers} layers, vocabulary ${folder.vocabSize}, context ${folder.contextLength}`,
      `  run it: phi4 generate --model ${quote(shown)} --chat "Hello"`,
    );
  }
  process.stdout.write(lines.join("\n") + "\n");
}

/** Shell-quotes a path only when it needs it. */
function quote(text: string): string {
  return /^[\w./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
