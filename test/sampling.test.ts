// The sampling steps against the Python reference (fixtures 'reference_loop/sampler': mulberry32 streams and
// tokens drawn from fixed logits by unitok/reference_loop.py) and against their definitions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Mulberry32, type SamplingSpec, skipDraws } from '../src/model/protocol/rng.ts';
import {
  argmax,
  cfg,
  draw,
  NEGLIGIBLE_GAP,
  rank,
  sample,
  scale,
  topK,
  topP,
  weigh,
} from '../src/model/worker-thread/sampling.ts';
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
  test('rank orders by value descending, ties by lower index, leaving out only negligible tokens', () => {
    const g = new Mulberry32(1);
    for (const n of [1, 2, 7, 300, 5000]) {
      // Few distinct values so ties are common; signs, zeros of both signs and far-apart magnitudes mixed in.
      const pool = [0, -0, 1.5, -1.5, 3e-300, -3e-300, 2, -7.25, 0.1, -45, -39.5, 1e9, -1e9];
      const z = Float64Array.from(
        { length: n },
        () => pool[g.nextUint32() % pool.length] * (g.uniform() < 0.5 ? 1 : 3),
      );
      const max = Math.max(...z);
      const want = Array.from({ length: n }, (_, i) => i)
        .filter((i) => z[i] >= max - NEGLIGIBLE_GAP)
        .sort((a, b) => (z[b] > z[a] ? 1 : z[b] < z[a] ? -1 : a - b));
      assert.deepEqual(Array.from(rank(z).ids), want, `n=${n}`);
    }
  });

  test('rank with k ranks exactly the k first of the full ranking', () => {
    const g = new Mulberry32(5);
    for (const n of [1, 9, 300, 5000]) {
      const pool = [0, -0, 1.5, -1.5, 2, -7.25, 0.1, 3e-300];
      const z = Float64Array.from({ length: n }, () => pool[g.nextUint32() % pool.length]);
      const full = Array.from(rank(z).ids);
      for (const k of [1, 2, 3, 40, n - 1, n, n + 5]) {
        if (k < 1) continue;
        const c = rank(z, k);
        assert.deepEqual(Array.from(c.ids.subarray(0, c.n)), full.slice(0, k), `n=${n} k=${k}`);
      }
    }
    const nan = Float64Array.of(1, Number.NaN, 3, 3, 2);
    assert.deepEqual(Array.from(rank(nan, 2).ids.subarray(0, 2)), Array.from(rank(nan).ids.subarray(0, 2)));
  });

  test('sample() equals a literal implementation of the spec (full sort, every token kept)', () => {
    const g = new Mulberry32(11);
    const specs: SamplingSpec[] = [
      { temperature: 1, topK: 0, topP: 1 },
      { temperature: 0.7, topK: 0, topP: 0.9 },
      { temperature: 1.5, topK: 50, topP: 0.95 },
      { temperature: 0.3, topK: 3000, topP: 1 },
    ];
    for (let trial = 0; trial < 40; trial++) {
      // Wide logit ranges, so that many tokens fall below the negligible gap after scaling.
      const spread = [5, 60, 400][trial % 3];
      const logits = Float32Array.from({ length: 4096 }, () => (g.uniform() - 0.5) * spread);
      for (const spec of specs) {
        const [a, b] = [new Mulberry32(trial), new Mulberry32(trial)];
        for (let i = 0; i < 5; i++)
          assert.equal(
            sample(logits, spec, a),
            literalSample(logits, spec, b),
            `${trial} ${JSON.stringify(spec)}`,
          );
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

  test('topK keeps the k best; topP keeps tokens until the mass before them passes the limit', () => {
    // Weights 4:2:1:1 (z = log w): the mass before each token is 0, 4, 6, 7 of a total 8.
    const z = Float64Array.from([1, 2, 4, 1].map(Math.log));
    const ranked = () => weigh(rank(z));
    assert.deepEqual(Array.from(topK(ranked(), 2).ids.subarray(0, 2)), [2, 1]);
    assert.equal(topK(ranked(), 2).n, 2);
    assert.equal(topP(ranked(), 0.5).n, 2); // 4 <= 4 stays, 6 > 4 goes
    assert.equal(topP(ranked(), 0.49).n, 1);
    assert.equal(topP(ranked(), 0.75).n, 3); // 6 <= 6
    assert.equal(topP(ranked(), 1).n, 4);
  });

  test('draw picks the token whose interval holds u * total', () => {
    const z = Float64Array.from([Math.log(3), Math.log(1)]); // intervals [0, 3) and [3, 4) of 4
    const seen = new Map<number, number>();
    const rng = new Mulberry32(5);
    for (let i = 0; i < 4000; i++) {
      const t = draw(weigh(rank(z)), rng);
      seen.set(t, (seen.get(t) ?? 0) + 1);
    }
    assert.ok(Math.abs((seen.get(0) ?? 0) / 4000 - 0.75) < 0.03, `token 0 drawn ${seen.get(0)} / 4000`);
  });

  test('temperature scales logits, and greedy consumes no draw', () => {
    assert.deepEqual(Array.from(scale([2, -4], 2)), [1, -2]);
    const rng = new Mulberry32(3);
    sample([0, 1, 0], { temperature: 0, topK: 0, topP: 1 }, rng);
    assert.equal(rng.state, 3);
    sample([0, 1, 0], { temperature: 1, topK: 0, topP: 1 }, rng);
    assert.notEqual(rng.state, 3);
  });
});

/** unitok/reference_loop.py `sample_with_margin`, transcribed step by step with no shortcut. */
function literalSample(logits: Float32Array, spec: SamplingSpec, rng: Mulberry32): number {
  const z = Array.from(logits, (v) => v / spec.temperature);
  let order = z.map((_, i) => i).sort((a, b) => (z[b] > z[a] ? 1 : z[b] < z[a] ? -1 : a - b));
  if (spec.topK > 0) order = order.slice(0, spec.topK);
  let p = order.map((i) => Math.exp(z[i] - z[order[0]]));
  const seqSum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
  if (spec.topP < 1) {
    const limit = spec.topP * seqSum(p);
    let before = 0;
    const keep = p.map((pi, i) => {
      const k = i === 0 || before <= limit;
      before += pi;
      return k;
    });
    order = order.filter((_, i) => keep[i]);
    p = p.filter((_, i) => keep[i]);
  }
  const target = rng.uniform() * seqSum(p);
  let running = 0;
  for (let i = 0; i < order.length; i++) {
    if (running + p[i] > target) return order[i];
    running += p[i];
  }
  return order[order.length - 1];
}
