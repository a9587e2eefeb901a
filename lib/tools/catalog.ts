/**
 * A checked set of tools: Anthropic (`input_schema`) and MCP (`inputSchema`) definitions in one shape,
 * each with its compiled argument validator (ajv), and the tool list Phi-4-mini's prompt shows.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";

import { Phi4Error } from "../engine/errors.js";
import { addFormats } from "./formats.js";
import type { JsonSchema, AnyToolDefinition } from "./types.js";

export interface CatalogTool {
  name: string;
  description: string;
  schema: JsonSchema;
  validate: ValidateFunction;
}

// Tool schemas come from anywhere: unknown keywords and formats must not stop a call from validating
// (nor be logged for every tool that has one). Known formats are checked, as the constraint enforces them.
// A fractional multipleOf is checked to 6 decimals of the quotient: in doubles 0.3 / 0.1 is not 3, yet
// 0.3 is a multiple of 0.1 (the constraint writes exact decimal multiples).
export const VALIDATOR_OPTIONS = { allErrors: true, strict: false, logger: false, multipleOfPrecision: 6 } as const;
const ajv = addFormats(new Ajv(VALIDATOR_OPTIONS));

export class ToolCatalog {
  private readonly byName = new Map<string, CatalogTool>();

  private constructor(readonly tools: readonly CatalogTool[]) {
    for (const tool of tools) this.byName.set(tool.name, tool);
  }

  /** Checks and compiles tool definitions; a bad one is an INVALID_ARGUMENT error naming it. */
  static from(definitions: readonly AnyToolDefinition[] | ToolCatalog): ToolCatalog {
    if (definitions instanceof ToolCatalog) return definitions;
    const cached = catalogs.get(definitions);
    if (cached) return cached;
    const seen = new Set<string>();
    const tools = definitions.map((definition, i) => {
      const tool = compileTool(definition, i);
      if (seen.has(tool.name)) throw new Phi4Error("INVALID_ARGUMENT", `two tools are named "${tool.name}"`);
      seen.add(tool.name);
      return tool;
    });
    const catalog = new ToolCatalog(tools);
    catalogs.set(definitions, catalog);
    return catalog;
  }

  get(name: string): CatalogTool | undefined {
    return this.byName.get(name);
  }

  /** Only the named tools (a forced tool choice). */
  only(name: string): ToolCatalog {
    const tool = this.byName.get(name);
    if (!tool) throw new Phi4Error("INVALID_ARGUMENT", `tool_choice names "${name}", which is not one of the tools`);
    return new ToolCatalog([tool]);
  }

  /**
   * The tool list of the system prompt, as OpenAI-style function definitions (name, description,
   * parameters = the JSON schema): the form Phi-4-mini's function-calling examples use.
   */
  promptTools(): unknown[] {
    return this.tools.map((t) => ({ name: t.name, description: t.description, parameters: t.schema }));
  }

  /** Messages for each way `args` breaks the tool's schema ("get_weather: arguments.city: must be string"). */
  check(tool: CatalogTool, args: Record<string, unknown>): string[] {
    if (tool.validate(args)) return [];
    return (tool.validate.errors ?? []).map((e) => `${tool.name}: ${describeError(e)}`);
  }
}

const catalogs = new WeakMap<readonly AnyToolDefinition[], ToolCatalog>();
const validators = new WeakMap<JsonSchema, ValidateFunction>();

function compileTool(definition: AnyToolDefinition, index: number): CatalogTool {
  const d = definition as Partial<Record<"name" | "description" | "input_schema" | "inputSchema", unknown>>;
  if (typeof d.name !== "string" || d.name === "") throw new Phi4Error("INVALID_ARGUMENT", `tool ${index} has no name`);
  const schema = d.input_schema ?? d.inputSchema;
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) {
    throw new Phi4Error("INVALID_ARGUMENT", `tool "${d.name}" needs an input_schema (or MCP inputSchema) object`);
  }
  return {
    name: d.name,
    description: typeof d.description === "string" ? d.description : "",
    schema: schema as JsonSchema,
    validate: validator(d.name, schema as JsonSchema),
  };
}

function validator(name: string, schema: JsonSchema): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    // $schema would make ajv look up a draft it may not have, and $id would clash between tools that
    // reuse one; neither changes what the arguments must be.
    const { $schema: _draft, $id: _id, ...body } = schema;
    try {
      validate = ajv.compile(body);
    } catch (error) {
      throw new Phi4Error("INVALID_ARGUMENT", `tool "${name}" has an invalid input schema: ${(error as Error).message}`);
    }
    validators.set(schema, validate);
  }
  return validate;
}

function describeError(e: ErrorObject): string {
  const path =
    "arguments" +
    e.instancePath
      .split("/")
      .slice(1)
      .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p.replaceAll("~1", "/").replaceAll("~0", "~")}`))
      .join("");
  const params = e.params as Record<string, unknown>;
  let detail = "";
  if (e.keyword === "additionalProperties") detail = ` ("${String(params.additionalProperty)}")`;
  else if (e.keyword === "enum") detail = ` (${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")})`;
  else if (e.keyword === "const") detail = ` (${JSON.stringify(params.allowedValue)})`;
  return `${path}: ${e.message ?? e.keyword}${detail}`;
}
