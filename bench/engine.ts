// Serving benchmark: the engine (or a running server) under 1, 4 and 8 concurrent streams, next to the bare
// session.run loop on the same bundle as the floor.
//
//   node --import tsx bench/engine.ts [--model models/tiny] [--tokens 64] [--rounds 2] [--multi-step 1,8]
//                                     [--url http://127.0.0.1:8000]
//
// --multi-step: one in-process engine per value of EngineTuning.multiStep (most decode steps per runner call), run
// in turn within every round next to the floor, so that each row of the table saw the same machine load.
//
// Metrics follow vLLM's benchmark_serving definitions, measured at the client:
//   TTFT  send -> first streamed text;  ITL  gaps between consecutive text chunks (all streams pooled);
//   TPOT  per request (E2E - TTFT) / (output tokens - 1), median over requests (robust on a shared machine);
//   throughput  output tokens of all streams / wall time.
// Floor: the same graphs with the engine's session settings, driven directly on this thread (embed_tokens + llm
// with in-place KV, argmax), one batched step per token, timed like TPOT (mean step of a TOKENS-long run, median
// over the row's runs); `overhead` = engine TPOT / floor step at the same batch - 1.
// `worker ms/step` is the runner thread's own time per step (embed + llm + sampling + plan handling): the part of
// TPOT that is compute, whatever the machine's load; TPOT - worker is the main thread and the message hops.
// Images: one request (CFG, K depth steps per visual token) end to end, against the floor's bare image loop.
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { readBundle } from '../src/model/bundle.ts';
import { MULTI_STEP, startEngine } from '../src/model/main-thread/engine.ts';
import { LlamaTokenizer } from '../src/model/main-thread/text-tokenizer.ts';
import { sessionOptions } from '../src/model/worker-thread/devices.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/tiny' },
    tokens: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '2' },
    'multi-step': { type: 'string', default: `1,${MULTI_STEP}` },
    url: { type: 'string' },
  },
});
const MODEL = values.model as string;
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = [1, 4, 8];
const bundle = readBundle(MODEL);
const tokenizer = LlamaTokenizer.load(MODEL);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const p99 = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];
const prompt = (i: number) => `Write a long story about the number ${i} and the sea.`;

// ------------------------------------------------------------------------------------------------ clients

/** One streamed chat request: the time of each text chunk and the tokens it carried. */
interface Trace {
  start: number;
  chunks: { at: number; tokens: number }[];
  outputTokens: number;
}

type Client = {
  /** What the table calls it: the multi-step setting, or 'http'. */
  label: string;
  chat(i: number): Promise<Trace>;
  image(): Promise<{ first: number; total: number }>;
  /** Steps run and the runner's busy ms so far (in-process engine only). */
  work(): { steps: number; busyMs: number } | null;
  close(): Promise<void>;
};

async function engineClient(multiStep: number): Promise<Client> {
  const engine = await startEngine({
    model: MODEL,
    device: 'cpu',
    maxQueue: 64,
    maxBatch: 8,
    multiStep,
  });
  await engine.loaded;
  if (engine.info().status !== 'ready') throw new Error(engine.info().statusMessage);
  const signal = new AbortController().signal;
  return {
    label: String(multiStep),
    async chat(i) {
      const start = performance.now();
      const stream = await engine.submitChat({
        id: `bench-${i}`,
        n: 1,
        signal,
        messages: [{ role: 'user', content: [{ type: 'text', text: prompt(i) }] }],
        sampling: { temperature: 0, topK: 0, topP: 1, seed: null },
        maxTokens: TOKENS,
        stop: [],
      });
      const trace: Trace = { start, chunks: [], outputTokens: 0 };
      for await (const e of stream) {
        if (e.type === 'text') trace.chunks.push({ at: performance.now(), tokens: e.tokens });
        else trace.outputTokens = e.completionTokens;
      }
      return trace;
    },
    async image() {
      const start = performance.now();
      const stream = await engine.submitImage({
        id: 'bench-image',
        n: 1,
        signal,
        prompt: 'a red cube on a wooden table',
        sampling: { temperature: 1, topK: 0, topP: 1, seed: 1, guidanceScale: 7 },
        previewAt: [],
      });
      let first = 0;
      for await (const e of stream) if (e.type === 'codes' && !first) first = performance.now() - start;
      return { first, total: performance.now() - start };
    },
    work: () => ({ steps: engine.stats().steps ?? 0, busyMs: engine.stats().busy?.total ?? 0 }),
    close: () => engine.close(),
  };
}

/** The same requests against a running server (e.g. `npm start`), through its SSE streams. */
async function httpClient(url: string): Promise<Client> {
  const model = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data[0].id;
  async function* sse(path: string, body: object): AsyncGenerator<Record<string, unknown>> {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream: true, ...body }),
    });
    if (!res.ok || !res.body) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    let buffer = '';
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += Buffer.from(bytes).toString('utf8');
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .find((l) => l.startsWith('data: '))
          ?.slice(6);
        buffer = buffer.slice(end + 2);
        if (data && data !== '[DONE]') yield JSON.parse(data);
        end = buffer.indexOf('\n\n');
      }
    }
  }
  return {
    label: 'http',
    async chat(i) {
      const trace: Trace = { start: performance.now(), chunks: [], outputTokens: 0 };
      const body = {
        messages: [{ role: 'user', content: prompt(i) }],
        max_tokens: TOKENS,
        temperature: 0,
        stream_options: { include_usage: true },
      };
      for await (const chunk of sse('/v1/chat/completions', body)) {
        const choice = (chunk.choices as { delta: { content?: string } }[])[0];
        if (choice?.delta.content) trace.chunks.push({ at: performance.now(), tokens: 1 });
        const usage = chunk.usage as { completion_tokens: number } | undefined;
        if (usage) trace.outputTokens = usage.completion_tokens;
      }
      return trace;
    },
    async image() {
      const start = performance.now();
      let first = 0;
      for await (const event of sse('/v1/images/generations', {
        prompt: 'a red cube on a wooden table',
        partial_images: 1,
      })) {
        if (!first) first = performance.now() - start;
        void event;
      }
      return { first, total: performance.now() - start };
    },
    work: () => null,
    close: async () => {},
  };
}

// ------------------------------------------------------------------------------------------------ the floor

/** The bare loops on this thread: the bundle's graphs run back to back, in-place KV, greedy, no engine. */
class Floor {
  private constructor(
    private readonly s: Record<
      'embed' | 'visual' | 'llm' | 'depth' | 'code' | 'decode',
      ort.InferenceSession
    >,
  ) {}

  static async open(): Promise<Floor> {
    const opts = sessionOptions('cpu'); // the engine's own session settings: only the engine differs
    const g = bundle.graphs;
    const open = (path: string) => ort.InferenceSession.create(path, opts);
    return new Floor({
      embed: await open(g.embed_tokens),
      visual: await open(g.visual_embed),
      llm: await open(g.llm),
      depth: await open(g.depth_head),
      code: await open(g.code_embed),
      decode: await open(g.unitok_decode),
    });
  }

  async close(): Promise<void> {
    for (const session of Object.values(this.s)) await session.release();
  }

  /** Zero KV buffers of `session` for `batch` rows of `length` positions, bound in place. */
  private kv(session: ort.InferenceSession, batch: number, length: number) {
    const names = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
    const meta = session.inputMetadata.find((m) => m.name === names[0]) as unknown as { shape: number[] };
    const dims = [batch, Number(meta.shape[1]), length, Number(meta.shape[3])];
    const buffers = names.map((name) => ({
      name,
      t: new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b)), dims),
    }));
    return (feeds: Record<string, ort.Tensor>): Record<string, ort.Tensor | null> => {
      const fetches: Record<string, ort.Tensor | null> = {};
      for (const { name, t } of buffers) {
        feeds[name] = t;
        fetches[name.replace('past_key_values.', 'present.')] = t;
      }
      return fetches;
    };
  }

  private int64 = (values: number[], dims: number[]) =>
    new ort.Tensor('int64', BigInt64Array.from(values, BigInt), dims);
  private int32 = (values: number[], dims: number[]) =>
    new ort.Tensor('int32', Int32Array.from(values), dims);

  /** One llm run; `last` = each row's last position. Returns the wanted output. */
  private async llm(bind: ReturnType<Floor['kv']>, x: ort.Tensor, last: number[], out: 'logits' | 'hidden') {
    const S = x.dims[1];
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: x,
      seqlens_k: this.int32(last, [last.length]),
      total_sequence_length: this.int32([Math.max(...last) + 1], []),
      logits_index: this.int64(S === 1 ? last.map(() => 0) : last, [last.length]),
    };
    const fetches = { ...bind(feeds), [out]: null };
    return (await this.s.llm.run(feeds, fetches))[out].data as Float32Array;
  }

  /**
   * ms per batched greedy decode step (embed_tokens + llm + argmax), averaged over one request's TOKENS - 1 steps
   * exactly as TPOT averages a stream's, so that the machine's load spikes count on both sides.
   */
  async textStep(batch: number): Promise<number> {
    const bind = this.kv(this.s.llm, batch, bundle.contextLength);
    const ids = tokenizer.encode(prompt(0));
    const embed = async (tokens: number[], S: number) =>
      (await this.s.embed.run({ input_ids: this.int64(tokens, [batch, S]) })).inputs_embeds;
    const argmaxRows = (logits: Float32Array) =>
      Array.from({ length: batch }, (_, b) =>
        argmax(logits.subarray(b * bundle.vocabSize, (b + 1) * bundle.vocabSize)),
      );
    const P = ids.length;
    let next = argmaxRows(
      await this.llm(
        bind,
        await embed(new Array(batch).fill(ids).flat(), P),
        new Array(batch).fill(P - 1),
        'logits',
      ),
    );
    const t0 = performance.now();
    for (let t = 0; t < TOKENS - 1; t++)
      next = argmaxRows(await this.llm(bind, await embed(next, 1), new Array(batch).fill(P + t), 'logits'));
    return (performance.now() - t0) / (TOKENS - 1);
  }

  /** ms for one greedy CFG image: prompt pair, N x (K depth steps + code embeds, visual_embed, llm), unitok_decode. */
  async image(): Promise<number> {
    const t0 = performance.now();
    const { visualTokens: N, codesPerToken: K, codebookSize: V } = bundle.image;
    const cond = [
      ...tokenizer.encode(`a red cube on a wooden table${bundle.textToImage.suffix}`),
      ...bundle.textToImage.appendIds,
    ];
    const uncond = [...tokenizer.encode(bundle.textToImage.unconditional), ...bundle.textToImage.appendIds];
    const S = cond.length;
    const padded = [...cond, ...uncond, ...new Array(S - uncond.length).fill(0)];
    const bind = this.kv(this.s.llm, 2, bundle.contextLength);
    const x = (await this.s.embed.run({ input_ids: this.int64(padded, [2, S]) })).inputs_embeds;
    let hidden = await this.llm(bind, x, [S - 1, uncond.length - 1], 'hidden');
    const grid = new Array<number>(K * N).fill(0);
    const D = hidden.length / 2;
    for (let n = 0; n < N; n++) {
      const depthBind = this.kv(this.s.depth, 2, K);
      let h: ort.Tensor = new ort.Tensor('float32', hidden, [2, 1, D]);
      const codes: number[] = [];
      for (let k = 0; k < K; k++) {
        const feeds: Record<string, ort.Tensor> = {
          inputs_embeds: h,
          seqlens_k: this.int32([k, k], [2]),
          total_sequence_length: this.int32([k + 1], []),
        };
        const logits = (await this.s.depth.run(feeds, { ...depthBind(feeds), logits: null })).logits
          .data as Float32Array;
        const scale = bundle.defaults.image.guidanceScale;
        const mixed = Array.from(
          { length: V },
          (_, i) => logits[V + i] + (logits[i] - logits[V + i]) * scale,
        );
        codes.push(argmax(mixed));
        if (k < K - 1)
          h = (await this.s.code.run({ code_ids: this.int64([k * V + codes[k], k * V + codes[k]], [2, 1]) }))
            .embeds;
      }
      codes.forEach((c, k) => {
        grid[k * N + n] = c;
      });
      if (n === N - 1) break;
      const v = (await this.s.visual.run({ codes: this.int64([...codes, ...codes], [2, K, 1]) }))
        .inputs_embeds;
      hidden = await this.llm(bind, v, [S + n, uncond.length + n], 'hidden');
    }
    await this.s.decode.run({ codes: this.int64(grid, [1, K, N]) });
    return performance.now() - t0;
  }
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

// ------------------------------------------------------------------------------------------------ main

interface Row {
  streams: number;
  /** Client label: max steps per runner call, or 'http'. */
  steps: string;
  ttft: number;
  tpot: number;
  itl: number;
  itlP99: number;
  tokS: number;
  floor: number;
  /** ms the runner worker spent per step (its own timer), NaN over HTTP. */
  worker: number;
}

function workPerStep(a: ReturnType<Client['work']>, b: ReturnType<Client['work']>): number {
  return a && b ? (b.busyMs - a.busyMs) / (b.steps - a.steps) : Number.NaN;
}

/** The table's metrics from one client's traces at one concurrency. */
function summarise(traces: Trace[], wall: number): Pick<Row, 'ttft' | 'tpot' | 'itl' | 'itlP99' | 'tokS'> {
  const ttft = traces.map((t) => t.chunks[0].at - t.start);
  const tpot = traces
    .filter((t) => t.outputTokens > 1)
    .map((t) => (t.chunks[t.chunks.length - 1].at - t.chunks[0].at) / (t.outputTokens - 1));
  const itl = traces.flatMap((t) => t.chunks.slice(1).map((ch, i) => ch.at - t.chunks[i].at));
  const tokens = traces.reduce((s, t) => s + t.outputTokens, 0);
  return {
    ttft: median(ttft),
    tpot: median(tpot),
    itl: mean(itl),
    itlP99: p99(itl),
    tokS: tokens / (wall / 1000),
  };
}

async function main() {
  const floor = await Floor.open();
  const clients = values.url
    ? [await httpClient(values.url)]
    : await Promise.all((values['multi-step'] as string).split(',').map((m) => engineClient(Number(m))));
  for (const client of clients) await client.chat(0); // warm-ups
  await floor.textStep(1);
  const rows: Row[] = [];
  // Floor and clients take turns within each round, so that all of them see the same machine load.
  for (const c of CONCURRENCY) {
    const floors: number[] = [];
    const runs = clients.map((client) => ({ client, traces: [] as Trace[], wall: 0, before: client.work() }));
    for (let r = 0; r < ROUNDS; r++) {
      floors.push(await floor.textStep(c));
      for (const run of runs) {
        const t0 = performance.now();
        run.traces.push(
          ...(await Promise.all(Array.from({ length: c }, (_, i) => run.client.chat(r * 100 + i)))),
        );
        run.wall += performance.now() - t0;
      }
    }
    for (const run of runs)
      rows.push({
        streams: c,
        steps: run.client.label,
        ...summarise(run.traces, run.wall),
        floor: median(floors),
        worker: workPerStep(run.before, run.client.work()),
      });
  }
  const images = clients.map(() => [] as { first: number; total: number }[]);
  const floorImages: number[] = [];
  for (let r = 0; r < ROUNDS + 1; r++) {
    for (const [i, client] of clients.entries()) images[i].push(await client.image());
    floorImages.push(await floor.image());
  }
  for (const list of images) list.shift(); // warm-up
  floorImages.shift();
  for (const client of clients) await client.close();
  await floor.close();

  const f = (x: number, d = 2) => x.toFixed(d);
  const table = [
    [
      'streams',
      'steps/call',
      'TTFT ms (p50)',
      'TPOT ms (p50)',
      'ITL ms (mean)',
      'ITL ms (p99)',
      'output tok/s',
      'floor step ms',
      'floor tok/s',
      'overhead',
      'overhead ms/step',
      'worker ms/step',
    ],
    ...rows.map((r) => [
      String(r.streams),
      r.steps,
      f(r.ttft),
      f(r.tpot),
      f(r.itl),
      f(r.itlP99),
      f(r.tokS, 0),
      f(r.floor),
      f((r.streams * 1000) / r.floor, 0),
      `${f((r.tpot / r.floor - 1) * 100, 0)}%`,
      f(r.tpot - r.floor),
      f(r.worker),
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const line = (row: string[]) => `| ${row.map((c, i) => c.padStart(widths[i])).join(' | ')} |`;
  console.log(
    `${values.url ?? 'engine in-process'}, ${bundle.name}, ${TOKENS} output tokens per stream, ${ROUNDS} rounds per row, load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs`,
  );
  console.log(
    [line(table[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...table.slice(1).map(line)].join(
      '\n',
    ),
  );
  const ratio = clients.map((client) => {
    const tokS = (c: number) =>
      rows.find((r) => r.streams === c && r.steps === client.label)?.tokS ?? Number.NaN;
    return `${f(tokS(CONCURRENCY[CONCURRENCY.length - 1]) / tokS(CONCURRENCY[0]))}x (steps/call ${client.label})`;
  });
  console.log(`8 streams vs 1, output tokens/s: ${ratio.join(', ')} (goal >= 3x)`);
  const { guidanceScale: guidance } = bundle.defaults.image;
  const { visualTokens, codesPerToken } = bundle.image;
  for (const [i, client] of clients.entries())
    console.log(
      `image (CFG ${guidance}, ${visualTokens} visual tokens x ${codesPerToken} codes), steps/call ${client.label}: ` +
        `first visual token ${f(median(images[i].map((x) => x.first)))} ms, PNG ${f(median(images[i].map((x) => x.total)))} ms`,
    );
  console.log(
    `image floor (bare loop + unitok_decode, greedy): ${f(median(floorImages))} ms (medians of ${floorImages.length})`,
  );
}

await main();
