/**
 * Writes the test model folders once per run (tiny, tiny-phi4 and tiny-phi4-long, with the project's own
 * model maker) and hands their paths to the test files; removes them afterwards. First makes sure dist/,
 * which the CLI tests run through bin/phi4.js, is not older than lib/.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { TestProject } from "vitest/node";

import { makeModel } from "../../lib/modelmaker/index.js";
import { ensureFreshDist } from "./fresh-dist.js";

declare module "vitest" {
  export interface ProvidedContext {
    models: { tiny: string; tinyPhi4: string; tinyPhi4Long: string };
  }
}

// Runs once per test project (vitest.config.ts), each with folders of its own.
export default async function setup(project: TestProject) {
  await ensureFreshDist(fileURLToPath(new URL("../..", import.meta.url)));
  const root = await mkdtemp(path.join(os.tmpdir(), "phi4-test-models-"));
  const tiny = path.join(root, "tiny");
  const tinyPhi4 = path.join(root, "tiny-phi4");
  const tinyPhi4Long = path.join(root, "tiny-phi4-long");
  await makeModel({ preset: "tiny", outDir: tiny, seed: 1 });
  await makeModel({ preset: "tiny-phi4", outDir: tinyPhi4, seed: 2 });
  await makeModel({ preset: "tiny-phi4-long", outDir: tinyPhi4Long, seed: 2 });
  project.provide("models", { tiny, tinyPhi4, tinyPhi4Long });
  // Commands the tests run (phi4 serve, chat, generate) keep the prefix cache's disk tier here, not in the user's cache.
  process.env.PHI4_PREFIX_CACHE_DIR = path.join(root, "prefix-cache");
  return async () => {
    await rm(root, { recursive: true, force: true });
  };
}
