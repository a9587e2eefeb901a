/**
 * Realistic tool definitions for tests of constrained calls: the ten agent tools of the benchmark
 * (Claude Code's Read, Edit, Bash, Grep, Glob, WebFetch, TodoWrite, TaskOutput, and an MCP filesystem
 * and memory tool), and one tool per schema keyword the constraint enforces.
 */
import { AGENT_TOOLS } from "../../lib/bench/agent-tools.js";
import type { ToolDefinition } from "../../lib/messages/types.js";
import type { JsonSchema } from "../../lib/tools/types.js";

const object = (properties: Record<string, JsonSchema>, required: string[]): JsonSchema => ({
  type: "object",
  properties,
  required,
  additionalProperties: false,
});
// Corpus schemas are any JSON Schema; the catalog checks them at run time, as it does a client's.
const tool = (name: string, input_schema: JsonSchema): ToolDefinition => ({
  name,
  description: name,
  input_schema: input_schema as ToolDefinition["input_schema"],
});

export const TOOLS: ToolDefinition[] = [
  ...AGENT_TOOLS,
  tool(
    "negative_bounds",
    object({ delta: { type: "integer", minimum: -40, exclusiveMaximum: -3 }, scale: { type: "number", exclusiveMinimum: -2.5, maximum: 0.75 } }, [
      "delta",
      "scale",
    ]),
  ),
  tool("multiple_of", object({ port: { type: "integer", minimum: 1024, maximum: 65535, multipleOf: 8 } }, ["port"])),
  tool("pattern", object({ branch: { type: "string", pattern: "^(feature|fix)/[a-z0-9-]{1,20}$" } }, ["branch"])),
  tool(
    "schedule",
    object({ at: { type: "string", format: "date-time" }, on: { type: "string", format: "date" }, daily: { type: "string", format: "time" } }, [
      "at",
      "on",
      "daily",
    ]),
  ),
  tool("contact", object({ email: { type: "string", format: "email" }, id: { type: "string", format: "uuid" } }, ["email", "id"])),
  tool("network", object({ v4: { type: "string", format: "ipv4" }, v6: { type: "string", format: "ipv6" } }, ["v4", "v6"])),
  tool(
    "tuple",
    object(
      {
        point: {
          type: "array",
          items: [
            { type: "number", minimum: -90, maximum: 90 },
            { type: "number", minimum: -180, maximum: 180 },
          ],
          additionalItems: false,
          minItems: 2,
        },
      },
      ["point"],
    ),
  ),
  tool("lengths", object({ tags: { type: "array", items: { type: "string", minLength: 2, maxLength: 5 }, minItems: 1, maxItems: 3 } }, ["tags"])),
  tool(
    "fraction",
    object({ price: { type: "number", minimum: 0, maximum: 500, multipleOf: 0.01 }, step: { type: "number", multipleOf: 0.5 } }, ["price", "step"]),
  ),
  tool(
    "tuple_2020",
    object({ at: { type: "array", prefixItems: [{ type: "integer", minimum: 0, maximum: 23 }, { enum: ["am", "pm"] }], minItems: 2, maxItems: 2 } }, ["at"]),
  ),
  tool("unique", object({ flags: { type: "array", items: { enum: ["a", "b", "c", 1] }, uniqueItems: true, minItems: 2 } }, ["flags"])),
  tool("map", object({ env: { type: "object", additionalProperties: { type: "string", maxLength: 6 } } }, ["env"])),
  tool("tree", {
    $ref: "#/$defs/node",
    $defs: {
      node: object({ name: { type: "string", maxLength: 4 }, kids: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 2 } }, ["name"]),
    },
  }),
  // anyOf / oneOf of shapes that start alike, or not.
  tool(
    "source",
    object(
      {
        from: {
          oneOf: [
            object({ kind: { const: "file" }, path: { type: "string", maxLength: 10 } }, ["kind", "path"]),
            object({ kind: { const: "url" }, url: { type: "string", format: "uri" } }, ["kind", "url"]),
          ],
        },
      },
      ["from"],
    ),
  ),
  tool(
    "target",
    object(
      {
        target: { anyOf: [{ type: "string", maxLength: 8 }, object({ line: { type: "integer", minimum: 1 } }, ["line"])] },
        tags: { oneOf: [{ type: "array", items: { type: "string", maxLength: 5 }, maxItems: 2 }, { type: "null" }] },
      },
      ["target", "tags"],
    ),
  ),
  tool("find", {
    type: "object",
    properties: { path: { type: "string", maxLength: 8 }, glob: { type: "string", maxLength: 8 }, regex: { type: "string", maxLength: 8 } },
    oneOf: [{ required: ["glob"] }, { required: ["regex"] }],
    additionalProperties: false,
  }),
  tool(
    "ranges",
    object(
      {
        level: {
          oneOf: [
            { type: "integer", minimum: 0, maximum: 10 },
            { type: "integer", minimum: 5, maximum: 20 },
          ],
        },
        ratio: {
          anyOf: [
            { type: "number", maximum: -1 },
            { type: "number", minimum: 1, maximum: 2 },
          ],
        },
      },
      ["level", "ratio"],
    ),
  ),
];
