// Closed-loop load clients for the operations benchmarks (bench/admission.ts, bench/scale-out.ts): each client
// sends one request at a time until its deadline and records every outcome. A request counts as ok only when it
// completed: a 2xx answer whose stream ended with [DONE] / every image, or a WebSocket job that sent
// `completed` for each image. Nothing is retried here: retrying is the load balancer's job.
import WebSocket from 'ws';

export type Kind = 'chat' | 'image' | 'ws';

export interface Outcome {
  kind: Kind;
  /** HTTP status, or 101 for a WebSocket job; 0 when the connection failed. */
  status: number;
  ok: boolean;
  /** Error code (envelope `code`, WebSocket close code) or a short reason when not ok. */
  error?: string;
  ms: number;
  /** When the request was sent, ms since the run began (to place it against replica events). */
  at: number;
}

export interface LoadOptions {
  url: string;
  chat: number;
  image: number;
  ws: number;
  durationMs: number;
  /** Completion tokens per chat (max_tokens). */
  chatTokens: number;
  /** Requests a client sends at most (bounds the run on a fast server). */
  maxPerClient?: number;
  /** Called with each outcome as it happens. */
  onOutcome?: (o: Outcome) => void;
}

const body = (o: object) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(o),
});

async function chat(
  url: string,
  model: string,
  tokens: number,
): Promise<Omit<Outcome, 'ms' | 'at' | 'kind'>> {
  const res = await fetch(
    `${url}/v1/chat/completions`,
    body({
      model,
      messages: [{ role: 'user', content: 'What colour is the sky on a clear day?' }],
      max_tokens: tokens,
      stream: true,
    }),
  );
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, ok: false, error: errorCode(text) };
  const done = text.trimEnd().endsWith('data: [DONE]');
  return done
    ? { status: 200, ok: true }
    : { status: 200, ok: false, error: `stream cut: ${text.slice(-120)}` };
}

async function image(url: string): Promise<Omit<Outcome, 'ms' | 'at' | 'kind'>> {
  const res = await fetch(
    `${url}/v1/images/generations`,
    body({ prompt: 'a red square on a blue background' }),
  );
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, ok: false, error: errorCode(text) };
  const data = (JSON.parse(text) as { data?: { b64_json?: string }[] }).data ?? [];
  return data.length === 1 && data[0].b64_json
    ? { status: 200, ok: true }
    : { status: 200, ok: false, error: 'no image' };
}

function ws(url: string): Promise<Omit<Outcome, 'ms' | 'at' | 'kind'>> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/images/stream`);
    let settled = false;
    const settle = (o: Omit<Outcome, 'ms' | 'at' | 'kind'>) => {
      if (settled) return;
      settled = true;
      socket.close();
      resolve(o);
    };
    socket.on('unexpected-response', (_req, res) =>
      settle({ status: res.statusCode ?? 0, ok: false, error: 'upgrade refused' }),
    );
    socket.on('error', (err) => settle({ status: 0, ok: false, error: err.message }));
    socket.on('open', () =>
      socket.send(
        JSON.stringify({ type: 'generate', prompt: 'a green circle', preview_every: 64, send_codes: false }),
      ),
    );
    socket.on('message', (data) => {
      const m = JSON.parse(String(data)) as { type: string; error?: { code?: string } };
      if (m.type === 'completed') settle({ status: 101, ok: true });
      else if (m.type === 'error') settle({ status: 101, ok: false, error: m.error?.code ?? 'error' });
    });
    socket.on('close', (code) =>
      settle({ status: 101, ok: false, error: `closed ${code} before completed` }),
    );
  });
}

function errorCode(text: string): string {
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? text.slice(0, 80);
  } catch {
    return text.slice(0, 80);
  }
}

/** Runs the clients until the deadline (each finishes the request it is in); returns every outcome. */
export async function runLoad(options: LoadOptions): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const models = (await (await fetch(`${options.url}/v1/models`)).json()) as { data: { id: string }[] };
  const model = models.data[0].id;
  const began = performance.now();
  const deadline = began + options.durationMs;
  const send: Record<Kind, () => Promise<Omit<Outcome, 'ms' | 'at' | 'kind'>>> = {
    chat: () => chat(options.url, model, options.chatTokens),
    image: () => image(options.url),
    ws: () => ws(options.url),
  };
  const client = async (kind: Kind) => {
    for (let i = 0; performance.now() < deadline && i < (options.maxPerClient ?? Infinity); i++) {
      const t0 = performance.now();
      let result: Omit<Outcome, 'ms' | 'at' | 'kind'>;
      try {
        result = await send[kind]();
      } catch (err) {
        result = { status: 0, ok: false, error: (err as Error).message };
      }
      const o = { kind, ...result, ms: performance.now() - t0, at: t0 - began };
      outcomes.push(o);
      options.onOutcome?.(o);
    }
  };
  const clients: Promise<void>[] = [];
  for (let i = 0; i < options.chat; i++) clients.push(client('chat'));
  for (let i = 0; i < options.image; i++) clients.push(client('image'));
  for (let i = 0; i < options.ws; i++) clients.push(client('ws'));
  await Promise.all(clients);
  return outcomes;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** One table row per kind: requests, failures by reason, p50/p95 latency. */
export function summarize(outcomes: Outcome[]): string[] {
  const rows = ['kind   requests  ok    failed  p50 ms  p95 ms  failures'];
  for (const kind of ['chat', 'image', 'ws', 'all'] as const) {
    const mine = kind === 'all' ? outcomes : outcomes.filter((o) => o.kind === kind);
    if (mine.length === 0) continue;
    const ok = mine.filter((o) => o.ok);
    const reasons = new Map<string, number>();
    for (const o of mine)
      if (!o.ok) reasons.set(`${o.status} ${o.error}`, (reasons.get(`${o.status} ${o.error}`) ?? 0) + 1);
    const ms = ok.map((o) => o.ms);
    rows.push(
      [
        kind.padEnd(6),
        String(mine.length).padStart(8),
        String(ok.length).padStart(5),
        String(mine.length - ok.length).padStart(7),
        percentile(ms, 50).toFixed(0).padStart(7),
        percentile(ms, 95).toFixed(0).padStart(7),
        ` ${[...reasons].map(([r, n]) => `${n}x ${r}`).join('; ') || '-'}`,
      ].join(' '),
    );
  }
  return rows;
}
