/** Markdown rendering of benchmark results (what bench/results/*.md hold). */

import type { BatchBenchResult } from "./batch.js";
import type { ConstraintBenchResult, Stats } from "./constraint.js";
import type { JumpForwardBenchResult } from "./jump-forward.js";
import type { DecodeBenchResult } from "./decode.js";
import type { MachineFacts } from "./machine.js";
import type { MicroBenchResult, MicrosecondStats, OpsRate } from "./micro.js";
import type { PeerChildResult } from "./peer-child.js";
import { peerComparison, type PeerBenchResult } from "./peer.js";
import type { PrefixBenchResult, TurnTiming } from "./prefix.js";
import type { AgentPrefixResult } from "./prefix-agent.js";

// Decimal units throughout, so bandwidth (GB/s) over bytes per token (GB) reads as tokens/s.
function bytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}

function table(header: [string, string], rows: [string, string][]): string[] {
  return [`| ${header[0]} | ${header[1]} |`, "| --- | --- |", ...rows.map(([k, v]) => `| ${k} | ${v.replaceAll("|", "\\|")} |`), ""];
}

function machineTable(m: MachineFacts): string[] {
  return table(
    ["Machine", ""],
    [
      ["CPU", m.cpuModel],
      ["CPU features", m.cpuFeatures === null ? "unknown" : m.cpuFeatures.join(", ") || "none of avx2/avx512/vnni"],
      ["Cores", `${m.logicalCores} logical, ${m.physicalCores} physical`],
      ["Memory", bytes(m.totalMemoryBytes)],
      ["OS", m.os],
      ["Node", m.node],
      ["ONNX Runtime", m.onnxruntime],
    ],
  );
}

/** Which int4 kernel a run used (LoadModelOptions.int4Kernel) and, for phi4-onnx's, its micro-kernels on that CPU. */
const kernelName = (s: { int4Kernel: boolean; int4KernelVariant?: string | null }) =>
  s.int4Kernel ? `int4 products on phi4-onnx's kernel${s.int4KernelVariant ? ` (${s.int4KernelVariant})` : ""}` : "int4 products on ONNX Runtime's MatMulNBits";

export function decodeReportMarkdown(r: DecodeBenchResult): string {
  const { settings: s, results: x, machine: m, model } = r;
  const rate = (n: number) => `${n.toFixed(2)} tokens/s`;
  return [
    `# Decode benchmark: ${model.name}`,
    "",
    `${r.date}, ${s.threads} threads, ${kernelName(s)}, ${s.kvType ?? "float32"} KV cache, ${s.promptTokens}-token prompt, ${s.genTokens} tokens generated greedily, median of ${s.runs} runs after a warm-up.`,
    "",
    ...table(
      ["Metric", "Value"],
      [
        ["Load", `${x.loadMs.toFixed(0)} ms`],
        ["Time to first token", `${x.ttftMs.toFixed(1)} ms`],
        ["Prefill", rate(x.prefillTokensPerSec)],
        ["Decode", `${rate(x.decodeTokensPerSec)} (runs: ${x.decodeTokensPerSecRuns.map((v) => v.toFixed(2)).join(", ")})`],
        ["Peak RSS", bytes(x.peakRssBytes)],
        [`Read bandwidth (${s.bandwidthMiB} MiB buffer, ${s.threads} threads)`, `${bytes(x.readBandwidthBytesPerSec)}/s`],
        ["Weight bytes read per token", bytes(model.weightBytesPerToken)],
        ["Decode roofline (bandwidth / bytes per token)", rate(x.rooflineTokensPerSec)],
        ["Decode / roofline", `${(x.rooflineFraction * 100).toFixed(1)}%`],
      ],
    ),
    ...machineTable(m),
    ...table(
      ["Model", ""],
      [
        ["Folder", model.name],
        ["model.onnx sha256", `\`${model.modelOnnxSha256}\``],
        ["model.onnx", bytes(model.modelOnnxBytes)],
        ["External data (not hashed)", bytes(model.externalDataBytes)],
        [`Embedding table (${model.vocabSize} x ${model.hiddenSize}; one row read per token)`, bytes(model.embeddingBytes)],
      ],
    ),
  ].join("\n");
}

function agentRows(agent: AgentPrefixResult | null): [string, string][] {
  if (agent === null) return [];
  if ("skipped" in agent) return [["Claude Code-shaped prompt", `skipped: ${agent.skipped}`]];
  const run = (r: { ttftMs: number; cachedTokens: number }, ratio?: number) =>
    `${r.ttftMs.toFixed(0)} ms${ratio === undefined ? "" : ` (${(ratio * 100).toFixed(1)}% of cold)`}, ${r.cachedTokens} tokens cached`;
  return [
    [`Claude Code-shaped prompt (system + ${agent.tools} tools, ${agent.promptTokens} tokens): TTFT cold`, run(agent.cold)],
    ["... new session, billing hash changed", run(agent.changedHash, agent.changedHash.ratio)],
    ["... restarted process (disk tier)", `${run(agent.restart, agent.restart.ratio)}; model load ${agent.restart.loadMs.toFixed(0)} ms`],
    ["... prompt tokens two sessions share (billing block left out / kept)", `${agent.sharedTokens} / ${agent.sharedTokensKeepingMetadata}`],
  ];
}

export function prefixReportMarkdown(r: PrefixBenchResult): string {
  const turns = (timings: TurnTiming[]) => timings.map((t) => `${t.ttftMs.toFixed(0)} / ${t.totalMs.toFixed(0)}`).join(", ");
  return [
    "# Prefix reuse benchmark",
    "",
    `${r.date}, ${r.threads} threads.`,
    "",
    ...table(
      ["Metric", "Value"],
      [
        [`TTFT, ${r.prefixTokens}-token prefix not cached`, `${r.uncachedTtftMs.toFixed(1)} ms`],
        [`TTFT, ${r.prefixTokens}-token prefix cached`, `${r.cachedTtftMs.toFixed(1)} ms (${(r.cachedRatio * 100).toFixed(1)}% of uncached)`],
        ["Conversation with reuse: TTFT / total per turn (ms)", turns(r.conversation.withReuse)],
        ["Conversation without reuse: TTFT / total per turn (ms)", turns(r.conversation.withoutReuse)],
        ...agentRows(r.agent),
      ],
    ),
    ...machineTable(r.machine),
  ].join("\n");
}

export function batchReportMarkdown(r: BatchBenchResult): string {
  const rows = r.results.map(
    (x) =>
      `| ${x.concurrency} | ${x.aggregateTokensPerSec.toFixed(2)} | ${x.speedup.toFixed(2)}x | ${x.endToEndTokensPerSec.toFixed(2)} | ${x.interTokenMsP50.toFixed(1)} | ${x.interTokenMsP95.toFixed(1)} | ${x.eventLoopDelayMsP99.toFixed(1)} |`,
  );
  return [
    "# Continuous batching benchmark",
    "",
    `${r.date}, ${r.settings.threads} threads, ${r.settings.promptTokens}-token prompts, ${r.settings.genTokens} tokens per request, greedy${r.settings.speculative ? " with speculative decoding" : ""}, ${kernelName(r.settings)}.`,
    "",
    "| Concurrency | Aggregate decode tokens/s (all decoding) | vs 1 | End to end tokens/s (with prefills) | Inter-token ms p50 | p95 | Event-loop delay p99 ms |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
    ...machineTable(r.machine),
  ].join("\n");
}

export function constraintReportMarkdown(r: ConstraintBenchResult): string {
  const { results: x, machine: m } = r;
  const ms = (s: Stats) => `${s.meanMs.toFixed(3)} / ${s.p50Ms.toFixed(3)} / ${s.p95Ms.toFixed(3)} / ${s.maxMs.toFixed(1)}`;
  const pct = (f: number) => `${(f * 100).toFixed(2)}%`;
  return [
    `# Constraint benchmark: ${r.model.name}`,
    "",
    `${r.date}, ${r.settings.threads} threads, ${r.model.vocabSize}-token vocabulary, ${r.settings.runs} sampled calls per tool set (temperature 1, maxTokens ${r.settings.maxTokens}).`,
    `${m.cpuModel}, ${m.logicalCores} logical / ${m.physicalCores} physical cores, Node ${m.node}, ONNX Runtime ${m.onnxruntime}.`,
    "",
    "| Per token | ms |",
    "| --- | --- |",
    `| Decode step (no mask) | ${x.decodeStepMs.toFixed(2)} |`,
    `| Applying a mask in native code | ${x.maskApplyMs.toFixed(3)} |`,
    `| Constraint work, mean / p50 / p95 / max | ${ms(x.mask)} |`,
    `| The same, first call per tool set (cold cache) | ${ms(x.coldMask)} |`,
    `| Overhead (mask + apply) / decode step, mean | ${pct(x.overheadMean)} |`,
    `| Overhead at p95 | ${pct(x.overheadP95)} |`,
    `| Vocabulary tries (once per model) | ${x.vocabularyMs.toFixed(0)} |`,
    "",
    "| Tool set | tokens per call | mean / p50 / p95 / max ms |",
    "| --- | --- | --- |",
    ...x.perToolSet.map((t) => `| ${t.name} | ${t.tokensPerCall.toFixed(1)} | ${ms(t)} |`),
    "",
    ...jumpForwardMarkdown(x.jumpForward, x.decodeStepMs),
  ].join("\n");
}

function jumpForwardMarkdown(j: JumpForwardBenchResult, decodeStepMs: number): string[] {
  const m = j.mean;
  return [
    "Forced calls (tool_choice any, greedy), without / with jump-forward; latency with the prompt already cached:",
    "",
    "| Tool | tokens | sampled (off / on) | jumps (tokens) | ms (off / on) | constraint ms per sampled token (off / on) | same call |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...j.calls.map(
      (c) =>
        `| ${c.tool}${c.allTools ? "" : " (alone)"} | ${c.off.tokens} / ${c.on.tokens} | ${c.off.sampled} / ${c.on.sampled} | ${c.on.jumps} (${c.on.jumpedTokens}) | ${c.off.ms.toFixed(0)} / ${c.on.ms.toFixed(0)} | ${(c.off.maskMs / Math.max(1, c.off.sampled)).toFixed(3)} / ${(c.on.maskMs / Math.max(1, c.on.sampled)).toFixed(3)} | ${c.sameCalls ? "yes" : "no"} |`,
    ),
    `| mean | ${m.onTokens.toFixed(1)} | ${m.offSampled.toFixed(1)} / ${m.onSampled.toFixed(1)} | | ${m.offMs.toFixed(0)} / ${m.onMs.toFixed(0)} | ${m.offMaskMsPerToken.toFixed(3)} / ${m.onMaskMsPerToken.toFixed(3)} | ${j.sameCalls}/${j.calls.length} |`,
    "",
    `Jump-forward: ${(m.savedShare * 100).toFixed(1)}% of the output tokens not sampled; latency ${((1 - m.onMs / m.offMs) * 100).toFixed(1)}% lower; constraint work per sampled token ${((m.onMaskMsPerToken / decodeStepMs) * 100).toFixed(2)}% of a decode step.`,
    "",
  ];
}

export function peerReportMarkdown(r: PeerBenchResult): string {
  const s = r.settings;
  const ms = (n: number) => `${n.toFixed(0)} ms`;
  const rate = (n: number) => `${n.toFixed(2)} tok/s`;
  const name = (e: PeerChildResult) => `${e.engine} ${e.version}`;
  const crossing = s.originalContext === null ? [] : s.promptLengths.filter((n) => n <= s.originalContext! && n + s.genTokens > s.originalContext!);
  const llama = r.engines.find((e) => e.engine === "llama.cpp");
  const runRows = s.promptLengths.flatMap((length) =>
    r.engines.map((e) => {
      const run = e.runs.find((x) => x.promptTokens === length)!;
      const c = peerComparison(r, e.engine, length);
      const vs = c === null ? "| - | - | - |" : `| ${c.prefillSpeedup.toFixed(2)}x | ${c.decodeSpeedup.toFixed(2)}x | ${c.matchingTokens}/${s.genTokens} |`;
      return `| ${length} | ${e.engine} | ${rate(run.prefillTokensPerSec)} | ${ms(run.ttftMs)} | ${rate(run.decodeTokensPerSec)} | ${run.eventLoopDelayMsP99.toFixed(1)} / ${run.eventLoopDelayMsMax.toFixed(0)} ms ${vs}`;
    }),
  );
  const batchRows = s.concurrency.flatMap((c) =>
    r.engines.map((e) => {
      const b = e.batch.find((x) => x.concurrency === c)!;
      return `| ${c} | ${e.engine} | ${rate(b.aggregateTokensPerSec)} | ${rate(b.endToEndTokensPerSec)} | ${b.speedup.toFixed(2)}x |`;
    }),
  );
  return [
    `# Peer benchmark: ${r.engines.map(name).join(" vs ")}`,
    "",
    `${r.date}, ${s.threads} threads each, the same prompt ids, ${s.genTokens} tokens generated greedily (no stop token), each engine in its own process, one after the other; ` +
      `for phi4-onnx, ${kernelName(s)}. transformers.js runs the same model.onnx on the same onnxruntime-node library` +
      (llama ? "; llama.cpp runs a GGUF of the same network and weights (int4 weights as Q4_0: the same codes, fp16 scales), with its own defaults" : "") +
      ". Prefill: prompt tokens over the time to first token. Speedups above 1: phi4-onnx is faster.",
    ...(crossing.length > 0
      ? [
          "",
          `At ${crossing.join(", ")} prompt tokens the prompt plus output crosses the model's original context (${s.originalContext} tokens): phi4-onnx then re-prefills the sequence with the long RoPE factors (as onnxruntime-genai does), inside its decode timing; transformers.js keeps the cache it built with the short factors, and llama.cpp uses the long factors from the start (its context is larger than ${s.originalContext}).`,
        ]
      : []),
    "",
    "| Prompt tokens | Engine | Prefill | TTFT | Decode | Event-loop p99 / max | phi4-onnx prefill speedup | phi4-onnx decode speedup | Same tokens as phi4-onnx |",
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...runRows,
    "",
    ...(s.concurrency.length > 0
      ? [
          `Several requests at once (${s.batchPromptTokens}-token prompts, ${s.genTokens} tokens each): aggregate decode while all decode, and end to end with the prefills.`,
          "",
          "| Requests | Engine | Aggregate decode | End to end | vs 1 request |",
          "| ---: | --- | ---: | ---: | ---: |",
          ...batchRows,
          "",
        ]
      : []),
    "| Engine | Version | Threads | Load | Peak RSS |",
    "| --- | --- | ---: | ---: | ---: |",
    ...r.engines.map((e) => `| ${e.engine} | ${e.version} | ${e.threads} | ${ms(e.loadMs)} | ${bytes(e.peakRssBytes)} |`),
    "",
    ...machineTable(r.machine),
  ].join("\n");
}

export function microReportMarkdown(r: MicroBenchResult): string {
  const { corpus: c, results: x, machine: m } = r;
  const n = (v: number) => Math.round(v).toLocaleString("en-US");
  const rme = (o: OpsRate) => `±${o.rmePercent.toFixed(1)}%`;
  const us = (s: MicrosecondStats) => `${s.meanUs.toFixed(1)} | ${s.p50Us.toFixed(1)} | ${s.p95Us.toFixed(1)} | ${s.maxUs.toFixed(0)} | ${s.samples}`;
  return [
    `# Micro-benchmarks: ${r.model.name}`,
    "",
    `${r.date}, ${r.model.vocabSize}-token vocabulary, benchmark.js with maxTime ${r.settings.maxTimeSec} s per measurement; no inference.`,
    `${m.cpuModel}, ${m.logicalCores} logical / ${m.physicalCores} physical cores, Node ${m.node}.`,
    "",
    "| Operation | Throughput | ± |",
    "| --- | --- | --- |",
    `| Encode (${bytes(c.textBytes)} of English and code, ${n(c.textTokens)} tokens) | ${x.encode.mbPerSec.toFixed(2)} MB/s, ${n(x.encode.tokensPerSec)} tokens/s | ${rme(x.encode)} |`,
    `| Decode, whole sequence | ${n(x.decode.tokensPerSec)} tokens/s | ${rme(x.decode)} |`,
    `| Decode, streaming (one token at a time) | ${n(x.streamDecode.tokensPerSec)} tokens/s | ${rme(x.streamDecode)} |`,
    `| Tool-call parser, whole outputs (${c.toolOutputs} outputs, ${bytes(c.toolOutputBytes)}, ${x.parser.callsParsed} of ${c.toolCalls} calls read back, ${x.parser.errors} errors) | ${n(x.parser.callsPerSec)} calls/s, ${x.parser.mbPerSec.toFixed(2)} MB/s | ${rme(x.parser)} |`,
    `| Tool-call parser, streaming (fed one token at a time) | ${n(x.streamParser.callsPerSec)} calls/s, ${x.streamParser.mbPerSec.toFixed(2)} MB/s | ${rme(x.streamParser)} |`,
    "",
    `| Constraint per step (${c.constrainedCalls} calls, ${c.constrainedTokens} tokens a pass), µs | mean | p50 | p95 | max | steps |`,
    "| --- | --- | --- | --- | --- | --- |",
    `| Mask, cache warm | ${us(x.constraint.mask)} |`,
    `| Mask, first pass (cache cold) | ${us(x.constraint.coldMask)} |`,
    `| Accept, cache warm | ${us(x.constraint.accept)} |`,
    "",
    `Vocabulary tries (once per model): ${x.constraint.vocabularyMs.toFixed(0)} ms.`,
    "",
  ].join("\n");
}
