/**
 * Fuzzing for a bounded time: the request parser and the server with mutated Messages bodies, and the
 * tool-call parser with text built from the pieces its grammar reacts to. Seeded: a failure names the
 * seed and the input, and PHI4_FUZZ_SEED replays it. PHI4_FUZZ_MS sets the time per target.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { Phi4Error } from "../lib/engine/errors.js";
import { loadModel, type Model } from "../lib/engine/model.js";
import { ApiError } from "../lib/server/errors.js";
import { parseCountTokensBody, parseMessagesBody } from "../lib/server/request-schema.js";
import { startServer, type Phi4Server } from "../lib/server/index.js";
import { parseToolCalls, ToolCallStreamParser } from "../lib/tools/stream-parser.js";
import type { AnyToolDefinition, ToolCallParseResult } from "../lib/tools/types.js";

const BUDGET_MS = Number(process.env.PHI4_FUZZ_MS ?? 2_000);
const SEED = Number(process.env.PHI4_FUZZ_SEED ?? Date.now() % 2 ** 31);

/** mulberry32: small, fast, and the same sequence for the same seed. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick };
}
type Random = ReturnType<typeof random>;

/** Runs `round` with a fresh seed per round until the budget is spent; returns the rounds run. */
function fuzz(round: (rng: Random, seed: number) => void): number {
  const until = performance.now() + BUDGET_MS;
  let rounds = 0;
  for (let seed = SEED; performance.now() < until; seed++, rounds++) round(random(seed), seed);
  return rounds;
}

const WEIRD_STRINGS = ["", " ", "<|end|>", "<|system|>", "\u0000", "\uFDD0", "\ud800", "😀", "a".repeat(1000), "{}", "null", "-1", "1e309"];

function anyJson(rng: Random, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 6 : 8)) {
    case 0:
      return null;
    case 1:
      return rng.next() < 0.5;
    case 2:
      return rng.pick([0, -1, 1.5, 2 ** 31, 1e12, Number.MAX_SAFE_INTEGER, 4]);
    case 3:
    case 4:
      return rng.pick(WEIRD_STRINGS);
    case 5:
      return rng.pick(["user", "assistant", "system", "text", "tool_use", "tool_result", "image", "auto", "any", "tool", "none"]);
    case 6:
      return Array.from({ length: rng.int(4) }, () => anyJson(rng, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: rng.int(4) }, () => [
          rng.pick(["type", "text", "content", "role", "name", "input", "id", "tool_use_id", "is_error", "x"]),
          anyJson(rng, depth + 1),
        ]),
      );
  }
}

const VALID = {
  model: "m",
  max_tokens: 8,
  system: [{ type: "text", text: "Be brief." }],
  tools: [{ name: "get_weather", description: "Weather", input_schema: { type: "object", properties: { city: { type: "string" } } } }],
  tool_choice: { type: "auto" },
  messages: [
    { role: "user", content: "Weather in Paris?" },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Checking." },
        { type: "tool_use", id: "t1", name: "get_weather", input: { city: "Paris" } },
      ],
    },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "Sunny" }] }] },
  ],
  temperature: 0.5,
  top_p: 0.9,
  stop_sequences: ["\n\n"],
};

/** The valid body with one to three values somewhere in it replaced by arbitrary JSON (or removed). */
function mutatedBody(rng: Random): unknown {
  const body = structuredClone(VALID) as Record<string, unknown>;
  for (let m = 0, n = 1 + rng.int(3); m < n; m++) {
    let node: unknown = body;
    for (let depth = 0; depth < 5; depth++) {
      const container = node as Record<string, unknown>;
      const keys = Object.keys(container);
      if (keys.length === 0) break;
      const key = rng.pick(keys);
      const child = container[key];
      if (child === null || typeof child !== "object" || rng.next() < 0.3) {
        if (rng.next() < 0.2) delete container[key];
        else container[key] = anyJson(rng);
        break;
      }
      node = child;
    }
  }
  return body;
}

describe("request parser", () => {
  it("answers any mutated body with a request or a 400 invalid_request_error, never another failure", () => {
    let accepted = 0;
    const rounds = fuzz((rng, seed) => {
      const body = mutatedBody(rng);
      for (const parse of [parseMessagesBody, parseCountTokensBody]) {
        try {
          parse(body);
          accepted++;
        } catch (error) {
          const ok = error instanceof ApiError && error.status === 400 && error.type === "invalid_request_error";
          if (!ok) expect.fail(`seed ${seed}: ${String(error)} for ${JSON.stringify(body)}`);
        }
      }
    });
    expect(rounds).toBeGreaterThan(100);
    expect(accepted).toBeGreaterThan(0); // the mutations leave some bodies valid: both paths are exercised
  });
});

describe("server", () => {
  const models = inject("models");
  let model: Model;
  let server: Phi4Server;
  beforeAll(async () => {
    model = await loadModel(models.tinyPhi4, { threads: 1 });
    server = await startServer({ model, port: 0, capacity: 256 });
  });
  afterAll(async () => {
    await server?.close();
    await model?.dispose();
  });

  it("answers mutated count_tokens bodies with 200 or a 4xx, never a 5xx", async () => {
    const until = performance.now() + BUDGET_MS;
    const statuses = new Map<number, number>();
    for (let seed = SEED; performance.now() < until; seed++) {
      const body = JSON.stringify(mutatedBody(random(seed)));
      const res = await fetch(`${server.url}/v1/messages/count_tokens`, { method: "POST", headers: { "content-type": "application/json" }, body });
      const text = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500) expect.fail(`seed ${seed}: ${res.status} ${text} for ${body}`);
    }
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
  });
});

describe("tool-call parser", () => {
  const TOOLS: AnyToolDefinition[] = [
    {
      name: "get_weather",
      description: "Weather",
      input_schema: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] },
    },
    { name: "noop", description: "Nothing", input_schema: { type: "object", properties: {} } },
  ];
  const PIECES = [
    "<|tool_call|>",
    "<|/tool_call|>",
    "functools",
    "```json\n",
    "```",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    " ",
    "\n",
    "'",
    '"',
    "\\",
    '"name"',
    '"arguments"',
    '"parameters"',
    "'name'",
    '"get_weather"',
    '"noop"',
    '"nope"',
    '{"city": "Paris"}',
    "{'city': 'Rome', 'days': 3}",
    '{"name": "get_weather", "arguments": {"city": "Oslo"}}',
    "null",
    "true",
    "1e5",
    "-0",
    "Checking",
    "🌦",
    "<|",
    "|>",
    "<|end|>",
    "tru",
    '{"a":',
  ];

  function fold(events: ReturnType<ToolCallStreamParser["push"]>): ToolCallParseResult {
    const result: ToolCallParseResult = { text: "", calls: [], errors: [] };
    for (const event of events) {
      if (event.type === "text") result.text += event.text;
      else if (event.type === "call") result.calls.push(event.call);
      else result.errors.push(event.error);
    }
    result.text = result.text.trim();
    return result;
  }

  it("never throws, names only known tools, and streams to the batch result at any split", () => {
    const rounds = fuzz((rng, seed) => {
      const text = Array.from({ length: 1 + rng.int(30) }, () => rng.pick(PIECES)).join("");
      const where = `seed ${seed}: ${JSON.stringify(text)}`;
      let batch: ToolCallParseResult;
      try {
        batch = parseToolCalls(text, TOOLS);
      } catch (error) {
        if (!(error instanceof Phi4Error)) expect.fail(`${where}: ${String(error)}`);
        return;
      }
      for (const call of batch.calls) expect(["get_weather", "noop"], where).toContain(call.name);
      const parser = new ToolCallStreamParser(TOOLS);
      const events = [];
      for (let at = 0; at < text.length;) {
        const next = Math.min(text.length, at + 1 + rng.int(8));
        events.push(...parser.push(text.slice(at, next)));
        at = next;
      }
      events.push(...parser.end());
      expect(fold(events), where).toEqual(batch);
    });
    expect(rounds).toBeGreaterThan(100);
  });
});
