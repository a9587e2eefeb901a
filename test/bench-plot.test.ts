/** lineChartSvg: well-formed SVG, one polyline and one marker per input, values drawn where they belong. */
import { describe, expect, it } from "vitest";

import { lineChartSvg, type ChartSeries } from "../lib/bench/plot.js";

/**
 * A well-formedness check for the XML subset the chart writes: elements nest and close, attributes are
 * quoted, and text holds no raw "<" and only known entities. Returns the elements in document order.
 */
function parseXml(xml: string): { name: string; attrs: Record<string, string>; text: string }[] {
  const elements: { name: string; attrs: Record<string, string>; text: string }[] = [];
  const open: { name: string; text: string }[] = [];
  const tag = /<(\/?)([A-Za-z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let pos = 0;
  while (pos < xml.length) {
    const lt = xml.indexOf("<", pos);
    const text = xml.slice(pos, lt === -1 ? xml.length : lt);
    if (/&(?!(lt|gt|amp|quot|apos);)/.test(text)) throw new Error(`raw & in text at ${pos}: ${JSON.stringify(text)}`);
    if (open.length > 0) open[open.length - 1].text += text;
    else if (text.trim() !== "") throw new Error(`text outside the root: ${JSON.stringify(text)}`);
    if (lt === -1) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    if (!m) throw new Error(`malformed tag at ${lt}: ${xml.slice(lt, lt + 60)}`);
    const [whole, closing, name, attrText, selfClosing] = m;
    if (closing) {
      const top = open.pop();
      if (top?.name !== name) throw new Error(`</${name}> closes <${top?.name}>`);
    } else {
      const attrs = Object.fromEntries([...attrText.matchAll(/([\w:-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]]));
      if (open.length === 0 && elements.length > 0) throw new Error("a second root element");
      const element = { name, attrs, text: "" };
      elements.push(element);
      if (!selfClosing) open.push(element);
    }
    pos = lt + whole.length;
  }
  if (open.length > 0) throw new Error(`<${open[open.length - 1].name}> is never closed`);
  return elements;
}

const numbers = (texts: string[]) => texts.map((t) => Number(t.replaceAll(",", "")));

function chart(series: ChartSeries[], xScale?: "linear" | "log2") {
  const svg = lineChartSvg({ title: "Decode <speed> & more", xLabel: "prompt tokens", yLabel: "tokens/s", series, xScale });
  const elements = parseXml(svg);
  const ticks = (axis: string) => {
    const at = svg.indexOf(`<g class="${axis}"`);
    return numbers([...svg.slice(at, svg.indexOf("</g>", at)).matchAll(/>([^<]+)<\/text>/g)].map((m) => m[1]));
  };
  return { svg, elements, xTicks: ticks("x-ticks"), yTicks: ticks("y-ticks") };
}

const two: ChartSeries[] = [
  {
    name: "phi4-onnx",
    points: [
      { x: 128, y: 12.5 },
      { x: 1024, y: 11.2 },
      { x: 2048, y: 9.8 },
    ],
  },
  {
    name: "transformers.js",
    points: [
      { x: 128, y: 6.1 },
      { x: 1024, y: 4.9 },
      { x: 2048, y: 3.2 },
    ],
  },
];

describe("lineChartSvg", () => {
  it("writes well-formed SVG with a viewBox, one polyline per series and one marker per point", () => {
    const { elements } = chart(two, "log2");
    const root = elements[0];
    expect(root.name).toBe("svg");
    expect(root.attrs.xmlns).toBe("http://www.w3.org/2000/svg");
    expect(root.attrs.viewBox).toMatch(/^0 0 \d+ \d+$/);
    const polylines = elements.filter((e) => e.name === "polyline");
    expect(polylines).toHaveLength(2);
    expect(polylines.map((p) => p.attrs.points.split(" ").length)).toEqual([3, 3]);
    expect(elements.filter((e) => e.name === "circle")).toHaveLength(6);
    // Each series in its own colour, the legend naming it.
    expect(new Set(elements.filter((e) => e.name === "g" && e.attrs.class === "series").map((g) => g.attrs.stroke)).size).toBe(2);
    const texts = elements.filter((e) => e.name === "text").map((e) => e.text);
    expect(texts).toContain("phi4-onnx");
    expect(texts).toContain("transformers.js");
    expect(texts).toContain("prompt tokens");
    expect(texts).toContain("tokens/s");
  });

  it("draws a larger y higher, and a larger x further right", () => {
    const { elements } = chart([
      {
        name: "s",
        points: [
          { x: 1, y: 1 },
          { x: 2, y: 10 },
          { x: 3, y: 5 },
        ],
      },
    ]);
    const [a, b, c] = elements.filter((e) => e.name === "circle").map((e) => ({ x: Number(e.attrs.cx), y: Number(e.attrs.cy) }));
    expect(b.y).toBeLessThan(c.y);
    expect(c.y).toBeLessThan(a.y);
    expect(a.x).toBeLessThan(b.x);
    expect(b.x).toBeLessThan(c.x);
  });

  it("has ticks that cover the data range, y from zero, at powers of two on a log2 axis", () => {
    const { xTicks, yTicks } = chart(two, "log2");
    expect(xTicks[0]).toBeLessThanOrEqual(128);
    expect(xTicks[xTicks.length - 1]).toBeGreaterThanOrEqual(2048);
    for (const t of xTicks) expect(Math.log2(t) % 1).toBe(0);
    expect(yTicks[0]).toBe(0);
    expect(yTicks[yTicks.length - 1]).toBeGreaterThanOrEqual(12.5);

    const linear = chart([
      {
        name: "s",
        points: [
          { x: 0.13, y: 1234 },
          { x: 0.71, y: 5678 },
        ],
      },
    ]);
    expect(linear.xTicks[0]).toBeLessThanOrEqual(0.13);
    expect(linear.xTicks[linear.xTicks.length - 1]).toBeGreaterThanOrEqual(0.71);
    expect(linear.yTicks[linear.yTicks.length - 1]).toBeGreaterThanOrEqual(5678);
    // Round values, evenly spaced (no float noise such as 0.30000000000000004).
    for (const ticks of [linear.xTicks, linear.yTicks]) {
      expect(ticks.length).toBeGreaterThanOrEqual(3);
      expect(ticks.length).toBeLessThanOrEqual(12);
      const step = ticks[1] - ticks[0];
      ticks.forEach((t, i) => expect(t).toBeCloseTo(ticks[0] + i * step, 9));
      for (const t of ticks) expect(String(t).length).toBeLessThan(8);
    }
  });

  it("escapes labels and series names for XML", () => {
    const { svg, elements } = chart([{ name: `"a" < 'b' & c`, points: [{ x: 1, y: 2 }] }]);
    expect(svg).toContain("Decode &lt;speed&gt; &amp; more");
    expect(svg).toContain("&quot;a&quot; &lt; &apos;b&apos; &amp; c");
    expect(svg).not.toContain("<speed>");
    expect(elements.find((e) => e.name === "title")?.text).toBe("Decode &lt;speed&gt; &amp; more");
  });

  it("handles a one-point series and equal y values inside the plot", () => {
    for (const series of [
      [{ name: "one", points: [{ x: 4, y: 7 }] }],
      [
        {
          name: "flat",
          points: [
            { x: 1, y: 3 },
            { x: 2, y: 3 },
            { x: 8, y: 3 },
          ],
        },
      ],
      [
        {
          name: "zeros",
          points: [
            { x: 0, y: 0 },
            { x: 0, y: 0 },
          ],
        },
      ],
    ]) {
      for (const scale of series[0].name === "zeros" ? (["linear"] as const) : (["linear", "log2"] as const)) {
        const { svg, elements, yTicks } = chart(series, scale);
        expect(svg).not.toMatch(/NaN|Infinity/);
        const circles = elements.filter((e) => e.name === "circle");
        expect(circles).toHaveLength(series[0].points.length);
        const root = elements[0].attrs.viewBox.split(" ").map(Number);
        for (const c of circles) {
          expect(Number(c.attrs.cx)).toBeGreaterThan(0);
          expect(Number(c.attrs.cx)).toBeLessThan(root[2]);
          expect(Number(c.attrs.cy)).toBeGreaterThan(0);
          expect(Number(c.attrs.cy)).toBeLessThan(root[3]);
        }
        expect(yTicks[yTicks.length - 1]).toBeGreaterThan(yTicks[0]);
      }
    }
  });

  it("rejects an empty chart, an empty series, non-finite values and x <= 0 on a log2 axis", () => {
    const draw = (series: ChartSeries[], xScale?: "linear" | "log2") => () => lineChartSvg({ title: "t", xLabel: "x", yLabel: "y", series, xScale });
    expect(draw([])).toThrow(/no series/);
    expect(
      draw([
        { name: "ok", points: [{ x: 1, y: 1 }] },
        { name: "empty", points: [] },
      ]),
    ).toThrow(/series "empty" has no points/);
    expect(draw([{ name: "nan", points: [{ x: 1, y: Number.NaN }] }])).toThrow(/not finite/);
    expect(draw([{ name: "zero", points: [{ x: 0, y: 1 }] }], "log2")).toThrow(/log2/);
  });
});
