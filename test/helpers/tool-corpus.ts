/**
 * Realistic tool definitions for tests of constrained calls: coding-agent tools shaped like Claude
 * Code's (Bash and TaskOutput timeouts up to 600000, WebFetch's URL, TodoWrite's list) and one tool per
 * schema keyword the constraint enforces.
 */
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
  tool("Bash", object({ command: { type: "string" }, timeout: { type: "number", maximum: 600000 }, run_in_background: { type: "boolean" } }, ["command"])),
  tool(
    "TaskOutput",
    object({ task_id: { type: "string" }, block: { type: "boolean" }, timeout: { type: "number", minimum: 0, maximum: 600000 } }, [
      "task_id",
      "block",
      "timeout",
    ]),
  ),
  tool("WebFetch", object({ url: { type: "string", format: "uri" }, prompt: { type: "string" } }, ["url", "prompt"])),
  tool(
    "Read",
    object({ file_path: { type: "string" }, offset: { type: "integer", minimum: 0 }, limit: { type: "integer", exclusiveMinimum: 0 } }, ["file_path"]),
  ),
  tool(
    "TodoWrite",
    object(
      {
        todos: {
          type: "array",
          items: object(
            {
              content: { type: "string", minLength: 1 },
              status: { enum: ["pending", "in_progress", "completed"] },
              activeForm: { type: "string", minLength: 1 },
            },
            ["content", "status", "activeForm"],
          ),
        },
      },
      ["todos"],
    ),
  ),
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
];
