/** phi4 generate: one generation from token ids, raw text or a one-turn chat. */
import { parseArgs } from "node:util";

import { readFile } from "node:fs/promises";

import { Phi4Error } from "../../engine/errors.js";
import { loadModel, type Model, type ProviderName } from "../../engine/model.js";
import type { SamplingOptions } from "../../engine/sampling.js";
import type { Sequence } from "../../engine/sequence.js";
import { ToolCatalog } from "../../tools/catalog.js";
import { resolveToolChoice } from "../../tools/choice.js";
import { streamToolTurn } from "../../tools/turn.js";
import type { ToolChoiceInput } from "../../tools/choice.js";
import type { AnyToolDefinition } from "../../tools/types.js";
import { KV_MEMORY_HELP, optionalByteSize, optionalNumber, parseTokenList, requireString } from "../args.js";
import { showPrefillProgress } from "../prefill-progress.js";
import { prefixCacheArgs, prefixCacheDisk, prefixCacheUsage } from "../prefix-cache-args.js";

export const generateUsage = `usage: phi4 generate --model DIR (--tokens 1,2,3 | --prompt TEXT | --chat TEXT)
       [--max-tokens N] [--greedy | --temperature T --top-k K --top-p P --seed S]
       [--stop TEXT]... [--capacity N] [--kv-memory SIZE] [--threads N] [--provider cpu|cuda|dml|webgpu] [--json] [--no-speculative]
       [--load-state FILE] [--save-state FILE]   (with --load-state the input is appended; it may be omitted)
       [--tools FILE.json --chat TEXT [--tool-choice auto|any|none|NAME] [--max-retries N] [--unconstrained] [--no-jump-forward]]
${KV_MEMORY_HELP}
${prefixCacheUsage}`;

export async function generateCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      tokens: { type: "string" },
      prompt: { type: "string" },
      chat: { type: "string" },
      "max-tokens": { type: "string" },
      greedy: { type: "boolean" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
      stop: { type: "string", multiple: true },
      capacity: { type: "string" },
      "kv-memory": { type: "string" },
      threads: { type: "string" },
      provider: { type: "string", multiple: true },
      json: { type: "boolean" },
      "load-state": { type: "string" },
      "save-state": { type: "string" },
      tools: { type: "string" },
      "tool-choice": { type: "string" },
      "max-retries": { type: "string" },
      unconstrained: { type: "boolean" },
      "no-jump-forward": { type: "boolean" },
      "no-speculative": { type: "boolean" },
      ...prefixCacheArgs,
    },
  });
  const modelDir = requireString(values, "model", generateUsage);
  const inputs = [values.tokens, values.prompt, values.chat].filter((v) => v !== undefined);
  const loadState = values["load-state"];
  if (inputs.length > 1 || (inputs.length === 0 && !loadState)) {
    throw new Phi4Error("INVALID_ARGUMENT", `give exactly one of --tokens, --prompt, --chat (or none with --load-state)\n${generateUsage}`);
  }
  const sampling: SamplingOptions = {
    greedy: values.greedy ? true : undefined,
    temperature: optionalNumber(values, "temperature"),
    topK: optionalNumber(values, "top-k", true),
    topP: optionalNumber(values, "top-p"),
    seed: optionalNumber(values, "seed", true),
  };
  if (values.greedy && (sampling.temperature !== undefined || sampling.topK !== undefined || sampling.topP !== undefined)) {
    throw new Phi4Error("INVALID_ARGUMENT", "--greedy cannot be combined with --temperature, --top-k or --top-p");
  }

  // Checked before the model loads, so a mistake fails fast.
  const tools = values.tools === undefined ? undefined : await readTools(values.tools, values.chat, values["tool-choice"]);
  const kvMemory = optionalByteSize(values, "kv-memory");
  const model = await loadModel(modelDir, {
    threads: optionalNumber(values, "threads", true),
    kvMemory,
    providers: values.provider as ProviderName[] | undefined,
    prefixCacheDisk: prefixCacheDisk(values),
    speculative: !values["no-speculative"],
  });
  const hideProgress = showPrefillProgress(model);
  try {
    if (tools) {
      const sequence = await model.createSequence({ capacity: optionalNumber(values, "capacity", true) });
      if (loadState) await sequence.loadStateFile(loadState);
      await toolTurn(model, sequence, {
        chat: values.chat!,
        tools: tools.catalog,
        toolChoice: tools.choice,
        maxTokens: optionalNumber(values, "max-tokens", true) ?? 256,
        maxRetries: optionalNumber(values, "max-retries", true),
        constrained: !values.unconstrained,
        jumpForward: !values["no-jump-forward"],
        sampling,
        stop: values.stop,
        json: values.json ?? false,
      });
      if (values["save-state"]) await sequence.saveStateFile(values["save-state"]);
      return;
    }
    const tokenizer = model.tokenizer;
    const prompt =
      values.tokens !== undefined
        ? parseTokenList(values.tokens)
        : values.prompt !== undefined
          ? tokenizer.encode(values.prompt)
          : values.chat !== undefined
            ? tokenizer.encodeChat([{ role: "user", content: values.chat }])
            : [];
    const sequence = await model.createSequence({ capacity: optionalNumber(values, "capacity", true) });
    if (loadState) await sequence.loadStateFile(loadState);
    // A new sequence takes the prompt as its whole context, so a prefix stored by an earlier run is reused.
    const generation = sequence.generate(prompt, {
      maxTokens: optionalNumber(values, "max-tokens", true) ?? 256,
      sampling,
      stop: values.stop,
      append: loadState !== undefined,
    });
    if (!values.json) {
      for await (const chunk of generation) process.stdout.write(chunk.text);
      process.stdout.write("\n");
    }
    const result = await generation.result;
    if (values["save-state"]) await sequence.saveStateFile(values["save-state"]);
    if (values.json) {
      const out = {
        tokens: result.tokens,
        text: result.text,
        stopReason: result.stopReason,
        usage: { promptTokens: result.usage.promptTokens, outputTokens: result.usage.outputTokens, cachedTokens: result.usage.cachedTokens },
        timings: {
          loadMs: model.loadMs,
          ttftMs: result.timings.ttftMs,
          decodeTokensPerSec: result.timings.decodeTokensPerSec,
          tokensPerStep: result.timings.tokensPerStep,
          acceptanceRate: result.timings.acceptanceRate,
        },
        steps: result.steps,
      };
      process.stdout.write(JSON.stringify(out) + "\n");
    } else {
      process.stderr.write(
        `[${result.usage.outputTokens} tokens, stop: ${result.stopReason}, load ${model.loadMs.toFixed(0)} ms, ` +
          `TTFT ${result.timings.ttftMs.toFixed(0)} ms (cached ${result.usage.cachedTokens} of ${result.usage.promptTokens} prompt tokens), ${result.timings.decodeTokensPerSec.toFixed(1)} tokens/s]\n`,
      );
    }
  } finally {
    hideProgress();
    await model.dispose();
  }
}

interface ToolTurnArgs {
  chat: string;
  tools: ToolCatalog;
  toolChoice: ToolChoiceInput;
  maxTokens: number;
  maxRetries?: number;
  constrained: boolean;
  jumpForward: boolean;
  sampling: SamplingOptions;
  stop?: string[];
  json: boolean;
}

/** --tools: one tool-using turn; the JSON output adds toolCalls and the turn's stop reason (tool_use, end_turn, ...). */
async function toolTurn(model: Model, sequence: Sequence, args: ToolTurnArgs): Promise<void> {
  const { chat, json, ...options } = args;
  const turn = streamToolTurn(sequence, { ...options, messages: [{ role: "user", content: chat }] });
  if (!json) {
    for await (const event of turn) {
      if (event.type === "text") process.stdout.write(event.text);
      else if (event.type === "tool_use") process.stdout.write(`\n[tool_use ${event.call.name} ${JSON.stringify(event.call.arguments)}]\n`);
      else process.stderr.write(`[retry ${event.retry}: ${event.errors.map((e) => e.message).join("; ")}]\n`);
    }
    process.stdout.write("\n");
  }
  const result = await turn.result;
  const { generation } = result;
  if (json) {
    const out = {
      tokens: generation.tokens,
      text: result.text,
      toolCalls: result.toolCalls.map((call) => ({ name: call.name, arguments: call.arguments })),
      stopReason: result.stopReason,
      retries: result.retries,
      usage: result.usage,
      steps: generation.steps,
      timings: { loadMs: model.loadMs, ttftMs: generation.timings.ttftMs, decodeTokensPerSec: generation.timings.decodeTokensPerSec },
    };
    process.stdout.write(JSON.stringify(out) + "\n");
  } else {
    process.stderr.write(
      `[${result.usage.outputTokens} tokens, stop: ${result.stopReason}, ${result.retries} retries, ${generation.timings.decodeTokensPerSec.toFixed(1)} tokens/s]\n`,
    );
  }
}

/** --tools FILE (a JSON array of Anthropic-style tool definitions) and --tool-choice auto | any | none | NAME, checked. */
async function readTools(file: string, chat: string | undefined, choice: string | undefined): Promise<{ catalog: ToolCatalog; choice: ToolChoiceInput }> {
  if (chat === undefined) throw new Phi4Error("INVALID_ARGUMENT", `--tools needs --chat\n${generateUsage}`);
  let tools: unknown;
  try {
    tools = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new Phi4Error("INVALID_ARGUMENT", `cannot read --tools ${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(tools)) throw new Phi4Error("INVALID_ARGUMENT", `--tools ${file} must hold a JSON array of tool definitions`);
  const catalog = ToolCatalog.from(tools as AnyToolDefinition[]);
  const toolChoice: ToolChoiceInput =
    choice === undefined || choice === "auto" || choice === "any" || choice === "none" ? (choice ?? "auto") : { type: "tool", name: choice };
  resolveToolChoice(toolChoice, catalog);
  return { catalog, choice: toolChoice };
}
