// Parity of the MLLM ONNX graphs (unitok/export/mllm_graphs.py) with the PyTorch modules, through onnxruntime-node.
// Fixtures: unitok/export/mllm_fixtures.py (tiny config, seeded weights, graphs in fp32 / fp16 / int4).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { KvCache } from '../src/model/worker-thread/kv-cache.ts';
import { argmax as argmaxOf } from '../src/model/worker-thread/sampling.ts';
import { fromFloat16, toFloat16 } from './helpers/float16.ts';
import { fixturesDir, type LoadedTensor, loadTensors, maxAbsDiff } from './helpers/tensors.ts';

type Precision = 'fp32' | 'fp16' | 'int4';
const dir = fixturesDir('mllm_graphs');
const { tensors: T, meta } = loadTensors(dir);
const cfg = meta.config as Record<string, number>;
const [prefill, steps, cache] = [meta.prefill as number[], meta.steps as number, meta.cache as number];
const D = cfg.hidden_size;
const K = cfg.num_codebooks;

// Max-abs error allowed per precision, relative to the largest reference magnitude (fp32 is absolute, 1e-4).
// fp16 rounds weights and activations (~1e-3 each); int4 rounds every decoder/head weight to 4 bits (~7% each on
// these uniform random weights). 'int4 exact' compares int4 with PyTorch running the dequantised weights: only the
// int8 activations of accuracy_level 4 and float rounding remain, so a packing mistake shows at once.
type Column = Precision | 'int4 exact';
const COLUMNS: Column[] = ['fp32', 'fp16', 'int4', 'int4 exact'];
const BOUND: Record<Column, number> = { fp32: 1e-4, fp16: 2e-2, int4: 0.25, 'int4 exact': 2e-2 };
const errors: Record<string, Partial<Record<Column, string>>> = {};

const session = (p: Precision, graph: string) => ort.InferenceSession.create(join(dir, p, `${graph}.onnx`));

function floatTensor(p: Precision, values: Float32Array, dims: number[]): ort.Tensor {
  return p === 'fp16'
    ? new ort.Tensor('float16', toFloat16(values), dims)
    : new ort.Tensor('float32', values, dims);
}

function floats(t: ort.Tensor): Float32Array {
  return t.type === 'float16' ? fromFloat16(t.data as Uint16Array) : (t.data as Float32Array);
}

/** The sub-array of `t` at the leading indices `index` (row-major), e.g. at(logits, [step]) -> [B, V]. */
function at(t: LoadedTensor, index: number[]): Float32Array {
  let size = t.data.length;
  let offset = 0;
  index.forEach((i, axis) => {
    size /= t.shape[axis];
    offset += i * size;
  });
  return (t.data as Float32Array).subarray(offset, offset + size);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Record the error of `got` against a PyTorch reference and check it against the column's bound. */
function check(column: Column, what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  const abs = maxAbsDiff(got, want);
  const rel = abs / maxAbs(want);
  errors[what] ??= {};
  errors[what][column] = `${abs.toExponential(2)} (rel ${rel.toExponential(2)})`;
  if (column === 'fp32') assert.ok(abs <= BOUND.fp32, `${column} ${what}: max abs error ${abs}`);
  else assert.ok(rel <= BOUND[column], `${column} ${what}: relative error ${rel}`);
}

/** Check against fixture `name` at `index`; int4 also against the dequantised-weights reference `name_int4`. */
function checkRef(
  p: Precision,
  what: string,
  got: ArrayLike<number>,
  name: string,
  index: number[] = [],
): void {
  check(p, what, got, index.length ? at(T[name], index) : (T[name].data as Float32Array));
  if (p === 'int4' && T[`${name}_int4`]) check('int4 exact', what, got, at(T[`${name}_int4`], index));
}

/**
 * One decoder call on the runner's KV memory (kv-cache.ts): the buffers of `kv` as inputs, then the run's new keys
 * and values written into place, row b's first `counts[b]` new positions at past[b] onwards.
 */
async function runCached(
  s: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  kv: KvCache,
  counts: number[],
  outputs: string[],
): Promise<ort.InferenceSession.OnnxValueMapType> {
  // llm: past_lengths; depth_head (in place): seqlens_k, the index of each row's last position after the run.
  const S = feeds.inputs_embeds.dims[1];
  const past = feeds.past_lengths
    ? Array.from(feeds.past_lengths.data as Int32Array)
    : Array.from(feeds.seqlens_k.data as Int32Array, (last) => last + 1 - S);
  const fetches = { ...Object.fromEntries(outputs.map((o) => [o, null])), ...kv.bind(0, past.length, feeds) };
  const out = await s.run(feeds, fetches);
  for (const name of Object.keys(fetches).filter((n) => n.startsWith('new_key_values.')))
    assert.deepEqual(out[name].dims.slice(2), [S, cfg.head_dim], name);
  kv.append(
    0,
    out,
    past.map((p, b) => ({ past: p, count: counts[b] })),
  );
  return out;
}

/** The cache buffers of `kv` by input name, whole (views of its memory). */
function cacheViews(kv: KvCache): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  kv.bind(0, kv.rows, feeds);
  return feeds;
}

const int32 = (values: number[], dims = [values.length]) =>
  new ort.Tensor('int32', Int32Array.from(values), dims);
const int64 = (values: number[]) =>
  new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [values.length]);

/** Rows of the ragged llm scenario as one [2, len, D] batch: row b takes positions start[b] .. start[b] + len - 1. */
function llmEmbeds(p: Precision, start: number[], len: number): ort.Tensor {
  const out = new Float32Array(2 * len * D);
  start.forEach((first, b) => {
    const valid = Math.min(len, prefill[b] + steps - first);
    out.set(at(T['llm.embeds'], [b]).subarray(first * D, (first + valid) * D), b * len * D); // rest stays 0 (pad)
  });
  return floatTensor(p, out, [2, len, D]);
}

for (const p of ['fp32', 'fp16', 'int4'] as Precision[]) {
  describe(`mllm graphs ${p}`, () => {
    // The three lookup graphs: one int64 input fixture in, one FLOAT output [..., D] compared with PyTorch.
    const lookups = [
      ['embed_tokens', 'input_ids', 'inputs_embeds', 'embed'],
      ['visual_embed', 'codes', 'inputs_embeds', 'visual'],
      ['code_embed', 'code_ids', 'embeds', 'code'],
    ];
    for (const [graph, input, output, fixture] of lookups) {
      test(graph, async () => {
        const s = await session(p, graph);
        const ids = T[`${fixture}.${input}`];
        const out = await s.run({ [input]: new ort.Tensor('int64', ids.data as BigInt64Array, ids.shape) });
        assert.deepEqual(out[output].dims, [...T[`${fixture}.${output}`].shape]);
        checkRef(p, graph, floats(out[output]), `${fixture}.${output}`);
        if (graph === 'visual_embed') {
          // The generation path: one visual token alone (N = 1); the fixture above has N = 6, causal.
          const first = new BigInt64Array(2 * K); // codes[:, :, :1]
          for (let i = 0; i < 2 * K; i++) first[i] = (ids.data as BigInt64Array)[i * ids.shape[2]];
          const one = await s.run({ codes: new ort.Tensor('int64', first, [2, K, 1]) });
          checkRef(p, 'visual_embed N=1', floats(one.inputs_embeds), 'visual.inputs_embeds_n1');
        }
        await s.release();
      });
    }

    test('llm + lm_head: ragged right-padded prefill, then S=1 steps; only new positions come back', async () => {
      const s = await session(p, 'llm');
      const head = await session(p, 'lm_head');
      const layers = cfg.num_hidden_layers;
      const kv = new KvCache(s, 2, cache);
      assert.equal(kv.length, cache);
      assert.ok(!kv.inPlace, 'llm returns new keys/values only');
      for (let step = 0; step <= steps; step++) {
        // step 0 prefills each row's prompt (right-padded to the longer one); later steps feed one token per row.
        const start = step === 0 ? [0, 0] : prefill.map((n) => n + step - 1);
        const len = step === 0 ? Math.max(...prefill) : 1;
        const out = await runCached(
          s,
          {
            inputs_embeds: llmEmbeds(p, start, len),
            past_lengths: int32(start),
            logits_index: int64(step === 0 ? prefill.map((n) => n - 1) : [0, 0]),
          },
          kv,
          step === 0 ? prefill : [1, 1],
          ['hidden'],
        );
        assert.ok(!s.outputNames.includes('logits'), 'llm has no logits output: lm_head is its own graph');
        assert.ok(!s.outputNames.some((n) => n.startsWith('present.')), 'no output the size of the cache');
        checkRef(p, `llm hidden step ${step}`, floats(out.hidden), 'llm.hidden', [step]);
        const { logits, argmax } = await head.run({ hidden: out.hidden });
        assert.deepEqual(logits.dims, [2, cfg.vocab_size]);
        assert.equal(logits.type, 'float32');
        checkRef(p, `lm_head logits step ${step}`, floats(logits), 'llm.logits', [step]);
        // The argmax output: each row's best token, the lowest id on ties, as the engine's own argmax.
        const best = [0, 1].map((b) =>
          argmaxOf(floats(logits).subarray(b * cfg.vocab_size, (b + 1) * cfg.vocab_size)),
        );
        assert.deepEqual(Array.from(argmax.data as BigInt64Array, Number), best, `argmax step ${step}`);
      }
      // The cache now holds every row's keys/values: the valid slots match PyTorch's present (the fixture is zero
      // past each row), and the slots past a row were never written.
      const views = cacheViews(kv);
      for (let layer = 0; layer < layers; layer++) {
        for (const kvName of ['key', 'value']) {
          const got = floats(views[`past_key_values.${layer}.${kvName}`]);
          const rowSize = got.length / 2;
          for (let b = 0; b < 2; b++) {
            const written = (prefill[b] + steps) * cfg.head_dim;
            for (let h = 0; h < cfg.num_key_value_heads; h++) {
              const slots = got.subarray(
                b * rowSize + h * cache * cfg.head_dim,
                b * rowSize + (h + 1) * cache * cfg.head_dim,
              );
              assert.ok(
                slots.subarray(written).every((v) => v === 0),
                `layer ${layer} row ${b}: slots past the row written`,
              );
            }
          }
          checkRef(p, `llm ${kvName} cache`, got, `llm.present_${kvName}`, [layer]);
        }
      }
      await s.release();
      await head.release();
    });

    test('llm: a second turn appended to both rows at once (1 < S, rows at different lengths)', async () => {
      // What GroupQueryAttention allowed only one row at a time: each row's prompt minus its last two tokens,
      // then those two tokens (S = 2) for both rows together, must read out what the whole prompt does.
      const s = await session(p, 'llm');
      const kv = new KvCache(s, 2, cache);
      const first = prefill.map((n) => n - 2);
      await runCached(
        s,
        {
          inputs_embeds: llmEmbeds(p, [0, 0], Math.max(...first)),
          past_lengths: int32([0, 0]),
          logits_index: int64(first.map((n) => n - 1)),
        },
        kv,
        first,
        ['hidden'],
      );
      const out = await runCached(
        s,
        {
          inputs_embeds: llmEmbeds(p, first, 2),
          past_lengths: int32(first),
          logits_index: int64([1, 1]),
        },
        kv,
        [2, 2],
        ['hidden'],
      );
      checkRef(p, 'llm hidden after extend', floats(out.hidden), 'llm.hidden', [0]);
      await s.release();
    });

    test('depth_head: one position per call on an in-place cache equals the released recompute-all', async () => {
      const s = await session(p, 'depth_head');
      const kv = new KvCache(s, 2, K);
      assert.ok(kv.inPlace, 'GroupQueryAttention present outputs: the depth cache is updated in place');
      const embeds = T['depth.embeds']; // [2, K, D]: LLM hidden, then the fed-back code embeddings
      for (let k = 0; k < K; k++) {
        const x = new Float32Array(2 * D);
        for (let b = 0; b < 2; b++) x.set(at(embeds, [b, k]), b * D);
        const out = await runCached(
          s,
          {
            inputs_embeds: floatTensor(p, x, [2, 1, D]),
            seqlens_k: int32([k, k]),
            total_sequence_length: int32([k + 1], []),
          },
          kv,
          [1, 1],
          ['logits'],
        );
        assert.deepEqual(out.logits.dims, [2, cfg.codebook_size]);
        checkRef(p, `depth_head logits code ${k}`, floats(out.logits), 'depth.logits', [k]);
      }
      await s.release();
    });
  });
}

test('on the CPU, ORT fuses each Transpose of the keys into its MatMul: the cache is read where it lies', async () => {
  // The llm graph writes q·Kᵀ as Transpose + MatMul (portable); a Transpose left alone would copy the whole cache
  // per layer and run. ORT's optimizer turns each pair into one FusedMatMul with transB (2 per layer).
  const out = join(mkdtempSync(join(tmpdir(), 'llm-opt-')), 'llm.onnx');
  const s = await ort.InferenceSession.create(join(dir, 'fp32', 'llm.onnx'), {
    graphOptimizationLevel: 'all',
    optimizedModelFilePath: out,
  });
  await s.release();
  const count = (text: string) => readFileSync(out).toString('latin1').split(text).length - 1;
  assert.equal(count('FusedMatMul'), 2 * cfg.num_hidden_layers);
  rmSync(dirname(out), { recursive: true });
});

test('fp32 depth_head fed by code_embed; the next visual token reuses the cache without clearing it', async () => {
  const [head, table] = await Promise.all([session('fp32', 'depth_head'), session('fp32', 'code_embed')]);
  const kv = new KvCache(head, 2, K);
  const step = async (x: Float32Array, k: number) =>
    (
      await runCached(
        head,
        {
          inputs_embeds: new ort.Tensor('float32', x, [2, 1, D]),
          seqlens_k: int32([k, k]),
          total_sequence_length: int32([k + 1], []),
        },
        kv,
        [1, 1],
        ['logits'],
      )
    ).logits.data as Float32Array;
  const ids = T['depth.code_ids'].data as BigInt64Array; // [2, K-1]: level * codebook_size + code
  let x: Float32Array = new Float32Array(2 * D);
  for (let b = 0; b < 2; b++) x.set(at(T['depth.embeds'], [b, 0]), b * D);
  for (let k = 0; k < K; k++) {
    assert.ok(maxAbsDiff(await step(x, k), at(T['depth.logits'], [k])) <= 1e-4, `code ${k}`);
    if (k < K - 1) {
      const level = BigInt64Array.from([ids[k], ids[K - 1 + k]]);
      x = (await table.run({ code_ids: new ort.Tensor('int64', level, [2, 1]) })).embeds.data as Float32Array;
    }
  }
  // Second token with the rows swapped: a stale slot read from the first token would show in every row.
  for (let k = 0; k < K; k++) {
    const swapped = new Float32Array(2 * D);
    const want = new Float32Array(2 * cfg.codebook_size);
    for (let b = 0; b < 2; b++) {
      swapped.set(at(T['depth.embeds'], [1 - b, k]), b * D);
      want.set(at(T['depth.logits'], [k, 1 - b]), b * cfg.codebook_size);
    }
    assert.ok(maxAbsDiff(await step(swapped, k), want) <= 1e-4, `second token, code ${k}`);
  }
  await Promise.all([head.release(), table.release()]);
});

test('int8 lm_head (--lm-head-bits 8): exact integer arithmetic, each row independent of its batch', async () => {
  const head = await ort.InferenceSession.create(join(dir, 'int4_lm8', 'lm_head.onnx'));
  const V = cfg.vocab_size;
  for (let step = 0; step <= steps; step++) {
    const hidden = at(T['llm.hidden'], [step]); // [2, D], the fp32 model's
    const { logits } = await head.run({ hidden: new ort.Tensor('float32', hidden.slice(), [2, D]) });
    const got = logits.data as Float32Array;
    // export/int8.py's float32 steps, op for op: the same bits.
    assert.deepEqual(got, at(T['lm8.logits'], [step]), `step ${step}: differs from the int8 arithmetic`);
    const best = [0, 1].map((b) => argmaxOf(got.subarray(b * V, (b + 1) * V)));
    const { argmax } = await head.run(
      { hidden: new ort.Tensor('float32', hidden.slice(), [2, D]) },
      { argmax: null },
    );
    assert.deepEqual(Array.from(argmax.data as BigInt64Array, Number), best, `step ${step}: argmax output`);
    check('int4', `lm_head int8 logits step ${step}`, got, at(T['llm.logits'], [step]));
    for (let b = 0; b < 2; b++) {
      const alone = await head.run({
        hidden: new ort.Tensor('float32', hidden.slice(b * D, (b + 1) * D), [1, D]),
      });
      assert.deepEqual(alone.logits.data, got.subarray(b * V, (b + 1) * V), `step ${step} row ${b} alone`);
    }
  }
  await head.release();
});

after(() => {
  // Reported numbers: max-abs error against PyTorch fp32 (and relative to the reference's largest magnitude).
  const cell = (text: string | undefined) => (text ?? '-').padEnd(26);
  const header = `${'MLLM graph errors vs PyTorch'.padEnd(30)} ${COLUMNS.map(cell).join('')}`;
  const rows = Object.entries(errors).map(
    ([what, e]) => `${what.padEnd(30)} ${COLUMNS.map((c) => cell(e[c])).join('')}`,
  );
  console.log(`\n${header}\n${rows.join('\n')}`);
});

test("lm_head's two-level argmax: the lowest id on ties, across and inside blocks, padded or not", async () => {
  for (const V of [256, 300]) {
    const session = await ort.InferenceSession.create(join(dir, 'argmax', `argmax_${V}.onnx`));
    // Each row: a fill, then [id, value] pairs written over it in order.
    const cases: [number, [number, number][]][] = [
      [-5, [[V - 1, 2]]], // the last id (inside the padded block for 300)
      [
        -5,
        [
          [3, 2],
          [130, 2],
        ],
      ], // a tie across blocks: the first block's
      [
        -5,
        [
          [140, 2],
          [131, 2],
        ],
      ], // a tie inside a block, the later id written first
      [
        -5,
        [
          [127, 1],
          [128, 1],
          [129, 3],
        ],
      ], // the block boundary
      [-Infinity, []], // nothing above -inf: id 0, as the engine's argmax
      [
        0,
        [
          [0, -0],
          [200, 1e-30],
        ],
      ], // -0 ties 0; a tiny positive wins
      [7, []], // all equal: id 0
      [0, Array.from({ length: V }, (_, i): [number, number] => [i, Math.sin(i * 7.1) * 10])],
    ];
    const rows = cases.map(([fill, writes]) => {
      const v = new Float32Array(V).fill(fill);
      for (const [i, x] of writes) v[i] = x;
      return v;
    });
    const x = new Float32Array(rows.length * V);
    for (const [b, r] of rows.entries()) x.set(r, b * V);
    const { argmax } = await session.run({ logits: new ort.Tensor('float32', x, [rows.length, V]) });
    const want = rows.map((r) => argmaxOf(r));
    assert.deepEqual(Array.from(argmax.data as BigInt64Array, Number), want, `V ${V}`);
    await session.release();
  }
});
