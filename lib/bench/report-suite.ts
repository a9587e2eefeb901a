/**
 * The report of `phi4 bench`: a markdown page (the targets first, then every benchmark's own report)
 * and the SVG plots it embeds, decode speed against prompt length for both engines and aggregate
 * throughput against concurrency.
 */
import { lineChartSvg } from "./plot.js";
import { batchReportMarkdown, decodeReportMarkdown, microReportMarkdown, peerReportMarkdown, prefixReportMarkdown } from "./report.js";
import type { SuiteBenchResult } from "./suite.js";

export interface SuiteReport {
  markdown: string;
  /** SVG files the markdown links to, by file name (written next to it). */
  plots: Record<string, string>;
}

/** One benchmark's report as a section of the page: its headings one level down. */
function section(markdown: string): string[] {
  return ["", ...markdown.split("\n").map((line) => (line.startsWith("#") ? `#${line}` : line))];
}

export function suiteReport(r: SuiteBenchResult, baseName: string): SuiteReport {
  const decodePlot = `${baseName}-decode.svg`;
  const batchPlot = `${baseName}-batch.svg`;
  const plots = {
    [decodePlot]: lineChartSvg({
      title: `Decode speed against prompt length (${r.model.name}, ${r.threads} threads)`,
      xLabel: "prompt tokens",
      yLabel: "decode tokens/s",
      xScale: "log2",
      series: r.peer.engines.map((e) => ({ name: `${e.engine} ${e.version}`, points: e.runs.map((x) => ({ x: x.promptTokens, y: x.decodeTokensPerSec })) })),
    }),
    [batchPlot]: lineChartSvg({
      title: `Aggregate decode throughput against concurrency (${r.model.name})`,
      xLabel: "concurrent requests",
      yLabel: "tokens/s, all requests",
      xScale: "log2",
      series: [
        { name: "all decoding (steady state)", points: r.batch.results.map((x) => ({ x: x.concurrency, y: x.aggregateTokensPerSec })) },
        { name: "end to end (with prefills)", points: r.batch.results.map((x) => ({ x: x.concurrency, y: x.endToEndTokensPerSec })) },
      ],
    }),
  };
  const m = r.machine;
  const markdown = [
    `# phi4-onnx benchmarks: ${r.model.name} on ${m.cpuModel}`,
    "",
    `${r.date}. ${m.physicalCores} physical / ${m.logicalCores} logical cores, ${(m.totalMemoryBytes / 1e9).toFixed(1)} GB memory, ` +
      `measured read bandwidth ${(m.readBandwidthBytesPerSec / 1e9).toFixed(1)} GB/s, ${r.threads} threads; ${m.os}, Node ${m.node}, ` +
      `ONNX Runtime ${m.onnxruntime}; model.onnx sha256 \`${r.model.modelOnnxSha256}\`.`,
    "",
    "## Targets",
    "",
    "| Target | Goal | Measured | Met |",
    "| --- | --- | --- | --- |",
    ...r.targets.map((t) => `| ${t.name} | ${t.goal} | ${t.shown} | ${t.met === null ? "-" : t.met ? "yes" : "no"} |`),
    "",
    `![Decode tokens/s against prompt length](${decodePlot})`,
    "",
    `![Aggregate throughput against concurrency](${batchPlot})`,
    ...section(decodeReportMarkdown(r.decode)),
    ...section(peerReportMarkdown(r.peer)),
    ...section(prefixReportMarkdown(r.prefix)),
    ...section(batchReportMarkdown(r.batch)),
    ...section(microReportMarkdown(r.micro)),
    "",
  ].join("\n");
  return { markdown, plots };
}
