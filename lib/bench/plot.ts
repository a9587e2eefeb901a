/**
 * A small SVG line chart for benchmark reports, with no dependencies: axes with round tick values,
 * gridlines, a polyline and point markers per series, a legend under the plot. It has a viewBox and a
 * white background, so it scales and stays readable where markdown renderers (GitHub) show it as an
 * image, dark theme included.
 */
import { Phi4Error } from "../engine/errors.js";

export interface ChartPoint {
  x: number;
  y: number;
}

export interface ChartSeries {
  name: string;
  /** Drawn in order of x. */
  points: ChartPoint[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** "log2" for sizes that double (prompt lengths, concurrency): ticks at powers of two. Default "linear". */
  xScale?: "linear" | "log2";
}

// Okabe-Ito: told apart with the common forms of colour blindness (its yellow left out: too pale on white).
const COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];

const WIDTH = 720;
const PLOT = { left: 88, right: WIDTH - 24, top: 48, bottom: 360 };
const LEGEND_ROW = 20;

export function lineChartSvg(options: LineChartOptions): string {
  const { series } = options;
  const log = options.xScale === "log2";
  if (series.length === 0) throw new Phi4Error("INVALID_ARGUMENT", `chart "${options.title}": no series to draw`);
  for (const s of series) {
    if (s.points.length === 0) throw new Phi4Error("INVALID_ARGUMENT", `chart "${options.title}": series "${s.name}" has no points`);
    for (const p of s.points) {
      if (!Number.isFinite(p.x) || !Number.isFinite(p.y))
        throw new Phi4Error("INVALID_ARGUMENT", `chart "${options.title}": series "${s.name}" has a point that is not finite (${p.x}, ${p.y})`);
      if (log && p.x <= 0)
        throw new Phi4Error("INVALID_ARGUMENT", `chart "${options.title}": series "${s.name}" has x = ${p.x}, which a log2 axis cannot show`);
    }
  }
  const points = series.flatMap((s) => s.points);
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const xTicks = log ? log2Ticks(Math.min(...xs), Math.max(...xs)) : linearTicks(Math.min(...xs), Math.max(...xs));
  // The y axis starts at zero, so bar-like comparisons of throughput are not exaggerated.
  const yTicks = linearTicks(Math.min(0, ...ys), Math.max(0, ...ys));
  const toX = axis(xTicks, PLOT.left, PLOT.right, log);
  const toY = axis(yTicks, PLOT.bottom, PLOT.top, false);

  const height = PLOT.bottom + 64 + series.length * LEGEND_ROW;
  const midX = (PLOT.left + PLOT.right) / 2;
  const midY = (PLOT.top + PLOT.bottom) / 2;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${midX}" y="28" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
    `<g class="grid" stroke="#e3e3e3" stroke-width="1">`,
    ...xTicks.values.map((v) => `<line x1="${toX(v)}" y1="${PLOT.top}" x2="${toX(v)}" y2="${PLOT.bottom}"/>`),
    ...yTicks.values.map((v) => `<line x1="${PLOT.left}" y1="${toY(v)}" x2="${PLOT.right}" y2="${toY(v)}"/>`),
    `</g>`,
    `<g class="axes" stroke="#333333" stroke-width="1">`,
    `<line x1="${PLOT.left}" y1="${PLOT.bottom}" x2="${PLOT.right}" y2="${PLOT.bottom}"/>`,
    `<line x1="${PLOT.left}" y1="${PLOT.top}" x2="${PLOT.left}" y2="${PLOT.bottom}"/>`,
    `</g>`,
    `<g class="x-ticks" text-anchor="middle" fill="#333333">`,
    ...xTicks.values.map((v) => `<text class="tick" x="${toX(v)}" y="${PLOT.bottom + 18}">${escapeXml(formatTick(v, xTicks.decimals))}</text>`),
    `</g>`,
    `<g class="y-ticks" text-anchor="end" fill="#333333">`,
    ...yTicks.values.map((v) => `<text class="tick" x="${PLOT.left - 8}" y="${toY(v) + 4}">${escapeXml(formatTick(v, yTicks.decimals))}</text>`),
    `</g>`,
    `<text x="${midX}" y="${PLOT.bottom + 42}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(16 ${midY}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  ];
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    out.push(
      `<g class="series" stroke="${colour}" fill="${colour}">`,
      `<polyline fill="none" stroke-width="2" points="${sorted.map((p) => `${toX(p.x)},${toY(p.y)}`).join(" ")}"/>`,
      ...sorted.map(
        (p) =>
          `<circle cx="${toX(p.x)}" cy="${toY(p.y)}" r="3.5"><title>${escapeXml(`${s.name}: ${Number(p.y.toPrecision(6))} at ${Number(p.x.toPrecision(6))}`)}</title></circle>`,
      ),
      `</g>`,
    );
    const rowY = PLOT.bottom + 64 + i * LEGEND_ROW;
    out.push(
      `<g class="legend">`,
      `<line x1="${PLOT.left}" y1="${rowY - 4}" x2="${PLOT.left + 24}" y2="${rowY - 4}" stroke="${colour}" stroke-width="2"/>`,
      `<rect x="${PLOT.left + 9}" y="${rowY - 7.5}" width="7" height="7" fill="${colour}"/>`,
      `<text x="${PLOT.left + 32}" y="${rowY}">${escapeXml(s.name)}</text>`,
      `</g>`,
    );
  });
  out.push("</svg>", "");
  return out.join("\n");
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}

interface Ticks {
  /** Tick values, ascending; the first and last are the ends of the axis. */
  values: number[];
  /** Decimals that tell the ticks apart. */
  decimals: number;
}

/** Ticks at 1, 2 or 5 times a power of ten, about six of them, from at or below `min` to at or above `max`. */
function linearTicks(min: number, max: number): Ticks {
  if (min === max) {
    // One value: a span around it, so it sits inside the axis rather than on a degenerate one.
    const pad = Math.abs(min) / 2 || 1;
    return linearTicks(min - pad, max + pad);
  }
  const raw = (max - min) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const first = Math.floor(min / step);
  const last = Math.ceil(max / step);
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  // Multiples of the step, rounded to its decimals: no 0.30000000000000004 on the axis.
  const values = Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * step).toFixed(decimals)));
  return { values, decimals };
}

/** Powers of two from at or below `min` to at or above `max`, every k-th one when there are more than ten. */
function log2Ticks(min: number, max: number): Ticks {
  let low = Math.floor(Math.log2(min));
  let high = Math.ceil(Math.log2(max));
  if (low === high) {
    low--;
    high++;
  }
  const every = Math.ceil((high - low) / 10);
  high = low + Math.ceil((high - low) / every) * every;
  const values: number[] = [];
  for (let e = low; e <= high; e += every) values.push(2 ** e);
  return { values, decimals: Math.max(0, -low) };
}

/** Maps data values onto pixels between `from` (the first tick) and `to` (the last), to 0.1 px. */
function axis(ticks: Ticks, from: number, to: number, log: boolean): (v: number) => number {
  const f = log ? Math.log2 : (v: number) => v;
  const lo = f(ticks.values[0]);
  const hi = f(ticks.values[ticks.values.length - 1]);
  return (v) => Math.round((from + ((f(v) - lo) / (hi - lo)) * (to - from)) * 10) / 10;
}

function formatTick(v: number, decimals: number): string {
  return v.toLocaleString("en-US", { minimumFractionDigits: 0, maximumFractionDigits: decimals });
}
