/**
 * phi4 agent: runs a task through the agent loop with MCP tools, on the local model alone or through
 * the router (--router), and prints the transcript as it happens, or one JSON object with --json.
 */
import { parseArgs } from "node:util";

import { runAgent } from "../../agent/loop.js";
import type { AgentResult } from "../../agent/types.js";
import { Phi4Error } from "../../engine/errors.js";
import { loadModel, type Model } from "../../engine/model.js";
import { McpBridge } from "../../mcp/bridge.js";
import { loadMcpConfig } from "../../mcp/config.js";
import { ProviderError } from "../../providers/errors.js";
import { LocalProvider } from "../../providers/local.js";
import type { ToolChoice } from "../../messages/types.js";
import type { Provider, TaskHints } from "../../providers/types.js";
import { loadRouterConfig, type RouterConfig } from "../../router/config.js";
import { ConfigError } from "../../util/config-file.js";
import { createRouter } from "../../router/from-config.js";
import { withLocalSettings } from "../../server/backend.js";
import { RouterError } from "../../router/router.js";
import { printAgentEvent } from "../agent-events.js";
import { JUMP_FORWARD_HELP, KV_MEMORY_HELP, optionalByteSize, optionalNumber, requireString } from "../args.js";
import { showPrefillProgress } from "../prefill-progress.js";
import { prefixCacheArgs, prefixCacheDisk, prefixCacheUsage } from "../prefix-cache-args.js";

export const agentUsage = `usage: phi4 agent --mcp-config FILE --task TEXT [--model DIR] [--router FILE]
       [--tool-choice auto|any|none|TOOL] [--allowed-tools NAME,NAME|none] [--system TEXT]
       [--max-iterations N] [--max-tokens N] [--privacy normal|high] [--complexity low|medium|high]
       [--capacity N] [--kv-memory SIZE] [--threads N] [--no-jump-forward] [--json]
  Without --router the local model (--model) serves every turn (--capacity sets its KV capacity).
${KV_MEMORY_HELP}
  --tool-choice applies to the first turn; later turns use auto so the loop can end.
${JUMP_FORWARD_HELP}
${prefixCacheUsage}`;

export async function agentCommand(argv: string[]): Promise<void> {
  try {
    await agent(argv);
  } catch (error) {
    throw plainError(error);
  }
}

async function agent(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      "mcp-config": { type: "string" },
      router: { type: "string" },
      "tool-choice": { type: "string" },
      "allowed-tools": { type: "string" },
      task: { type: "string" },
      system: { type: "string" },
      "max-iterations": { type: "string" },
      "max-tokens": { type: "string" },
      privacy: { type: "string" },
      complexity: { type: "string" },
      capacity: { type: "string" },
      "kv-memory": { type: "string" },
      threads: { type: "string" },
      json: { type: "boolean" },
      "no-jump-forward": { type: "boolean" },
      ...prefixCacheArgs,
    },
  });
  const task = requireString(values, "task", agentUsage);
  const mcpConfigFile = requireString(values, "mcp-config", agentUsage);
  const hints = taskHints(values.privacy, values.complexity);
  const toolChoice = values["tool-choice"] === undefined ? undefined : parseToolChoice(values["tool-choice"]);
  const kvMemory = optionalByteSize(values, "kv-memory");

  const [mcpConfig, routerConfig] = await Promise.all([
    loadMcpConfig(mcpConfigFile),
    values.router === undefined ? undefined : loadRouterConfig(values.router),
  ]);
  const modelDir = values.model ?? localDir(routerConfig);
  const needsModel = routerConfig === undefined || Object.values(routerConfig.providers).some((p) => p.type === "local");
  if (needsModel && modelDir === undefined) throw new Phi4Error("INVALID_ARGUMENT", `--model is required for the local model\n${agentUsage}`);

  const bridge = new McpBridge(mcpConfig);
  let model: Model | undefined;
  let hideProgress = () => undefined as void;
  try {
    // Both take a while (tokenizer, server processes): in parallel.
    const [loaded, tools] = await Promise.all([
      needsModel ? loadModel(modelDir!, { threads: optionalNumber(values, "threads", true), kvMemory, prefixCacheDisk: prefixCacheDisk(values) }) : undefined,
      bridge.tools(),
    ]);
    model = loaded;
    if (model) hideProgress = showPrefillProgress(model);
    const capacity = optionalNumber(values, "capacity", true);
    const jumpForward = values["no-jump-forward"] === true ? false : undefined;
    const provider: Provider = routerConfig
      ? createRouter(withLocalSettings(routerConfig, { jumpForward }), { model })
      : new LocalProvider(model!, { capacity, jumpForward });
    for (const [server, error] of bridge.serverErrors) process.stderr.write(`phi4 agent: MCP server "${server}" is unavailable: ${error}\n`);
    const run = runAgent({
      provider,
      tools: bridge,
      task,
      system: values.system,
      allowedTools: allowedTools(values["allowed-tools"]),
      toolChoice,
      maxIterations: optionalNumber(values, "max-iterations", true),
      maxTokens: optionalNumber(values, "max-tokens", true),
      hints,
    });
    if (!values.json) {
      process.stderr.write(`[${tools.length} tools from ${Object.keys(mcpConfig.mcpServers).length} MCP servers]\n`);
      // The events end with the run's error, if any, which run.result reports below.
      await (async () => {
        for await (const event of run) printAgentEvent(event);
      })().catch(() => undefined);
    }
    const result = await run.result;
    if (values.json) process.stdout.write(JSON.stringify(jsonTranscript(result)) + "\n");
    else
      process.stderr.write(
        `\n[${result.stopReason}; ${result.steps.length} turns; ${result.usage.input_tokens} input + ${result.usage.output_tokens} output tokens]\n`,
      );
  } finally {
    hideProgress();
    await bridge.close();
    await model?.dispose();
  }
}

function jsonTranscript(result: AgentResult) {
  return {
    finalText: result.finalText,
    stopReason: result.stopReason,
    steps: result.steps.map((step) => ({ provider: step.provider, toolCalls: step.toolCalls, toolResults: step.toolResults })),
    usage: result.usage,
    routing: result.routing,
  };
}

/** "a,b" -> those tools; "none" -> no tools at all (a plain chat turn). */
function allowedTools(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value === "none" ? [] : value.split(",").map((name) => name.trim());
}

function parseToolChoice(value: string): ToolChoice {
  if (value === "auto" || value === "any" || value === "none") return { type: value };
  return { type: "tool", name: value };
}

function taskHints(privacy: string | undefined, complexity: string | undefined): TaskHints {
  if (privacy !== undefined && privacy !== "normal" && privacy !== "high")
    throw new Phi4Error("INVALID_ARGUMENT", `--privacy must be normal or high (got ${privacy})`);
  if (complexity !== undefined && complexity !== "low" && complexity !== "medium" && complexity !== "high") {
    throw new Phi4Error("INVALID_ARGUMENT", `--complexity must be low, medium or high (got ${complexity})`);
  }
  return { privacy, complexity };
}

const localDir = (config: RouterConfig | undefined) =>
  Object.values(config?.providers ?? {}).flatMap((p) => (p.type === "local" && p.dir !== undefined ? [p.dir] : []))[0];

/**
 * Bad configs and failed providers are expected outcomes, not bugs: the CLI prints a stack only for
 * errors it does not recognize, so these become errors whose whole report is their message.
 */
function plainError(error: unknown): unknown {
  if (!(error instanceof RouterError || error instanceof ProviderError || error instanceof ConfigError)) return error;
  const message = error instanceof RouterError ? `no provider could answer: ${error.message}` : error.message;
  return Object.assign(new Error(message), { stack: message });
}
