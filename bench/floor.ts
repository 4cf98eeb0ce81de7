// The floor of bench/engine.ts, in a clean process of its own (no engine, no server beside it): the bundle's
// graphs driven bare on this thread, with every shortcut the engine's runner takes and nothing else: the engine's
// session settings (one intra-op thread for small graphs), the runner's KV cache laid out for the positions used,
// the embedding tables in memory (no embed_tokens or code_embed runs), greedy tokens from lm_head's argmax output
// (or, for bundles without one, logits in one preallocated buffer and their SIMD argmax). bench/engine.ts forks it and asks for measurements over IPC, between its own
// rounds, so that both see the same machine load.
//
//   message in:  { kind: 'text', batch } | { kind: 'image' } | { kind: 'exit' }
//   message out: { ms }   (ms per batched decode step, or per image)
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { readBundle } from '../src/model/bundle.ts';
import { LlamaTokenizer } from '../src/model/main-thread/text-tokenizer.ts';
import { defaultThreads } from '../src/model/threads.ts';
import { sessionOptions } from '../src/model/worker-thread/devices.ts';
import { EmbeddingTable } from '../src/model/worker-thread/embedding-table.ts';
import { LogitsBuffer } from '../src/model/worker-thread/logits.ts';
import { argmax } from '../src/model/worker-thread/sampling.ts';
import { decoderKv } from './decoder-kv.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' },
    tokens: { type: 'string', default: '64' },
    // 1: every graph's intra-op pool spins (the engine's are parked: devices.ts): bench/llm7b.ts --spinning.
    spinning: { type: 'string' },
  },
});
const SPINNING = values.spinning === undefined ? {} : { spinning: values.spinning === '1' };
const MODEL = values.model as string;
const TOKENS = Number(values.tokens);
const bundle = readBundle(MODEL);
const tokenizer = LlamaTokenizer.load(MODEL);
/** The prompts of bench/engine.ts (the floor uses stream 0's). */
const prompt = (i: number) => `Write a long story about the number ${i} and the sea.`;

type Graph = 'embed' | 'visual' | 'llm' | 'head' | 'depth' | 'code' | 'decode';
const GRAPH_FILES: Record<Graph, string> = {
  embed: bundle.graphs.embed_tokens,
  visual: bundle.graphs.visual_embed,
  llm: bundle.graphs.llm,
  head: bundle.graphs.lm_head,
  depth: bundle.graphs.depth_head,
  code: bundle.graphs.code_embed,
  decode: bundle.graphs.unitok_decode,
};

/** The bare loops on this thread: the bundle's graphs run back to back, in-place KV, greedy, no engine. */
class Floor {
  private readonly opened = new Map<Graph, ort.InferenceSession>();
  private readonly s = new Proxy({} as Record<Graph, ort.InferenceSession>, {
    get: (_, name: Graph) => {
      const session = this.opened.get(name);
      if (!session) throw new Error(`graph ${name} used before Floor.need opened it`);
      return session;
    },
  });

  private tokens: EmbeddingTable | null = null;
  /** embed_tokens' width (the hidden size), read once. */
  private hidden = 0;
  private codes: EmbeddingTable | null = null;
  /** Room for the logits of 8 rows, the largest batch asked for. */
  private readonly logits = new LogitsBuffer(8 * bundle.vocabSize);

  static async open(): Promise<Floor> {
    const floor = new Floor();
    await floor.need('embed', 'llm', 'head');
    const width = floor.width(floor.s.embed);
    floor.hidden = width;
    floor.tokens = await EmbeddingTable.load(
      { session: floor.s.embed, input: 'input_ids', output: 'inputs_embeds' },
      bundle.vocabSize,
      width,
    );
    return floor;
  }

  private width(session: ort.InferenceSession): number {
    return Number((session.outputMetadata[0] as unknown as { shape: number[] }).shape[2]);
  }

  /** The rows of `ids` as an inputs_embeds tensor [B, S, D]: from the table, or embed_tokens when it is too big. */
  private async embed(ids: number[], B: number, S: number): Promise<ort.Tensor> {
    if (!this.tokens) return (await this.s.embed.run({ input_ids: this.int64(ids, [B, S]) })).inputs_embeds;
    return new ort.Tensor('float32', this.tokens.gather(ids) as Float32Array, [B, S, this.hidden]);
  }

  /** Opens graphs on first use only: a text-only floor of the 7B bundle leaves out 4 GB of image graphs. */
  async need(...names: Graph[]): Promise<void> {
    for (const name of names) {
      if (this.opened.has(name)) continue;
      // The engine's own session settings (devices.ts): only the engine differs.
      const opts = sessionOptions('cpu', {
        intraOpThreads: defaultThreads(GRAPH_FILES[name], 'cpu'),
        ...SPINNING,
      });
      this.opened.set(name, await ort.InferenceSession.create(GRAPH_FILES[name], opts));
    }
  }

  async close(): Promise<void> {
    for (const session of this.opened.values()) await session.release();
  }

  /** The KV cache of `session` for `batch` rows of `length` positions, and its run. */
  private kv(session: ort.InferenceSession, batch: number, length: number) {
    return decoderKv(session, batch, length).run;
  }

  private int64 = (values: number[], dims: number[]) =>
    new ort.Tensor('int64', BigInt64Array.from(values, BigInt), dims);

  /** One llm run; `last` = each row's last position. Returns its hidden states. */
  private async llm(run: ReturnType<Floor['kv']>, x: ort.Tensor, last: number[]): Promise<ort.Tensor> {
    const S = x.dims[1];
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: x,
      logits_index: this.int64(S === 1 ? last.map(() => 0) : last, [last.length]),
    };
    const past = last.map((l) => (S === 1 ? l : 0)); // a prefill starts at 0, a decode step follows its row
    return (await run(feeds, past, ['hidden'])).hidden;
  }

  /** Each row's greedy token, as the runner takes it: lm_head's argmax output, or its logits' SIMD argmax. */
  private async greedy(hidden: ort.Tensor): Promise<number[]> {
    const [T, V] = [hidden.dims[0], bundle.vocabSize];
    if (this.s.head.outputNames.includes('argmax'))
      return Array.from(
        (await this.s.head.run({ hidden }, { argmax: null })).argmax.data as BigInt64Array,
        Number,
      );
    const logits = this.logits.data.subarray(0, T * V);
    await this.s.head.run({ hidden }, { logits: new ort.Tensor('float32', logits, [T, V]) });
    return Array.from({ length: T }, (_, b) => this.logits.argmax(logits.subarray(b * V, (b + 1) * V)));
  }

  /**
   * ms per batched greedy decode step (embed_tokens + llm + argmax), averaged over one request's TOKENS - 1 steps
   * exactly as TPOT averages a stream's, so that the machine's load spikes count on both sides.
   */
  async textStep(batch: number): Promise<number> {
    const ids = tokenizer.encode(prompt(0));
    const P = ids.length;
    // Only the positions this run fills: the 7B bundle's whole context would be 4 GiB of KV per row.
    const run = this.kv(this.s.llm, batch, Math.min(bundle.contextLength, P + TOKENS));
    const embed = (tokens: number[], S: number) => this.embed(tokens, batch, S);
    let next = await this.greedy(
      await this.llm(run, await embed(new Array(batch).fill(ids).flat(), P), new Array(batch).fill(P - 1)),
    );
    const t0 = performance.now();
    for (let t = 0; t < TOKENS - 1; t++)
      next = await this.greedy(await this.llm(run, await embed(next, 1), new Array(batch).fill(P + t)));
    return (performance.now() - t0) / (TOKENS - 1);
  }

  /** ms for one greedy CFG image: prompt pair, N x (K depth steps + code embeds, visual_embed, llm), unitok_decode. */
  async image(): Promise<number> {
    await this.need('visual', 'depth', 'code', 'decode');
    const { codesPerToken: K0, codebookSize: V0 } = bundle.image;
    this.codes ??= await EmbeddingTable.load(
      { session: this.s.code, input: 'code_ids', output: 'embeds' },
      (K0 - 1) * V0,
      this.width(this.s.code),
    );
    const t0 = performance.now();
    const { visualTokens: N, codesPerToken: K, codebookSize: V } = bundle.image;
    const cond = [
      ...tokenizer.encode(`a red cube on a wooden table${bundle.textToImage.suffix}`),
      ...bundle.textToImage.appendIds,
    ];
    const uncond = [...tokenizer.encode(bundle.textToImage.unconditional), ...bundle.textToImage.appendIds];
    const S = cond.length;
    const padded = [...cond, ...uncond, ...new Array(S - uncond.length).fill(0)];
    // Only the positions the image fills, as the engine lays its buffers out (kv-cache.ts).
    const run = this.kv(this.s.llm, 2, Math.min(bundle.contextLength, S + N));
    const x = await this.embed(padded, 2, S);
    let hidden = (await this.llm(run, x, [S - 1, uncond.length - 1])).data as Float32Array;
    const grid = new Array<number>(K * N).fill(0);
    const D = hidden.length / 2;
    for (let n = 0; n < N; n++) {
      const depthRun = this.kv(this.s.depth, 2, K);
      let h: ort.Tensor = new ort.Tensor('float32', hidden, [2, 1, D]);
      const codes: number[] = [];
      for (let k = 0; k < K; k++) {
        const logits = (await depthRun({ inputs_embeds: h }, [k, k], ['logits'])).logits.data as Float32Array;
        const scale = bundle.defaults.image.guidanceScale;
        const mixed = Array.from(
          { length: V },
          (_, i) => logits[V + i] + (logits[i] - logits[V + i]) * scale,
        );
        codes.push(argmax(mixed));
        if (k < K - 1) {
          const ids = [k * V + codes[k], k * V + codes[k]];
          h = this.codes
            ? new ort.Tensor('float32', this.codes.gather(ids) as Float32Array, [2, 1, D])
            : (await this.s.code.run({ code_ids: this.int64(ids, [2, 1]) })).embeds;
        }
      }
      codes.forEach((c, k) => {
        grid[k * N + n] = c;
      });
      if (n === N - 1) break;
      const v = (await this.s.visual.run({ codes: this.int64([...codes, ...codes], [2, K, 1]) }))
        .inputs_embeds;
      hidden = (await this.llm(run, v, [S + n, uncond.length + n])).data as Float32Array;
    }
    await this.s.decode.run({ codes: this.int64(grid, [1, K, N]) });
    return performance.now() - t0;
  }
}

type Request = { kind: 'text'; batch: number } | { kind: 'image' } | { kind: 'exit' };

if (process.send) {
  const floor = await Floor.open();
  await floor.textStep(1); // warm-up
  process.on('message', async (m: Request) => {
    if (m.kind === 'exit') {
      await floor.close();
      process.exit(0);
    }
    const ms = m.kind === 'text' ? await floor.textStep(m.batch) : await floor.image();
    process.send?.({ ms });
  });
  process.send({ ready: true });
}
