// The converted bundles through onnxruntime-node: the committed models/tiny and a freshly converted fp32 bundle of
// the same random checkpoint (fixtures: unitok/convert/loop_fixtures.py). Checks the bundle format, the graph outputs
// against PyTorch (1e-4), and that driving the graphs as docs/bundle.md describes reproduces the reference loops'
// token and code sequences exactly, greedy and seeded, with the seeded sampler implemented here from the spec.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { KvCache } from '../src/model/worker-thread/kv-cache.ts';
import { EXP2_TAYLOR } from '../src/model/worker-thread/weights.ts'; // the spec's table of constants
import { fixturesDir, type LoadedTensor, loadTensors, maxAbsDiff } from './helpers/tensors.ts';

const IMAGE_TOKEN_INDEX = -200;
const TOLERANCE = 1e-4;

// ---------------------------------------------------------------------------------------------- sampling (spec)

/** mulberry32: a 32-bit state seeded with seed mod 2^32; each call returns the next uint32. */
function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

interface Sampling {
  temperature: number;
  top_k?: number;
  top_p?: number;
  seed?: number;
}

function sample(logits: ArrayLike<number>, p: Sampling, next?: () => number): number {
  if (p.temperature <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  if (!next) throw new Error('sampling needs an rng');
  const z = Array.from(logits, (v) => v / p.temperature);
  let order = [...z.keys()].sort((a, b) => z[b] - z[a] || a - b);
  if (p.top_k) order = order.slice(0, p.top_k);
  const S = 52 - Math.ceil(Math.log2(logits.length));
  const exp2 = (f: number) => EXP2_TAYLOR.reduceRight((acc, c) => c + f * acc);
  const weight = (g: number) =>
    g < (S + 1) * 65536
      ? Math.floor(exp2(-((g >> 8) & 255) / 256) * exp2(-(g & 255) / 65536) * 2 ** (S - (g >> 16)))
      : 0;
  let w = order.map((i) => weight(Math.floor((z[order[0]] - z[i]) * 94548.4621996991)));
  order = order.filter((_, r) => w[r] > 0);
  w = w.filter((x) => x > 0);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  if (p.top_p !== undefined && p.top_p < 1) {
    const limit = p.top_p * sum(w);
    let kept = 1;
    for (let before = w[0]; kept < w.length && before <= limit; kept++) before += w[kept];
    [order, w] = [order.slice(0, kept), w.slice(0, kept)];
  }
  const target = (next() / 4294967296) * sum(w);
  let before = 0;
  for (let r = 0; r < w.length; r++) {
    if (before + w[r] > target) return order[r];
    before += w[r];
  }
  throw new Error('target beyond the total');
}

describe('seeded sampler spec', () => {
  const { tensors: T, meta } = loadTensors(fixturesDir('reference_loop', 'sampler'));
  test('mulberry32 streams', () => {
    const want = Array.from(T['rng.uint32'].data as BigInt64Array, Number);
    const got = (meta.seeds as number[]).flatMap((seed) => {
      const next = mulberry32(seed);
      return Array.from({ length: 6 }, next);
    });
    assert.deepEqual(got, want);
  });
  test('greedy, temperature, top-k and top-p draws', () => {
    const V = T.logits.shape[1];
    const cases = meta.cases as Sampling[];
    const draws = Array.from(T.draws.data as BigInt64Array, Number);
    for (let row = 0; row < 2; row++) {
      const logits = (T.logits.data as Float32Array).subarray(row * V, (row + 1) * V);
      cases.forEach((c, i) => {
        const next = mulberry32((meta.case_seeds as number[])[i]);
        const got = Array.from({ length: 8 }, () => sample(logits, c, next));
        const at = (row * cases.length + i) * 8;
        assert.deepEqual(got, draws.slice(at, at + 8), `row ${row} case ${JSON.stringify(c)}`);
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------- bundle driving

interface BundleConfig {
  format: string;
  dtype: string;
  llm: Record<string, number>;
  special_tokens: Record<string, number>;
  image: { num_codebooks: number; codebook_size: number; visual_tokens: number };
  graphs: Record<string, string>;
  files: Record<string, number>;
}

const i64 = (values: number[], dims: number[]) =>
  new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
const f32 = (t: ort.Tensor) => t.data as Float32Array;

/** The six MLLM graphs of one bundle, driven the way docs/bundle.md describes. Activations are float32 (fp32/int4). */
class Bundle {
  cfg!: BundleConfig;
  private s: Record<string, ort.InferenceSession> = {};
  constructor(readonly dir: string) {}

  async load(): Promise<void> {
    this.cfg = JSON.parse(readFileSync(join(this.dir, 'config.json'), 'utf8'));
    for (const g of ['embed_tokens', 'visual_embed', 'llm', 'lm_head', 'depth_head', 'code_embed']) {
      this.s[g] = await ort.InferenceSession.create(join(this.dir, this.cfg.graphs[g]));
    }
  }

  async release(): Promise<void> {
    await Promise.all(Object.values(this.s).map((s) => s.release()));
  }

  get D(): number {
    return this.cfg.llm.hidden_size;
  }

  async embedText(ids: number[][]): Promise<Float32Array> {
    const out = await this.s.embed_tokens.run({ input_ids: i64(ids.flat(), [ids.length, ids[0].length]) });
    return f32(out.inputs_embeds);
  }

  /** codes [B][K][N] -> [B, N, D] */
  async embedVisual(codes: number[][][]): Promise<Float32Array> {
    const [B, K, N] = [codes.length, codes[0].length, codes[0][0].length];
    return f32((await this.s.visual_embed.run({ codes: i64(codes.flat(2), [B, K, N]) })).inputs_embeds);
  }

  /** The runner's KV memory (kv-cache.ts) for `graph`: B rows of `len` positions. */
  kv(graph: 'llm' | 'depth_head', B: number, len: number): KvCache {
    const kv = new KvCache(this.s[graph], B, len);
    kv.reserve(len);
    return kv;
  }

  /**
   * One decoder call: rows end at `last` (index of each row's last valid position); S new positions per row, which
   * start at 0 when S > 1 (a right-padded prefill) and follow the row's cache when S = 1.
   */
  async decode(
    graph: 'llm' | 'depth_head',
    x: Float32Array,
    S: number,
    last: number[],
    kv: KvCache,
    readAt?: number[],
  ) {
    const B = last.length;
    const rows = last.map((l) => (S === 1 ? { past: l, count: 1 } : { past: 0, count: l + 1 }));
    const feeds: Record<string, ort.Tensor> = { inputs_embeds: new ort.Tensor('float32', x, [B, S, this.D]) };
    kv.lengths(feeds, rows);
    if (graph === 'llm') feeds.logits_index = i64(readAt ?? last.map(() => S - 1), [B]);
    const fetches = { ...(graph === 'llm' ? { hidden: null } : { logits: null }), ...kv.bind(0, B, feeds) };
    const out = await this.s[graph].run(feeds, fetches);
    kv.append(0, out, rows);
    if (graph !== 'llm') return { logits: f32(out.logits), hidden: undefined };
    const { logits } = await this.s.lm_head.run({ hidden: out.hidden });
    return { logits: f32(logits), hidden: f32(out.hidden) };
  }

  /** The VQA prompt's inputs_embeds [1, L, D]: text chunks through embed_tokens, each image through visual_embed. */
  async promptEmbeds(ids: number[], images: number[][][]): Promise<Float32Array> {
    const parts: Float32Array[] = [];
    let run: number[] = [];
    let image = 0;
    for (const id of [...ids, null]) {
      if (id !== null && id !== IMAGE_TOKEN_INDEX) {
        run.push(id);
        continue;
      }
      if (run.length) parts.push(await this.embedText([run]));
      run = [];
      if (id === IMAGE_TOKEN_INDEX) parts.push(await this.embedVisual([images[image++]]));
    }
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  async generateText(ids: number[], image: number[][], maxNew: number, p: Sampling) {
    const next = p.seed === undefined ? undefined : mulberry32(p.seed);
    const x = await this.promptEmbeds(ids, [image]);
    const L = x.length / this.D;
    const kv = this.kv('llm', 1, L + maxNew);
    let { logits } = await this.decode('llm', x, L, [L - 1], kv);
    const firstLogits = logits.slice();
    const tokens: number[] = [];
    while (tokens.length < maxNew) {
      const token = sample(logits, p, next);
      if (token === this.cfg.special_tokens.eos) break;
      tokens.push(token);
      if (tokens.length === maxNew) break;
      ({ logits } = await this.decode(
        'llm',
        await this.embedText([[token]]),
        1,
        [L - 1 + tokens.length],
        kv,
      ));
    }
    return { tokens, firstLogits };
  }

  /** The released T2I loop; rows [cond; uncond] right-padded (each row's cache is masked past its length, so no padding is attended). */
  async generateImage(cond: number[], uncond: number[], p: Sampling & { cfg_scale: number }) {
    const { num_codebooks: K, codebook_size: V, visual_tokens: N } = this.cfg.image;
    const next = p.seed === undefined ? undefined : mulberry32(p.seed);
    const rows = p.cfg_scale > 1 ? [cond, uncond] : [cond];
    const B = rows.length;
    const width = Math.max(...rows.map((r) => r.length));
    const padded = rows.map((r) => [...r, ...Array(width - r.length).fill(this.cfg.special_tokens.pad)]);
    const kv = this.kv('llm', B, width + N);
    let last = rows.map((r) => r.length - 1);
    let { hidden } = await this.decode('llm', await this.embedText(padded), width, last, kv, last);
    const codes: number[][] = Array.from({ length: K }, () => []);
    let firstLogits: Float32Array | undefined;
    for (let t = 0; t < N; t++) {
      const depthKv = this.kv('depth_head', B, K);
      let x = hidden as Float32Array;
      for (let k = 0; k < K; k++) {
        const { logits } = await this.decode('depth_head', x, 1, Array(B).fill(k), depthKv);
        firstLogits ??= logits.slice();
        const mixed =
          B === 2
            ? Array.from(logits.subarray(0, V), (c, i) => logits[V + i] + (c - logits[V + i]) * p.cfg_scale)
            : logits;
        const code = sample(mixed, p, next);
        codes[k].push(code);
        if (k < K - 1)
          x = f32(
            (await this.s.code_embed.run({ code_ids: i64(Array(B).fill(k * V + code), [B, 1]) })).embeds,
          );
      }
      if (t === N - 1) break;
      const token = codes.map((c) => [c[t]]); // [K][1]
      last = last.map((l) => l + 1);
      ({ hidden } = await this.decode('llm', await this.embedVisual(Array(B).fill(token)), 1, last, kv));
    }
    return { codes, firstLogits: firstLogits as Float32Array };
  }
}

const ints = (t: LoadedTensor) => Array.from(t.data as BigInt64Array, Number);

/** codes tensor [1, K, N] (or [K, N]) -> number[K][N] */
function codeRows(t: LoadedTensor): number[][] {
  const [K, N] = t.shape.slice(-2);
  const flat = ints(t);
  return Array.from({ length: K }, (_, k) => flat.slice(k * N, (k + 1) * N));
}

for (const variant of ['tiny', 'fp32']) {
  describe(`bundle ${variant}: graphs and loops reproduce the PyTorch reference`, () => {
    const fx = fixturesDir('reference_loop', variant);
    const { tensors: T, meta } = loadTensors(fx);
    const dir =
      variant === 'tiny' ? join(process.cwd(), 'models', 'tiny') : join(fx, '..', meta.bundle as string);
    const bundle = new Bundle(dir);
    before(() => bundle.load());
    after(() => bundle.release());
    const image = codeRows(T['vqa.codes']);

    test('config.json lists every file with its size, and every graph', () => {
      const cfg = bundle.cfg;
      assert.equal(cfg.format, 'unitok-bundle');
      for (const [name, size] of Object.entries(cfg.files))
        assert.equal(statSync(join(dir, name)).size, size, name);
      for (const file of Object.values(cfg.graphs)) assert.ok(file in cfg.files, file);
      assert.deepEqual(cfg.special_tokens, { pad: 0, unk: 0, bos: 1, eos: 2, boi: 3, eoi: 4 });
    });

    test('VQA: prompt embeddings and prefill logits within 1e-4', async () => {
      const { firstLogits } = await bundle.generateText(ints(T['vqa.input_ids']), image, 1, {
        temperature: 0,
      });
      const err = maxAbsDiff(firstLogits, T['vqa.first_logits'].data as Float32Array);
      assert.ok(err <= TOLERANCE, `prefill logits max abs error ${err}`);
    });

    test('T2I: depth-head logits of the first code, both CFG rows, within 1e-4', async () => {
      const { firstLogits } = await bundle.generateImage(ints(T['t2i.cond_ids']), ints(T['t2i.uncond_ids']), {
        cfg_scale: 7,
        temperature: 0,
      });
      const err = maxAbsDiff(firstLogits, T['t2i.first_logits'].data as Float32Array);
      assert.ok(err <= TOLERANCE, `depth logits max abs error ${err}`);
    });

    for (const [name, params] of Object.entries(meta.text_runs as Record<string, Sampling>)) {
      test(`VQA ${name} tokens`, async () => {
        const { tokens } = await bundle.generateText(
          ints(T['vqa.input_ids']),
          image,
          meta.max_new_tokens as number,
          params,
        );
        assert.deepEqual(tokens, ints(T[`vqa.${name}.tokens`]));
      });
    }

    for (const [name, params] of Object.entries(
      meta.image_runs as Record<string, Sampling & { cfg_scale: number }>,
    )) {
      test(`text-to-image ${name} codes`, async () => {
        const { codes } = await bundle.generateImage(
          ints(T['t2i.cond_ids']),
          ints(T['t2i.uncond_ids']),
          params,
        );
        assert.deepEqual(codes, codeRows(T[`t2i.${name}.codes`]));
      });
    }
  });
}

test('models/tiny stays within its 10 MB budget and says it is random', () => {
  const dir = join(process.cwd(), 'models', 'tiny');
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as BundleConfig;
  const total = Object.values(cfg.files).reduce((a, b) => a + b, 0) + statSync(join(dir, 'config.json')).size;
  assert.ok(total <= 10_000_000, `models/tiny is ${total} bytes`);
  assert.match(readFileSync(join(dir, 'README.md'), 'utf8'), /Random weights/);
  assert.equal(cfg.dtype, 'int4');
  assert.equal(cfg.llm.vocab_size, 32000);
});
