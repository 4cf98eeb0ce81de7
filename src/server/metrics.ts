// Prometheus metrics measured at the serving layer (what clients experience), plus the engine's queue gauges.
// A tiny text-format writer instead of prom-client: five families do not justify a dependency.
import type { EngineInfo, EngineStats } from '../model/engine-types.ts';
import type { RequestKind } from './requests.ts';

export type Modality = 'text' | 'image';
/** rejected = refused at admission (queue full, not ready, invalid input found by the engine). */
export type Outcome = 'ok' | 'error' | 'cancelled' | 'rejected';

const TTFT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Tokens-per-second is averaged over this window, so the gauge reflects current load, not history. */
const RATE_WINDOW_MS = 10_000;

type Labels = Record<string, string>;
const labelKey = (labels: Labels) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
const withLabels = (name: string, key: string) => (key ? `${name}{${key}}` : name);

class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [key, value] of this.values) lines.push(`${withLabels(this.name, key)} ${value}`);
    return lines;
  }
}

class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}
  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    this.buckets.forEach((le, i) => {
      if (value <= le) s.counts[i]++;
    });
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [key, s] of this.series) {
      const sep = key ? `${key},` : '';
      for (const [i, le] of this.buckets.entries())
        lines.push(`${this.name}_bucket{${sep}le="${le}"} ${s.counts[i]}`);
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      lines.push(`${withLabels(`${this.name}_sum`, key)} ${s.sum}`);
      lines.push(`${withLabels(`${this.name}_count`, key)} ${s.count}`);
    }
    return lines;
  }
}

const gauge = (name: string, help: string, samples: [Labels, number][]) => [
  `# HELP ${name} ${help}`,
  `# TYPE ${name} gauge`,
  ...samples.map(([labels, v]) => `${withLabels(name, labelKey(labels))} ${v}`),
];

export class ServerMetrics {
  readonly requests = new Counter(
    'unitok_requests_total',
    'Finished generation requests by kind and outcome.',
  );
  readonly promptTokens = new Counter(
    'unitok_prompt_tokens_total',
    'Prompt tokens admitted (image tokens included).',
  );
  readonly generated = new Counter(
    'unitok_generated_tokens_total',
    'Generated tokens: text tokens or visual tokens.',
  );
  readonly ttft = new Histogram(
    'unitok_time_to_first_token_seconds',
    'Seconds from request arrival to the first generated token (text) or visual token (image).',
    TTFT_BUCKETS,
  );
  private readonly recent: Record<Modality, { at: number; n: number }[]> = { text: [], image: [] };

  constructor(private readonly now: () => number = () => performance.now()) {}

  tokens(modality: Modality, n: number): void {
    if (n <= 0) return;
    this.generated.inc({ modality }, n);
    this.recent[modality].push({ at: this.now(), n });
  }

  private rate(modality: Modality): number {
    const cutoff = this.now() - RATE_WINDOW_MS;
    const window = this.recent[modality];
    while (window.length > 0 && window[0].at < cutoff) window.shift();
    return window.reduce((sum, s) => sum + s.n, 0) / (RATE_WINDOW_MS / 1000);
  }

  /** Tracks one request: call `token` for every generated token batch and `end` once. */
  track(kind: RequestKind, modality: Modality, startedAt: number) {
    let first = true;
    let ended = false;
    return {
      prompt: (tokens: number) => this.promptTokens.inc({}, tokens),
      token: (n: number) => {
        if (n > 0 && first) {
          first = false;
          this.ttft.observe({ modality }, (this.now() - startedAt) / 1000);
        }
        this.tokens(modality, n);
      },
      end: (outcome: Outcome) => {
        if (ended) return;
        ended = true;
        this.requests.inc({ kind, outcome });
      },
    };
  }

  render(stats: EngineStats, info: EngineInfo): string {
    return `${[
      ...gauge('unitok_requests_waiting', 'Requests admitted and waiting for an engine slot.', [
        [{}, stats.waiting],
      ]),
      ...gauge('unitok_requests_running', 'Requests the engine is generating.', [[{}, stats.running]]),
      ...gauge('unitok_model_ready', '1 when the model is loaded and serving.', [
        [{}, info.status === 'ready' ? 1 : 0],
      ]),
      ...this.requests.render(),
      ...this.promptTokens.render(),
      ...this.generated.render(),
      ...gauge(
        'unitok_generated_tokens_per_second',
        `Generated tokens per second over the last ${RATE_WINDOW_MS / 1000} s.`,
        (['text', 'image'] as const).map((m) => [{ modality: m }, this.rate(m)]),
      ),
      ...this.ttft.render(),
    ].join('\n')}\n`;
  }
}

export type RequestTracker = ReturnType<ServerMetrics['track']>;
