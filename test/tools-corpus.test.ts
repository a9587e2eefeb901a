/**
 * Forced calls to realistic tool definitions on a tiny-phi4 random model (Phi-4's vocabulary, random
 * weights): the ten agent tools of the benchmark (Claude Code's, the MCP filesystem and memory
 * servers') and one tool per schema keyword the constraint enforces (bounds, multipleOf, patterns,
 * formats, lengths, tuples, uniqueItems, maps, $ref recursion, anyOf / oneOf of several shapes). Every
 * call, under several seeds, must validate under an ajv of the test's own with ajv-formats, streamed
 * or not, with no retry.
 */
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { addFormats } from "../lib/tools/formats.js";
import { generateToolTurn, streamLiveToolTurn, type LiveToolTurnEvent } from "../lib/tools/turn.js";
import { TOOLS } from "./helpers/tool-corpus.js";

const models = inject("models");

const SEEDS = [1, 2, 3];
// Each call sees only its own tool; the long-context variant of tiny-phi4 (the same vocabulary) holds
// the longer tool prompts.
const MAX_TOKENS = 96;

describe("forced calls to a corpus of real-world tool schemas", () => {
  let model: Model;
  // The catalog's options (a fractional multipleOf checked to 6 decimals of the quotient), with ajv-formats.
  const ajv = addFormats(new Ajv({ allErrors: true, strict: false, multipleOfPrecision: 6 }));

  beforeAll(async () => {
    model = await loadModel(models.tinyPhi4Long);
  });
  afterAll(async () => {
    await model?.dispose();
  });

  for (const t of TOOLS) {
    it(`${t.name}: every forced call validates, without a retry`, async () => {
      const validate = ajv.compile(t.input_schema);
      const toolChoice = { type: "tool" as const, name: t.name };
      const messages = [{ role: "user" as const, content: `Use ${t.name}.` }];
      for (const seed of SEEDS) {
        const turn = await generateToolTurn(model, { messages, tools: [t], toolChoice, maxTokens: MAX_TOKENS, sampling: { temperature: 1, seed } });
        expect(turn.retries, JSON.stringify(turn.errors)).toBe(0);
        expect(turn.toolCalls.length).toBeGreaterThan(0);
        for (const call of turn.toolCalls) expect(validate(call.arguments), `${JSON.stringify(call.arguments)}: ${JSON.stringify(validate.errors)}`).toBe(true);
      }
      // Streamed as it is written: never a call that fails validation after it was shown.
      const events: LiveToolTurnEvent[] = [];
      const stream = streamLiveToolTurn(model, { messages, tools: [t], toolChoice, maxTokens: MAX_TOKENS, sampling: { temperature: 1, seed: 7 } });
      for await (const event of stream) events.push(event);
      expect(events.filter((e) => e.type === "tool_use_invalid")).toEqual([]);
      const calls = (await stream.result).toolCalls;
      expect(calls.length).toBeGreaterThan(0);
      for (const call of calls) expect(validate(call.arguments), JSON.stringify(call.arguments)).toBe(true);
    });
  }
});
