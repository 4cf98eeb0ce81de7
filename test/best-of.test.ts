// BestOfImage (main-thread/best-of.ts): candidates are judged once all are drawn, the highest score wins (the first
// of equals, never a NaN), the winner is replayed token by token into the image's output, and a failed judgement
// ends the request instead of leaving it hanging.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BestOfImage } from '../src/model/main-thread/best-of.ts';

const K = 2;
const N = 3;
/** Candidate j's grid: every code j * 10 + its position. */
const grid = (j: number) => Int32Array.from({ length: K * N }, (_, p) => j * 10 + p);

function run(scores: number[] | Error) {
  const seen = { codes: [] as number[][], finished: null as Int32Array | null, failed: null as Error | null };
  let judged: Int32Array[] = [];
  const best = new BestOfImage({
    candidates: 3,
    judge: async (grids) => {
      judged = grids;
      if (scores instanceof Error) throw scores;
      return scores;
    },
    output: {
      codes: (index, codes) => {
        seen.codes[index] = codes;
      },
      finish: (g) => {
        seen.finished = Int32Array.from(g);
      },
    },
    codesPerToken: K,
    visualTokens: N,
    fail: (err) => {
      seen.failed = err;
    },
  });
  const outputs = [0, 1, 2].map((j) => best.candidate(j));
  return {
    seen,
    judged: () => judged,
    /** Finish the candidates in this order, then let the judgement settle. */
    async finish(order: number[]) {
      for (const j of order) outputs[j].finish(grid(j));
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe('BestOfImage', () => {
  test('judges once every candidate is drawn, whatever the order, and replays the winner', async () => {
    const r = run([0.1, 0.7, 0.3]);
    await r.finish([2, 0]);
    assert.equal(r.judged().length, 0, 'not judged before the last candidate');
    await r.finish([1]);
    assert.deepEqual(
      r.judged().map((g) => Array.from(g)),
      [0, 1, 2].map((j) => Array.from(grid(j))),
      'candidates in seed order',
    );
    assert.deepEqual(r.seen.finished, grid(1));
    // Token n's codes, codebook-major grid: codes k of token n at k * N + n.
    assert.deepEqual(r.seen.codes, [
      [10, 13],
      [11, 14],
      [12, 15],
    ]);
  });

  test('the first of equal scores wins, and a NaN never does', async () => {
    const tie = run([0.5, 0.5, 0.2]);
    await tie.finish([0, 1, 2]);
    assert.deepEqual(tie.seen.finished, grid(0));
    const nan = run([Number.NaN, 0.1, 0.4]);
    await nan.finish([0, 1, 2]);
    assert.deepEqual(nan.seen.finished, grid(2));
  });

  test('a judgement that fails ends the request with its error', async () => {
    const r = run(new Error('codec gone'));
    await r.finish([0, 1, 2]);
    assert.equal(r.seen.failed?.message, 'codec gone');
    assert.equal(r.seen.finished, null);
  });
});
