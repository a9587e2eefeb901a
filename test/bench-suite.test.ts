/**
 * phi4 bench (the whole suite), run from the compiled dist/ on the tiny-phi4 model with small
 * settings: it writes the JSON, the markdown report and both plots, and reports every target,
 * as measured or as not measured when the run left its point out. No timing thresholds.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const run = promisify(execFile);
const models = inject("models");
const bin = path.resolve("bin/phi4.js");

describe("phi4 bench (suite)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "phi4-suite-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("runs every benchmark and writes the report, the plots and the targets", async () => {
    const out = path.join(dir, "run.json");
    const settings = [
      "--prompt-tokens",
      "8,40",
      "--gen-tokens",
      "6",
      "--runs",
      "1",
      "--prefix-tokens",
      "40",
      "--turns",
      "2",
      "--concurrency",
      "1,2",
      "--micro-time",
      "0.05",
    ];
    const { stdout } = await run(process.execPath, [bin, "bench", "--model", models.tinyPhi4, "--out", out, ...settings], { maxBuffer: 1 << 24 });

    expect((await readdir(dir)).sort()).toEqual(["run-batch.svg", "run-decode.svg", "run.json", "run.md"]);
    const result = JSON.parse(await readFile(out, "utf8"));
    expect(result.benchmark).toBe("suite");
    for (const part of ["decode", "prefix", "batch", "peer", "micro"]) expect(result[part].benchmark, part).toBe(part);
    expect(result.machine.readBandwidthBytesPerSec).toBe(result.decode.results.readBandwidthBytesPerSec);
    expect(result.model.modelOnnxSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(result.peer.settings.promptLengths).toEqual([8, 40]);
    expect(result.batch.results.map((r: { concurrency: number }) => r.concurrency)).toEqual([1, 2]);

    const byName = Object.fromEntries(result.targets.map((t: { name: string }) => [t.name, t]));
    expect(result.targets).toHaveLength(6);
    // Measured in this run: the roofline at the decode benchmark's 128-token prompt, and the event loop.
    const roofline = byName["Decode / memory-bandwidth roofline, 128-token prompt"];
    expect(roofline.value).toBeCloseTo(result.decode.results.rooflineFraction, 9);
    expect(roofline.met).toBe(roofline.value >= 0.7);
    expect(byName["Event-loop delay p99 during generation (single and batched)"].value).toBeGreaterThanOrEqual(0);
    // Left out by these settings: prompts 128/1024/2048 for the peer and concurrency 4.
    for (const name of [
      "Decode vs transformers.js, 2048-token prompt",
      "Time to first token vs transformers.js, 1024-token prompt",
      "Batched aggregate decode, concurrency 4 vs 1",
    ]) {
      expect(byName[name]).toMatchObject({ value: null, met: null, shown: "not measured" });
    }

    const markdown = await readFile(path.join(dir, "run.md"), "utf8");
    expect(stdout).toBe(markdown);
    expect(markdown).toContain("](run-decode.svg)");
    expect(markdown).toContain("](run-batch.svg)");
    expect(markdown).toMatch(/^## Targets$/m);
    // Each benchmark's own report is a section of the page.
    expect(markdown.match(/^## /gm)?.length).toBeGreaterThanOrEqual(6);
    const svg = await readFile(path.join(dir, "run-decode.svg"), "utf8");
    expect(svg).toMatch(/^<svg[^>]*viewBox/);
    expect(svg).toContain("transformers.js");
  });

  it("rejects an --out that is not a .json file", async () => {
    const failure = await run(process.execPath, [bin, "bench", "--model", models.tinyPhi4, "--out", path.join(dir, "x.txt")]).catch((e) => e);
    expect(failure.code).toBe(1);
    expect(failure.stderr).toMatch(/--out must name a \.json file/);
  });
});
