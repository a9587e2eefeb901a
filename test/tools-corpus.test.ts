/**
 * Forced calls to realistic tool definitions on the tiny-phi4 random model (Phi-4's vocabulary, random
 * weights): coding-agent tools shaped like Claude Code's (Bash and TaskOutput timeouts up to 600000,
 * WebFetch's URL, TodoWrite's list) and one tool per schema keyword the constraint enforces. Every
 * call must validate under an ajv of the test's own with ajv-formats, streamed or not, with no retry.
 */
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, type Model } from "../lib/engine/model.js";
import { addFormats } from "../lib/tools/formats.js";
import { generateToolTurn, streamLiveToolTurn, type LiveToolTurnEvent } from "../lib/tools/turn.js";
import type { ToolDefinition } from "../lib/messages/types.js";
import type { JsonSchema } from "../lib/tools/types.js";

const models = inject("models");

const object = (properties: Record<string, JsonSchema>, required: string[]): JsonSchema => ({ type: "object", properties, required, additionalProperties: false });
// Corpus schemas are any JSON Schema; the catalog checks them at run time, as it does a client's.
const tool = (name: string, input_schema: JsonSchema): ToolDefinition => ({ name, description: name, input_schema: input_schema as ToolDefinition["input_schema"] });

const TOOLS: ToolDefinition[] = [
  tool("Bash", object({ command: { type: "string" }, timeout: { type: "number", maximum: 600000 }, run_in_background: { type: "boolean" } }, ["command"])),
  tool("TaskOutput", object({ task_id: { type: "string" }, block: { type: "boolean" }, timeout: { type: "number", minimum: 0, maximum: 600000 } }, ["task_id", "block", "timeout"])),
  tool("WebFetch", object({ url: { type: "string", format: "uri" }, prompt: { type: "string" } }, ["url", "prompt"])),
  tool("Read", object({ file_path: { type: "string" }, offset: { type: "integer", minimum: 0 }, limit: { type: "integer", exclusiveMinimum: 0 } }, ["file_path"])),
  tool(
    "TodoWrite",
    object(
      {
        todos: {
          type: "array",
          items: object({ content: { type: "string", minLength: 1 }, status: { enum: ["pending", "in_progress", "completed"] }, activeForm: { type: "string", minLength: 1 } }, ["content", "status", "activeForm"]),
        },
      },
      ["todos"],
    ),
  ),
  tool("negative_bounds", object({ delta: { type: "integer", minimum: -40, exclusiveMaximum: -3 }, scale: { type: "number", exclusiveMinimum: -2.5, maximum: 0.75 } }, ["delta", "scale"])),
  tool("multiple_of", object({ port: { type: "integer", minimum: 1024, maximum: 65535, multipleOf: 8 } }, ["port"])),
  tool("pattern", object({ branch: { type: "string", pattern: "^(feature|fix)/[a-z0-9-]{1,20}$" } }, ["branch"])),
  tool("schedule", object({ at: { type: "string", format: "date-time" }, on: { type: "string", format: "date" }, daily: { type: "string", format: "time" } }, ["at", "on", "daily"])),
  tool("contact", object({ email: { type: "string", format: "email" }, id: { type: "string", format: "uuid" } }, ["email", "id"])),
  tool("network", object({ v4: { type: "string", format: "ipv4" }, v6: { type: "string", format: "ipv6" } }, ["v4", "v6"])),
  tool("tuple", object({ point: { type: "array", items: [{ type: "number", minimum: -90, maximum: 90 }, { type: "number", minimum: -180, maximum: 180 }], additionalItems: false, minItems: 2 } }, ["point"])),
  tool("lengths", object({ tags: { type: "array", items: { type: "string", minLength: 2, maxLength: 5 }, minItems: 1, maxItems: 3 } }, ["tags"])),
];

const SEEDS = [1, 2, 3];
// tiny-phi4 has a context of 256 tokens: each call sees only its own tool, and the answer gets 96.
const MAX_TOKENS = 96;

describe("forced calls to a corpus of real-world tool schemas", () => {
  let model: Model;
  const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));

  beforeAll(async () => {
    model = await loadModel(models.tinyPhi4);
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
