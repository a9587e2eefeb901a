/** phi4 generate --tools and phi4 bench constraint, run as a user would (node bin/phi4.js, from dist/). */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const run = promisify(execFile);
const models = inject("models");
const bin = path.resolve("bin/phi4.js");

const TOOLS = [
  {
    name: "get_weather",
    description: "Weather for a city",
    input_schema: {
      type: "object",
      properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["celsius", "fahrenheit"] } },
      required: ["city"],
      additionalProperties: false,
    },
  },
  {
    name: "book_table",
    description: "Book a table",
    input_schema: {
      type: "object",
      properties: { guests: { type: "integer" }, names: { type: "array", items: { type: "string", maxLength: 6 }, maxItems: 2 } },
      required: ["guests", "names"],
      additionalProperties: false,
    },
  },
];

async function phi4(...args: string[]) {
  return run(process.execPath, [bin, ...args], { maxBuffer: 16 << 20 });
}

describe("phi4 generate --tools", () => {
  let dir: string;
  let toolsFile: string;
  const ajv = new Ajv();
  const validators = new Map(TOOLS.map((t) => [t.name, ajv.compile(t.input_schema)]));

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "phi4-tools-cli-"));
    toolsFile = path.join(dir, "tools.json");
    await writeFile(toolsFile, JSON.stringify(TOOLS));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("--tool-choice any prints toolCalls that validate and stopReason tool_use", async () => {
    for (const seed of ["1", "2"]) {
      const { stdout } = await phi4(
        "generate",
        "--model",
        models.tinyPhi4,
        "--chat",
        "Book for two, then check the weather.",
        "--tools",
        toolsFile,
        "--tool-choice",
        "any",
        "--max-tokens",
        "48",
        "--temperature",
        "1",
        "--seed",
        seed,
        "--json",
      );
      const lines = stdout.trim().split("\n");
      expect(lines).toHaveLength(1);
      const out = JSON.parse(lines[0]);
      expect(Object.keys(out).sort()).toEqual(["retries", "steps", "stopReason", "text", "timings", "toolCalls", "tokens", "usage"].sort());
      expect(out.stopReason).toBe("tool_use");
      expect(out.toolCalls.length).toBeGreaterThan(0);
      for (const call of out.toolCalls) {
        expect(Object.keys(call).sort()).toEqual(["arguments", "name"]);
        expect(validators.get(call.name)!(call.arguments)).toBe(true);
      }
      expect(out.tokens.length).toBeLessThanOrEqual(48);
      expect(out.usage.outputTokens).toBe(out.tokens.length);
      // Jump-forward is on: the opening `[{"name": "` at least was appended, not sampled.
      expect(out.steps.jumps).toBeGreaterThan(0);
      expect(out.steps.sampled).toBeLessThan(out.tokens.length);
    }
  });

  it("--no-jump-forward samples every token", async () => {
    const { stdout } = await phi4(
      "generate",
      "--model",
      models.tinyPhi4,
      "--chat",
      "Book",
      "--tools",
      toolsFile,
      "--tool-choice",
      "any",
      "--max-tokens",
      "48",
      "--seed",
      "1",
      "--temperature",
      "1",
      "--no-jump-forward",
      "--json",
    );
    const out = JSON.parse(stdout);
    expect(out.toolCalls.length).toBeGreaterThan(0);
    expect(out.steps).toMatchObject({ sampled: out.tokens.length, jumps: 0, jumpedTokens: 0 });
  });

  it("--tool-choice NAME calls that tool; without --json the call is printed", async () => {
    const { stdout, stderr } = await phi4(
      "generate",
      "--model",
      models.tinyPhi4,
      "--chat",
      "Book",
      "--tools",
      toolsFile,
      "--tool-choice",
      "book_table",
      "--max-tokens",
      "40",
      "--seed",
      "3",
      "--temperature",
      "1",
    );
    const printed = /\[tool_use book_table (.*)\]/.exec(stdout);
    expect(printed).not.toBeNull();
    expect(validators.get("book_table")!(JSON.parse(printed![1]))).toBe(true);
    expect(stderr).toMatch(/stop: tool_use, 0 retries/);
  });

  it("--tool-choice auto lets the model answer in text", async () => {
    const out = JSON.parse((await phi4("generate", "--model", models.tinyPhi4, "--chat", "Hi", "--tools", toolsFile, "--max-tokens", "5", "--json")).stdout);
    expect(out.toolCalls).toEqual([]);
    expect(["end_turn", "max_tokens"]).toContain(out.stopReason);
  });

  it("reports bad tool arguments", async () => {
    const fails = (...args: string[]) =>
      phi4("generate", "--model", models.tinyPhi4, ...args).then(
        () => "",
        (e: { code: number; stderr: string }) => `${e.code} ${e.stderr}`,
      );
    expect(await fails("--prompt", "x", "--tools", toolsFile)).toMatch(/^1 .*--tools needs --chat/);
    expect(await fails("--chat", "x", "--tools", path.join(dir, "missing.json"))).toMatch(/INVALID_ARGUMENT: cannot read --tools/);
    expect(await fails("--chat", "x", "--tools", toolsFile, "--tool-choice", "nope")).toMatch(/"nope", which is not one of the tools/);
  });
});

describe("phi4 bench constraint", () => {
  it("--json reports the mask time per token and its ratio to a decode step", async () => {
    const { stdout } = await phi4("bench", "constraint", "--model", models.tinyPhi4, "--runs", "1", "--decode-tokens", "3", "--json");
    const out = JSON.parse(stdout);
    expect(out.benchmark).toBe("constraint");
    expect(out.model).toEqual({ name: "tiny-phi4", vocabSize: 200064 });
    const r = out.results;
    expect(r.decodeStepMs).toBeGreaterThan(0);
    expect(r.mask.samples).toBeGreaterThan(0);
    for (const key of ["meanMs", "p50Ms", "p95Ms", "maxMs"]) expect(r.mask[key]).toBeGreaterThanOrEqual(0);
    expect(r.mask.p50Ms).toBeLessThanOrEqual(r.mask.p95Ms);
    expect(r.perToolSet.map((t: { name: string }) => t.name)).toEqual(["weather", "calendar", "search", "agent", "keywords"]);
    expect(r.overheadMean).toBeCloseTo((r.mask.meanMs + Math.max(0, r.maskApplyMs)) / r.decodeStepMs, 9);
    // Jump-forward: a forced call to each of the ten agent tools, both ways; every call has required
    // properties, so every call jumps and samples fewer tokens than it writes.
    const j = r.jumpForward;
    expect(j.calls.map((c: { tool: string }) => c.tool)).toEqual([
      "Read",
      "Edit",
      "Bash",
      "Grep",
      "Glob",
      "WebFetch",
      "TodoWrite",
      "TaskOutput",
      "edit_file",
      "create_entities",
    ]);
    for (const c of j.calls) {
      expect(c.on.ms).toBeGreaterThan(0);
      expect(c.off.ms).toBeGreaterThan(0);
      expect(c.on.jumps).toBeGreaterThan(0);
      expect(c.on.sampled).toBeLessThan(c.on.tokens);
      expect(c.off.sampled).toBe(c.off.tokens);
    }
    expect(j.mean.savedShare).toBeGreaterThan(0);
    expect(stdout).not.toContain("NaN");
  });
});
