// Prometheus metrics through prom-client, measured at the serving layer (what clients experience) with vLLM's
// families under the `unitok_` prefix, plus the engine's queue gauges and the process's own metrics.
// One registry per server (tests build many servers in one process).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Engine } from '../model/engine-types.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { RequestKind } from './requests.ts';

export type Modality = 'text' | 'image';
/** rejected = refused at admission (queue full, not ready, invalid input found by the engine). */
export type Outcome = 'ok' | 'error' | 'cancelled' | 'rejected';

// vLLM's buckets for the same histograms (seconds; tokens).
const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80,
];
const TPOT_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10, 20,
];
const LATENCY_BUCKETS = [
  0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960,
];
const TOKEN_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
/** Tokens-per-second is averaged over this window, so the gauge reflects current load, not history. */
const RATE_WINDOW_MS = 10_000;

export interface MetricsOptions {
  lifecycle: Lifecycle;
  now?: () => number;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private engine: Engine | null = null;
  private readonly now: () => number;
  private readonly recent: Record<Modality, { at: number; n: number }[]> = { text: [], image: [] };

  private readonly requests: Counter<'kind' | 'outcome'>;
  private readonly promptTokens: Counter;
  private readonly generated: Counter<'modality'>;
  private readonly ttft: Histogram<'modality'>;
  private readonly tpot: Histogram<'modality'>;
  private readonly e2e: Histogram<'kind'>;
  private readonly queueTime: Histogram<'modality'>;
  private readonly promptPerRequest: Histogram;
  private readonly generatedPerRequest: Histogram<'modality'>;
  private readonly imageSeconds: Histogram;

  constructor({ lifecycle, now = () => performance.now() }: MetricsOptions) {
    this.now = now;
    const registers = [this.registry];
    const stats = () => this.engine?.stats();
    const gauge = (name: string, help: string, value: () => number | undefined) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const v = value();
          if (v !== undefined) this.set(v);
        },
      });
    gauge(
      'unitok_requests_waiting',
      'Requests admitted and waiting for an engine slot.',
      () => stats()?.waiting,
    );
    gauge('unitok_requests_running', 'Requests the engine is generating.', () => stats()?.running);
    gauge('unitok_kv_slots_usage_perc', 'Fraction of KV-cache slots in use (1 = full).', () => {
      const s = stats();
      return s?.slots ? (s.slotsUsed ?? 0) / s.slots : undefined;
    });
    gauge('unitok_model_ready', '1 when the model is loaded and serving.', () =>
      this.engine ? Number(this.engine.info().status === 'ready') : undefined,
    );
    gauge('unitok_draining', '1 while the server drains after SIGTERM (admits nothing new).', () =>
      Number(lifecycle.draining),
    );
    const tokensPerSecond = new Gauge({
      name: 'unitok_generated_tokens_per_second',
      help: `Generated tokens per second over the last ${RATE_WINDOW_MS / 1000} s.`,
      labelNames: ['modality'],
      registers,
      collect: () => {
        for (const m of ['text', 'image'] as const) tokensPerSecond.set({ modality: m }, this.rate(m));
      },
    });
    this.requests = new Counter({
      name: 'unitok_requests_total',
      help: 'Finished generation requests by kind and outcome.',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.promptTokens = new Counter({
      name: 'unitok_prompt_tokens_total',
      help: 'Prompt tokens admitted (image tokens included).',
      registers,
    });
    this.generated = new Counter({
      name: 'unitok_generated_tokens_total',
      help: 'Generated tokens: text tokens or visual tokens.',
      labelNames: ['modality'],
      registers,
    });
    const histogram = <L extends string>(name: string, help: string, buckets: number[], labelNames: L[]) =>
      new Histogram<L>({ name, help, buckets, labelNames, registers });
    this.ttft = histogram(
      'unitok_time_to_first_token_seconds',
      'Seconds from request arrival to the first generated token (text) or visual token (image).',
      TTFT_BUCKETS,
      ['modality'],
    );
    this.tpot = histogram(
      'unitok_time_per_output_token_seconds',
      'Per request: seconds per generated token after the first (TPOT, the mean inter-token latency).',
      TPOT_BUCKETS,
      ['modality'],
    );
    this.e2e = histogram(
      'unitok_e2e_request_latency_seconds',
      'Seconds from request arrival to its end, for requests that finished normally.',
      LATENCY_BUCKETS,
      ['kind'],
    );
    this.queueTime = histogram(
      'unitok_request_queue_time_seconds',
      'Seconds an admitted request waited in the queue for its KV slot(s).',
      TTFT_BUCKETS,
      ['modality'],
    );
    this.promptPerRequest = histogram(
      'unitok_request_prompt_tokens',
      'Prompt tokens per request (image tokens included).',
      TOKEN_BUCKETS,
      [],
    );
    this.generatedPerRequest = histogram(
      'unitok_request_generation_tokens',
      'Generated tokens per finished request: text tokens or visual tokens, all outputs together.',
      TOKEN_BUCKETS,
      ['modality'],
    );
    this.imageSeconds = histogram(
      'unitok_image_generation_seconds',
      'Seconds from request arrival until a generated image was ready (PNG encoded).',
      LATENCY_BUCKETS,
      [],
    );
    collectDefaultMetrics({ register: this.registry });
  }

  /** The engine the gauges read (set once the server is built). */
  bind(engine: Engine): void {
    this.engine = engine;
  }

  private rate(modality: Modality): number {
    const cutoff = this.now() - RATE_WINDOW_MS;
    const window = this.recent[modality];
    while (window.length > 0 && window[0].at < cutoff) window.shift();
    return window.reduce((sum, s) => sum + s.n, 0) / (RATE_WINDOW_MS / 1000);
  }

  /** Tracks one request: `token` for every generated token batch, `image` per finished image, `end` once. */
  track(kind: RequestKind, modality: Modality, startedAt: number) {
    let firstAt: number | null = null;
    let tokens = 0;
    let ended = false;
    const seconds = (from: number) => (this.now() - from) / 1000;
    return {
      prompt: (n: number) => {
        this.promptTokens.inc(n);
        this.promptPerRequest.observe(n);
      },
      /** `admittedAt`: when the engine queued the request; call when it got its slot(s). */
      scheduled: (admittedAt: number) => this.queueTime.observe({ modality }, seconds(admittedAt)),
      token: (n: number) => {
        if (n <= 0) return;
        if (firstAt === null) {
          firstAt = this.now();
          this.ttft.observe({ modality }, seconds(startedAt));
        }
        tokens += n;
        this.generated.inc({ modality }, n);
        this.recent[modality].push({ at: this.now(), n });
      },
      image: () => this.imageSeconds.observe(seconds(startedAt)),
      end: (outcome: Outcome) => {
        if (ended) return;
        ended = true;
        this.requests.inc({ kind, outcome });
        if (outcome !== 'ok') return;
        this.e2e.observe({ kind }, seconds(startedAt));
        this.generatedPerRequest.observe({ modality }, tokens);
        if (firstAt !== null && tokens > 1) this.tpot.observe({ modality }, seconds(firstAt) / (tokens - 1));
      },
    };
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

export type RequestTracker = ReturnType<ServerMetrics['track']>;
