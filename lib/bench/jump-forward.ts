/**
 * The jump-forward part of `phi4 bench constraint`: one forced call (tool_choice any, greedy) per
 * request to ten agent tools (agent-tools.ts), with and without jump-forward. Reports the latency of each call,
 * how many tokens were sampled (one model step each) against how many the output holds, the constraint's
 * work per sampled token, and whether both ways wrote the same call.
 */
import type { TokenConstraint } from "../engine/generation.js";
import type { Model } from "../engine/model.js";
import { createToolConstraint } from "../tools/constraint/tool-constraint.js";
import { renderToolPrompt } from "../tools/prompt.js";
import { parseToolCalls, TOOL_CALL_CLOSE } from "../tools/stream-parser.js";
import type { ToolDefinition } from "../messages/types.js";

/** A request that calls for each tool of the agent set. */
const REQUESTS: Record<string, string> = {
  Read: "Show me the first 20 lines of src/index.ts.",
  Edit: "In app.js, replace 'var count' with 'let count'.",
  Bash: "Run the test suite with npm test.",
  Grep: "Search for TODO comments in the src folder.",
  Glob: "Find all TypeScript files under lib.",
  WebFetch: "Fetch https://example.com and summarize it.",
  TodoWrite: "Add a todo: write the release notes.",
  TaskOutput: "Wait for the output of task b7x2k9.",
  edit_file: "In notes.md, change 'draft' to 'final'.",
  create_entities: "Remember that Alice is a person who likes tea.",
};

export interface JumpForwardCall {
  tool: string;
  /** Whether the prompt offered all ten tools (else only this one: a model with a short context). */
  allTools: boolean;
  /** Output tokens, tokens sampled (model steps), jumps, latency of the call (prompt already cached), per way. */
  off: { tokens: number; sampled: number; ms: number; maskMs: number };
  on: { tokens: number; sampled: number; jumps: number; jumpedTokens: number; ms: number; maskMs: number };
  /** Both ways wrote the same calls (names and arguments). */
  sameCalls: boolean;
}

export interface JumpForwardBenchResult {
  calls: JumpForwardCall[];
  /** Means over the calls. */
  mean: {
    offMs: number;
    onMs: number;
    offSampled: number;
    onSampled: number;
    onTokens: number;
    savedShare: number;
    offMaskMsPerToken: number;
    onMaskMsPerToken: number;
  };
  sameCalls: number;
}

export async function benchJumpForward(
  model: Model,
  tools: ToolDefinition[],
  maxTokens: number,
  progress: (message: string) => void,
): Promise<JumpForwardBenchResult> {
  const calls: JumpForwardCall[] = [];
  const promptFor = (request: string, offered: ToolDefinition[]) =>
    model.tokenizer.encode(
      renderToolPrompt(model.tokenizer, { messages: [{ role: "user", content: request }], tools: offered, toolChoice: { type: "any" } }).prompt,
    );
  const cases = tools.map((tool) => {
    const request = REQUESTS[tool.name] ?? `Use ${tool.name}.`;
    const prompt = promptFor(request, tools);
    // A model whose context cannot hold every tool sees only the one asked for.
    if (prompt.length + maxTokens <= model.folder.contextLength) return { tool, request, offered: tools, prompt };
    return { tool, request, offered: [tool], prompt: promptFor(request, [tool]) };
  });
  // One sequence for every call: a prompt shares the system prompt and the tools with the last one, so
  // only its request is prefilled.
  const capacity = Math.min(model.folder.contextLength, Math.max(...cases.map((c) => c.prompt.length)) + maxTokens + 1);
  const sequence = await model.createSequence({ capacity });
  try {
    for (const { tool, request, offered, prompt } of cases) {
      progress(`jump-forward: a forced call for "${request}"`);
      // Untimed runs prefill the prompt and fill the mask cache along both ways' paths; the timed runs
      // reuse the prompt's KV, so they time the call itself with warm masks.
      await run(model, sequence, prompt, offered, maxTokens, false);
      await run(model, sequence, prompt, offered, maxTokens, true);
      const off = await run(model, sequence, prompt, offered, maxTokens, false);
      const on = await run(model, sequence, prompt, offered, maxTokens, true);
      calls.push({
        tool: tool.name,
        allTools: offered.length > 1,
        off: { tokens: off.tokens, sampled: off.sampled, ms: off.ms, maskMs: off.maskMs },
        on: { tokens: on.tokens, sampled: on.sampled, jumps: on.jumps, jumpedTokens: on.jumpedTokens, ms: on.ms, maskMs: on.maskMs },
        sameCalls: JSON.stringify(on.calls) === JSON.stringify(off.calls),
      });
    }
  } finally {
    await sequence.dispose();
  }
  const mean = (f: (c: JumpForwardCall) => number) => calls.reduce((sum, c) => sum + f(c), 0) / Math.max(1, calls.length);
  const sum = (f: (c: JumpForwardCall) => number) => calls.reduce((total, c) => total + f(c), 0);
  return {
    calls,
    mean: {
      offMs: mean((c) => c.off.ms),
      onMs: mean((c) => c.on.ms),
      offSampled: mean((c) => c.off.sampled),
      onSampled: mean((c) => c.on.sampled),
      onTokens: mean((c) => c.on.tokens),
      savedShare:
        1 -
        sum((c) => c.on.sampled) /
          Math.max(
            1,
            sum((c) => c.on.tokens),
          ),
      offMaskMsPerToken:
        sum((c) => c.off.maskMs) /
        Math.max(
          1,
          sum((c) => c.off.sampled),
        ),
      onMaskMsPerToken:
        sum((c) => c.on.maskMs) /
        Math.max(
          1,
          sum((c) => c.on.sampled),
        ),
    },
    sameCalls: calls.filter((c) => c.sameCalls).length,
  };
}

async function run(
  model: Model,
  sequence: Awaited<ReturnType<Model["createSequence"]>>,
  prompt: number[],
  tools: ToolDefinition[],
  maxTokens: number,
  jumpForward: boolean,
) {
  const constraint = await createToolConstraint(model, tools, { mode: "call", budget: maxTokens });
  const work = timed(constraint);
  const result = await sequence.generateText(prompt, { maxTokens, sampling: { greedy: true }, constraint: work.constraint, append: false, jumpForward });
  const parsed = parseToolCalls(result.text.replace(TOOL_CALL_CLOSE, ""), tools);
  return {
    tokens: result.tokens.length,
    sampled: result.steps.sampled,
    jumps: result.steps.jumps,
    jumpedTokens: result.steps.jumpedTokens,
    ms: result.timings.totalMs,
    maskMs: work.ms(),
    calls: parsed.calls,
  };
}

/** The constraint with its own work timed: masks, accepts and, with jump-forward, finding and taking forced bytes. */
function timed(inner: TokenConstraint & Required<Pick<TokenConstraint, "forced" | "acceptForced">>) {
  let ms = 0;
  const time = <T>(f: () => T): T => {
    const started = performance.now();
    try {
      return f();
    } finally {
      ms += performance.now() - started;
    }
  };
  const constraint: TokenConstraint = {
    allowedTokens: () => time(() => inner.allowedTokens()),
    accept: (token) => time(() => inner.accept(token)),
    isComplete: () => inner.isComplete(),
    forced: () => time(() => inner.forced()),
    acceptForced: (takenBack, tokens) => time(() => inner.acceptForced(takenBack, tokens)),
  };
  return { constraint, ms: () => ms };
}
