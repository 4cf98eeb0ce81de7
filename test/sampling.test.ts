// The sampling steps against the Python reference (fixtures 'reference_loop/sampler': mulberry32 streams and
// tokens drawn from fixed logits by unitok/reference_loop.py) and against their definitions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Mulberry32, type SamplingSpec, skipDraws } from '../src/model/protocol/rng.ts';
import { LogitsBuffer } from '../src/model/worker-thread/logits.ts';
import { sampleRows } from '../src/model/worker-thread/sampler.ts';
import {
  argmax,
  type Candidates,
  cfg,
  draw,
  kept,
  locate,
  sample,
  topP,
  total,
  weigh,
  weightUnit,
} from '../src/model/worker-thread/sampling.ts';
import { exp2Taylor, GAP_UNITS_PER_NAT, gapWeight } from '../src/model/worker-thread/weights.ts';
import { fixturesDir, loadTensors } from './helpers/tensors.ts';

const { tensors: T, meta } = loadTensors(fixturesDir('reference_loop', 'sampler'));

describe('mulberry32', () => {
  test('produces the reference uint32 streams, seeds reduced mod 2^32', () => {
    const seeds = meta.seeds as number[];
    const streams = T['rng.uint32'];
    const per = streams.shape[1];
    seeds.forEach((seed, s) => {
      const rng = new Mulberry32(seed);
      const got = Array.from({ length: per }, () => rng.nextUint32());
      const want = Array.from((streams.data as BigInt64Array).subarray(s * per, (s + 1) * per), Number);
      assert.deepEqual(got, want, `seed ${seed}`);
    });
  });

  test('negative and over-2^32 seeds wrap like Python `seed & 0xFFFFFFFF`', () => {
    assert.equal(new Mulberry32(-1).state, 0xffffffff);
    assert.equal(new Mulberry32(2 ** 32 + 5).state, 5);
  });

  test('skipDraws predicts the state after n draws', () => {
    for (const seed of [0, 5, 0xffffffff]) {
      const rng = new Mulberry32(seed);
      for (let n = 1; n <= 20; n++) {
        rng.nextUint32();
        assert.equal(skipDraws(seed, n), rng.state);
      }
    }
  });

  test('uniform() stays in [0, 1)', () => {
    const rng = new Mulberry32(9);
    for (let i = 0; i < 10_000; i++) {
      const u = rng.uniform();
      assert.ok(u >= 0 && u < 1);
    }
  });
});

describe('sample() reproduces the reference draws', () => {
  const logits = T.logits; // float32 [2, V]
  const V = logits.shape[1];
  const cases = meta.cases as { temperature: number; top_k?: number; top_p?: number }[];
  const caseSeeds = meta.case_seeds as number[];
  const draws = T.draws.data as BigInt64Array; // [2, cases, 8]
  for (let row = 0; row < 2; row++) {
    cases.forEach((c, ci) => {
      test(`row ${row} ${JSON.stringify(c)}`, () => {
        const spec: SamplingSpec = { temperature: c.temperature, topK: c.top_k ?? 0, topP: c.top_p ?? 1 };
        const rng = new Mulberry32(caseSeeds[ci]);
        const l = (logits.data as Float32Array).subarray(row * V, (row + 1) * V);
        const got = Array.from({ length: 8 }, () => sample(l, spec, rng));
        const offset = (row * cases.length + ci) * 8;
        assert.deepEqual(got, Array.from(draws.subarray(offset, offset + 8), Number));
      });
    });
  }
});

describe('steps', () => {
  /** The kept ids in ranked order (z descending, lower id on ties), by a plain comparator sort. */
  const ranked = (c: Candidates) => {
    const z = (i: number) => c.logits[i] / c.temperature;
    return kept(c).ids.sort((a, b) => (z(b) > z(a) ? 1 : z(b) < z(a) ? -1 : a - b));
  };
  /** Each kept token's weight. */
  const weights = (c: Candidates) => {
    const { ids, w } = kept(c);
    return new Map(ids.map((id, j) => [id, w[j]]));
  };

  test('integer weights: the reference bits, and 2^S * 2^(-gap) to 1e-9', () => {
    const units = Array.from(T['weights.units'].data as BigInt64Array, Number);
    const want = Array.from(T['weights.values'].data as BigInt64Array, Number);
    (meta.weight_exponents as number[]).forEach((S, row) => {
      const got = units.map((u) =>
        gapWeight(Math.floor(((u + 0.5) / GAP_UNITS_PER_NAT) * GAP_UNITS_PER_NAT), S),
      );
      assert.deepEqual(got, want.slice(row * units.length, (row + 1) * units.length), `S = ${S}`);
    });
    for (let g = 0; g < 40 * 65536; g += 4099) {
      const exact = 2 ** (37 - g / 65536);
      assert.ok(Math.abs(gapWeight(g, 37) - exact) <= 1 + exact * 1e-9, `gap ${g}`);
    }
    assert.equal(gapWeight(0, 37), 2 ** 37);
    assert.equal(gapWeight(38 * 65536, 37), 0);
    assert.equal(gapWeight(Number.NaN, 37), 0);
    assert.ok(Math.abs(exp2Taylor(-1) - 0.5) < 1e-9);
    // S = min(24, 52 - ceil(log2 V)).
    assert.equal(weightUnit(32000), 2 ** 24);
    assert.equal(weightUnit(4096), 2 ** 24);
    assert.equal(weightUnit(2 ** 28), 2 ** 24);
    assert.equal(weightUnit(2 ** 28 + 1), 2 ** 23);
  });

  test('weigh keeps the tokens that weigh something, the best one at 2^S, NaNs left out', () => {
    const logits = Float32Array.of(1, 3, 3, -100, 2, Number.NaN, -1e30);
    const c = weigh(logits, 0.5);
    const unit = weightUnit(7);
    const got = weights(c);
    assert.deepEqual([...got.keys()], [0, 1, 2, 4]);
    assert.equal(got.get(1), unit);
    assert.equal(got.get(2), unit);
    assert.ok(Math.abs((got.get(0) ?? 0) / unit / Math.exp(-4) - 1) < 1.1e-5); // the gap's quantum: 2^-16 octave
    assert.equal(
      total(c),
      [...got.values()].reduce((a, b) => a + b),
    );
    const allNaN = weigh(Float32Array.of(Number.NaN, Number.NaN), 1);
    assert.deepEqual(kept(allNaN), { ids: [0], w: [weightUnit(2)] });
  });

  test('locate finds the token where the ranked running weight crosses x', () => {
    const g = new Mulberry32(1);
    for (const n of [1, 2, 7, 17, 300, 5000]) {
      // Few distinct logits so that ties are common; zeros of both signs mixed in.
      const pool = [0, -0, 1.5, -1.5, 2, -7.25, 0.1, -20, 3e-30];
      const logits = Float64Array.from({ length: n }, () => pool[g.nextUint32() % pool.length]);
      const c = weigh(logits, 1);
      const order = ranked(c);
      const weightOf = weights(c);
      const all = total(c);
      for (const x of [0, 0.5, all / 3, all / 2 + 0.25, all - 1, all - 0.5]) {
        if (x >= all) continue;
        const at = locate(c, x);
        let before = 0;
        let r = 0;
        while (before + (weightOf.get(order[r]) ?? 0) <= x) before += weightOf.get(order[r++]) ?? 0;
        assert.equal(at, order[r], `n=${n} x=${x}`);
      }
    }
  });

  test('top-k keeps exactly the k first of the ranking', () => {
    const g = new Mulberry32(5);
    for (const n of [1, 9, 300, 5000]) {
      const pool = [0, -0, 1.5, -1.5, 2, -7.25, 0.1];
      const logits = Float64Array.from({ length: n }, () => pool[g.nextUint32() % pool.length]);
      const full = ranked(weigh(logits, 1));
      for (const k of [1, 2, 3, 40, n - 1, n, n + 5]) {
        if (k < 1) continue;
        const { ids } = kept(weigh(logits, 1, k));
        assert.equal(ids.length, Math.min(k, n));
        assert.deepEqual(new Set(ids), new Set(full.slice(0, k)), `n=${n} k=${k}`);
      }
    }
  });

  test('sample() equals a literal implementation of the spec (full sort)', () => {
    const g = new Mulberry32(11);
    const specs: SamplingSpec[] = [
      { temperature: 1, topK: 0, topP: 1 },
      { temperature: 1, topK: 0, topP: 0.9 },
      { temperature: 1.5, topK: 50, topP: 0.95 },
      { temperature: 0.3, topK: 3000, topP: 1 },
      { temperature: 1.3, topK: 0, topP: 0.5 },
    ];
    // Bell-shaped logits (a sum of uniforms; most tokens in a few buckets, as a model's are) of narrow and wide
    // spreads (many tokens weigh nothing), some rounded to a grid (ties), some of a full text vocabulary.
    const bell = () => g.uniform() + g.uniform() + g.uniform() - 1.5;
    for (let trial = 0; trial < 24; trial++) {
      const spread = [2, 5, 60, 400][trial % 4];
      const grid = trial % 3 ? 2 ** 20 : 8;
      const V = trial < 8 ? 32000 : 4096;
      const logits = Float32Array.from({ length: V }, () => Math.round(bell() * spread * grid) / grid);
      for (const spec of specs) {
        const literal = literalNucleus(logits, spec);
        const [a, b] = [new Mulberry32(trial), new Mulberry32(trial)];
        for (let i = 0; i < 20; i++)
          assert.equal(sample(logits, spec, a), literalDraw(literal, b), `${trial} ${JSON.stringify(spec)}`);
      }
    }
  });

  test('argmax takes the first maximum', () => {
    assert.equal(argmax([1, 5, 5, 2]), 1);
    assert.equal(argmax(Float32Array.of(-3, -1, -1)), 1);
  });

  test('cfg mixes uncond + (cond - uncond) * scale in float64', () => {
    const mixed = cfg(Float32Array.of(1, 2), Float32Array.of(0.5, 4), 3);
    assert.deepEqual(Array.from(mixed), [0.5 + 0.5 * 3, 4 - 2 * 3]);
  });

  test('topP keeps tokens until the weight before them passes the limit', () => {
    // Weights ~4:2:1:1 (z = log w): the weight before each token is 0, ~4, ~6, ~7 eighths of the total.
    const logits = Float64Array.from([1, 2, 4, 1].map(Math.log));
    const c = weigh(logits, 1);
    const w = weights(c);
    const [w0, w1, w2, w3] = [0, 1, 2, 3].map((id) => w.get(id) ?? 0);
    const all = w0 + w1 + w2 + w3;
    const count = (p: number) => kept(topP(weigh(logits, 1), p)).ids.length;
    assert.equal(count(w2 / all), 2); // the limit equals the weight before token 1: it stays
    assert.equal(count(w2 / all - 1e-6), 1);
    assert.equal(count((w2 + w1) / all), 3);
    assert.equal(count(0.99), 4);
    assert.equal(count(1), 4);
    const nucleus = topP(weigh(logits, 1), w2 / all);
    assert.deepEqual(new Set(kept(nucleus).ids), new Set([2, 1]));
    assert.equal(total(nucleus), w2 + w1);
  });

  test('draw picks the token whose interval holds u * total', () => {
    const logits = Float64Array.from([Math.log(3), Math.log(1)]); // intervals [0, 3) and [3, 4) of 4
    const seen = new Map<number, number>();
    const rng = new Mulberry32(5);
    for (let i = 0; i < 4000; i++) {
      const t = draw(weigh(logits, 1), rng);
      seen.set(t, (seen.get(t) ?? 0) + 1);
    }
    assert.ok(Math.abs((seen.get(0) ?? 0) / 4000 - 0.75) < 0.03, `token 0 drawn ${seen.get(0)} / 4000`);
  });

  test('greedy consumes no draw', () => {
    const rng = new Mulberry32(3);
    sample([0, 1, 0], { temperature: 0, topK: 0, topP: 1 }, rng);
    assert.equal(rng.state, 3);
    sample([0, 1, 0], { temperature: 1, topK: 0, topP: 1 }, rng);
    assert.notEqual(rng.state, 3);
  });
});

/** unitok/reference_loop.py `sample_with_margin` up to the draw, transcribed step by step with no shortcut. */
function literalNucleus(logits: Float32Array, spec: SamplingSpec): { order: number[]; w: number[] } {
  const z = Array.from(logits, (v) => v / spec.temperature);
  let order = z.map((_, i) => i).sort((a, b) => (z[b] > z[a] ? 1 : z[b] < z[a] ? -1 : a - b));
  if (spec.topK > 0) order = order.slice(0, spec.topK);
  const S = Math.log2(weightUnit(logits.length));
  let w = order.map((i) => gapWeight(Math.floor((z[order[0]] - z[i]) * GAP_UNITS_PER_NAT), S));
  order = order.filter((_, r) => w[r] > 0);
  w = w.filter((x) => x > 0);
  if (spec.topP < 1) {
    const limit = spec.topP * w.reduce((s, x) => s + x, 0);
    let [kept, before] = [1, w[0]];
    while (kept < w.length && before <= limit) before += w[kept++];
    [order, w] = [order.slice(0, kept), w.slice(0, kept)];
  }
  return { order, w };
}

/** The draw of `sample_with_margin`. */
function literalDraw({ order, w }: { order: number[]; w: number[] }, rng: Mulberry32): number {
  const target = rng.uniform() * w.reduce((s, x) => s + x, 0);
  let before = 0;
  for (let r = 0; r < order.length; r++) {
    if (before + w[r] > target) return order[r];
    before += w[r];
  }
  throw new Error('target beyond the total');
}

describe("LogitsBuffer's SIMD scans", () => {
  const buffer = new LogitsBuffer(40000);
  const g = new Mulberry32(21);

  test('above() returns the blocks of 4 holding a value >= the floor, in order, and the last partial one', () => {
    for (let t = 0; t < 400; t++) {
      const n = 8 + (g.nextUint32() % 3000);
      const offset = g.nextUint32() % (40000 - n);
      const v = buffer.data.subarray(offset, offset + n);
      for (let i = 0; i < n; i++) v[i] = (g.uniform() - 0.5) * 40;
      if (t % 3 === 0) v[g.nextUint32() % n] = Number.NaN;
      const floor = t % 2 ? Math.fround((g.uniform() - 0.3) * 40) : (g.uniform() - 0.3) * 40;
      v.fill(-1e30, 0, Math.min(n, 64)); // blocks that stay out, and one that holds the floor exactly
      if (t % 2) v[g.nextUint32() % Math.min(n, 64)] = floor;
      const got = buffer.above(v, floor);
      assert.ok(got);
      const want: number[] = [];
      for (let j = 0; j * 4 < n; j++) {
        const block = Array.from(v.subarray(j * 4, Math.min(j * 4 + 4, n)));
        if (block.length < 4 || block.some((x) => x >= Math.fround(floor) && x >= floor - 1e-5)) want.push(j);
      }
      const blocks = Array.from(got.blocks.subarray(0, got.count));
      // Exact for float32 floors; otherwise the kernel may admit a block whose best lies one float32 step below.
      if (t % 2) assert.deepEqual(blocks, want, `case ${t}`);
      else for (const j of want) assert.ok(blocks.includes(j), `case ${t}: block ${j}`);
    }
    assert.equal(buffer.above(new Float32Array(16), 0), null, 'not a view of its memory');
  });

  test('sample() with the scans draws what the scalar steps draw', () => {
    const specs: SamplingSpec[] = [
      { temperature: 1, topK: 0, topP: 1 },
      { temperature: 0.7, topK: 0, topP: 0.9 },
      { temperature: 1.3, topK: 40, topP: 0.95 },
      { temperature: 1e-30, topK: 0, topP: 1 }, // outside the raw-logit fast path
      { temperature: 0, topK: 0, topP: 1 },
    ];
    for (let t = 0; t < 240; t++) {
      const n = [4000, 32000, 4097, 13][t % 4];
      const v = buffer.data.subarray(0, n);
      const spread = [1, 8, 40, 400][(t >> 2) % 4];
      for (let i = 0; i < n; i++) v[i] = Math.round((g.uniform() + g.uniform() - 1) * spread * 8) / 8; // ties
      if (t % 5 === 0) v[g.nextUint32() % n] = Number.NaN;
      if (t % 7 === 0) v[0] = Number.NaN;
      if (t % 11 === 0) v[g.nextUint32() % n] = Number.POSITIVE_INFINITY;
      if (t % 13 === 0) v.fill(Number.NEGATIVE_INFINITY, 0, n >> 1);
      const copy = Array.from(v); // a plain array: the scalar path throughout
      for (const spec of specs) {
        const [a, b] = [new Mulberry32(t), new Mulberry32(t)];
        for (let i = 0; i < 4; i++)
          assert.equal(
            sample(v, spec, a, buffer),
            sample(copy, spec, b),
            `case ${t} ${JSON.stringify(spec)}`,
          );
      }
    }
  });
});

describe("sampleRows (a step's text rows)", () => {
  test('each row: the token and generator state of sampling it alone', () => {
    const V = 500;
    const g = new Mulberry32(9);
    const logits = Float32Array.from({ length: 4 * V }, () => 4 * (g.uniform() - 0.5));
    const specs: SamplingSpec[] = [
      { temperature: 1, topK: 0, topP: 1 },
      { temperature: 0, topK: 0, topP: 1 },
      { temperature: 0.7, topK: 20, topP: 0.9 },
      { temperature: 1.3, topK: 0, topP: 0.5 },
    ];
    const rows = specs.map((sampling, j) => ({ sampling, rng: 100 + j }));
    const got = sampleRows({ vocab: V, logits, rows });
    rows.forEach(({ sampling, rng: state }, j) => {
      const rng = new Mulberry32(state);
      const token = sample(logits.subarray(j * V, (j + 1) * V), sampling, rng);
      assert.deepEqual(got[j], { token, rng: rng.state }, `row ${j}`);
    });
    assert.equal(got[1].rng, 100 + 1, 'a greedy row consumes no draw');
    assert.throws(
      () => sampleRows({ vocab: V, logits, rows: rows.slice(1) }),
      /2000 logits for 3 rows of 500/,
    );
  });
});
