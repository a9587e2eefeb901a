/**
 * The Prometheus text exposition format (version 0.0.4), for the few metric kinds the server needs:
 * counters and histograms it updates as requests finish, and gauges read at scrape time.
 */
export type Labels = Record<string, string>;

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const labelText = (labels: Labels) => {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}="${value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`);
  return pairs.length > 0 ? `{${pairs.join(",")}}` : "";
};

const header = (name: string, help: string, type: "counter" | "gauge" | "histogram") => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;

export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    private readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(key, entry);
  }

  render(): string {
    return header(this.name, this.help, "counter") + [...this.values.values()].map((e) => `${this.name}${labelText(e.labels)} ${e.value}\n`).join("");
  }
}

export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    private readonly help: string,
    /** Upper bounds, ascending; +Inf is implied. */
    private readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const key = labelText(labels);
    const entry = this.series.get(key) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((bound, i) => {
      if (value <= bound) entry.counts[i]++;
    });
    entry.sum += value;
    entry.count++;
    this.series.set(key, entry);
  }

  render(): string {
    let text = header(this.name, this.help, "histogram");
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((bound, i) => (text += `${this.name}_bucket${labelText({ ...labels, le: String(bound) })} ${counts[i]}\n`));
      text += `${this.name}_bucket${labelText({ ...labels, le: "+Inf" })} ${count}\n`;
      text += `${this.name}_sum${labelText(labels)} ${sum}\n${this.name}_count${labelText(labels)} ${count}\n`;
    }
    return text;
  }
}

/** A gauge or counter whose samples are read when scraped (engine and router state). */
export function snapshotMetric(name: string, help: string, type: "counter" | "gauge", samples: [Labels, number][]): string {
  return header(name, help, type) + samples.map(([labels, value]) => `${name}${labelText(labels)} ${value}\n`).join("");
}
