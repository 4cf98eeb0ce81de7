// The sampling steps against the Python reference (fixtures 'reference_loop/sampler': mulberry32 streams and
// tokens drawn from fixed logits by unitok/reference_loop.py) and against their definitions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Mulberry32, type SamplingSpec, skipDraws } from '../src/model/protocol/rng.ts';
import { sampleRows } from '../src/model/worker-thread/sampler.ts';
import {
  argmax,
  type Candidates,
  cfg,
  draw,
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
  /** The candidates' ids in ranked order (z descending, lower id on ties), by a plain comparator sort. */
  const ranked = (c: Candidates) =>
    Array.from({ length: c.n }, (_, i) => i)
      .sort((a, b) => (c.z[b] > c.z[a] ? 1 : c.z[b] < c.z[a] ? -1 : c.ids[a] - c.ids[b]))
      .map((i) => c.ids[i]);

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
    assert.equal(weightUnit(32000), 2 ** 37);
    assert.equal(weightUnit(4096), 2 ** 40);
    assert.equal(weightUnit(4097), 2 ** 39);
  });

  test('weigh keeps the tokens that weigh something, the best one at 2^S, NaNs left out', () => {
    const logits = Float32Array.of(1, 3, 3, -100, 2, Number.NaN, -1e30);
    const c = weigh(logits, 0.5);
    const unit = weightUnit(7);
    const got = new Map(Array.from({ length: c.n }, (_, i) => [c.ids[i], c.w[i]]));
    assert.deepEqual([...got.keys()], [0, 1, 2, 4]);
    assert.equal(got.get(1), unit);
    assert.equal(got.get(2), unit);
    assert.ok(Math.abs((got.get(0) ?? 0) / unit / Math.exp(-4) - 1) < 1.1e-5); // the gap's quantum: 2^-16 octave
    assert.equal(
      total(c),
      [...got.values()].reduce((a, b) => a + b),
    );
    const allNaN = weigh(Float32Array.of(Number.NaN, Number.NaN), 1);
    assert.deepEqual([allNaN.n, allNaN.ids[0]], [1, 0]);
  });

  test('locate finds the token where the ranked running weight crosses x', () => {
    const g = new Mulberry32(1);
    for (const n of [1, 2, 7, 17, 300, 5000]) {
      // Few distinct logits so that ties are common; zeros of both signs mixed in.
      const pool = [0, -0, 1.5, -1.5, 2, -7.25, 0.1, -20, 3e-30];
      const logits = Float64Array.from({ length: n }, () => pool[g.nextUint32() % pool.length]);
      const c = weigh(logits, 1);
      const order = ranked(c);
      const weightOf = new Map(Array.from({ length: c.n }, (_, i) => [c.ids[i], c.w[i]]));
      const all = total(c);
      for (const x of [0, 0.5, all / 3, all / 2 + 0.25, all - 1, all - 0.5]) {
        if (x >= all) continue;
        const at = locate(c, x);
        let before = 0;
        let r = 0;
        while (before + (weightOf.get(order[r]) ?? 0) <= x) before += weightOf.get(order[r++]) ?? 0;
        assert.equal(c.ids[at], order[r], `n=${n} x=${x}`);
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
        const c = weigh(logits, 1, k);
        assert.equal(c.n, Math.min(k, n));
        assert.deepEqual(new Set(c.ids.subarray(0, c.n)), new Set(full.slice(0, k)), `n=${n} k=${k}`);
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
    const w = new Map(Array.from({ length: c.n }, (_, i) => [c.ids[i], c.w[i]]));
    const [w0, w1, w2, w3] = [0, 1, 2, 3].map((id) => w.get(id) ?? 0);
    const all = w0 + w1 + w2 + w3;
    const kept = (p: number) => topP(weigh(logits, 1), p).n;
    assert.equal(kept(w2 / all), 2); // the limit equals the weight before token 1: it stays
    assert.equal(kept(w2 / all - 1e-6), 1);
    assert.equal(kept((w2 + w1) / all), 3);
    assert.equal(kept(0.99), 4);
    assert.equal(kept(1), 4);
    const nucleus = topP(weigh(logits, 1), w2 / all);
    assert.deepEqual(new Set(nucleus.ids.subarray(0, nucleus.n)), new Set([2, 1]));
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

describe('sampleRows (what the sampler thread runs)', () => {
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
