/** The check that keeps the CLI tests from running a dist/ older than lib/ (test/helpers/fresh-dist.ts). */
import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { staleOutputs } from "./helpers/fresh-dist.js";

describe("staleOutputs", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "phi4-fresh-dist-"));
    await mkdir(path.join(root, "lib", "engine"), { recursive: true });
    await mkdir(path.join(root, "dist", "engine"), { recursive: true });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const write = async (file: string, seconds: number) => {
    await writeFile(path.join(root, file), "");
    await utimes(path.join(root, file), seconds, seconds);
  };

  it("lists sources whose output is missing or older, and nothing else", async () => {
    await write("lib/index.ts", 1000);
    await write("dist/index.js", 2000); // built after the source changed
    await write("lib/engine/model.ts", 3000);
    await write("dist/engine/model.js", 2000); // the source changed since the build
    await write("lib/engine/new-file.ts", 1000); // never built
    await write("lib/engine/types.d.ts", 5000); // declarations are not compiled
    expect(staleOutputs(root).sort()).toEqual([path.join("engine", "model.ts"), path.join("engine", "new-file.ts")]);

    await write("dist/engine/model.js", 3000);
    await write("dist/engine/new-file.js", 3000);
    expect(staleOutputs(root)).toEqual([]);
  });

  it("finds this checkout's dist/ fresh once the test run has started (the global setup built it)", () => {
    expect(staleOutputs(path.resolve("."))).toEqual([]);
  });
});
