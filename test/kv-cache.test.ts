// The KV buffers' layout grows with the positions in use (steps of 16, or an eighth of the layout), keeping what
// each (slot, head) stored.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { readBundle } from '../src/model/bundle.ts';
import { KvCache } from '../src/model/worker-thread/kv-cache.ts';

test('reserve re-lays out every (slot, head) block in place, zero past what was stored; bind follows', async () => {
  const session = await ort.InferenceSession.create(readBundle('models/tiny').graphs.llm);
  const rows = 3;
  const kv = new KvCache(session, rows, 512);
  assert.equal(kv.length, KvCache.GRANULE);
  const feeds: Record<string, ort.Tensor> = {};
  const fetches = kv.bind(0, rows, feeds);
  assert.deepEqual(
    Object.keys(fetches),
    Object.keys(feeds).map((n) => n.replace('past_key_values.', 'new_key_values.')),
  );
  const name = Object.keys(feeds)[0];
  const [, heads, active, headDim] = feeds[name].dims;
  assert.equal(active, 16);
  // Mark every stored value with (row, head, position, dim).
  const mark = (r: number, h: number, p: number, d: number) => 1 + r * 1e6 + h * 1e4 + p * 10 + d;
  const old = feeds[name].data as Float32Array;
  for (let r = 0; r < rows; r++)
    for (let h = 0; h < heads; h++)
      for (let p = 0; p < active; p++)
        for (let d = 0; d < headDim; d++)
          old[((r * heads + h) * active + p) * headDim + d] = mark(r, h, p, d);
  kv.reserve(17);
  assert.equal(kv.length, 32, 'the next multiple of 16');
  const after: Record<string, ort.Tensor> = {};
  kv.bind(1, rows, after);
  assert.deepEqual(after[name].dims, [rows - 1, heads, 32, headDim]);
  const got = after[name].data as Float32Array;
  for (let r = 1; r < rows; r++)
    for (let h = 0; h < heads; h++)
      for (let p = 0; p < 32; p++)
        for (let d = 0; d < headDim; d++) {
          const want = p < 16 ? mark(r, h, p, d) : 0;
          assert.equal(
            got[(((r - 1) * heads + h) * 32 + p) * headDim + d],
            want,
            `row ${r} head ${h} pos ${p}`,
          );
        }
  kv.reserve(30);
  assert.equal(kv.length, 32, 'no change when it fits');
  kv.reserve(200);
  assert.equal(kv.length, 208, 'steps of 16 while the layout is short');
  kv.reserve(209);
  assert.equal(kv.length, 224, 'an eighth of 128 is 16 too');
  kv.reserve(300);
  assert.equal(kv.length, 304, 'the step follows the layout before growing (224: 16)');
  kv.reserve(305);
  assert.equal(kv.length, 320, 'steps of 32 (an eighth of 256) once the layout is 256 or longer');
  kv.reserve(500);
  assert.equal(kv.length, 512, 'never past the capacity');
  assert.throws(() => kv.reserve(513), /capacity 512/);
  await session.release();
});

test("append writes each row's new positions after its past, nothing for holes or right padding", async () => {
  const session = await ort.InferenceSession.create(readBundle('models/tiny').graphs.llm);
  const kv = new KvCache(session, 4, 64);
  const feeds: Record<string, ort.Tensor> = {};
  const fetches = kv.bind(0, 4, feeds);
  const [, heads, active, headDim] = Object.values(feeds)[0].dims;
  const S = 3;
  // A run over slots 1..3 (B = 3, S = 3): row 0 a 3-token prompt, row 1 a hole, row 2 one token (2 of padding).
  const outputs: Record<string, ort.Tensor> = {};
  for (const name of Object.keys(fetches)) {
    const data = new Float32Array(3 * heads * S * headDim);
    data.forEach((_, i) => {
      data[i] = 1 + i; // (row, head, position, dim) row-major
    });
    outputs[name] = new ort.Tensor('float32', data, [3, heads, S, headDim]);
  }
  const rows = [
    { past: 0, count: 3 },
    { past: 0, count: 0 },
    { past: 5, count: 1 },
  ];
  kv.append(1, outputs, rows);
  for (const [feed, t] of Object.entries(feeds)) {
    const got = t.data as Float32Array;
    const want = (r: number, h: number, s: number, d: number) => 1 + ((r * heads + h) * S + s) * headDim + d;
    const at = (slot: number, h: number, p: number, d: number) =>
      got[((slot * heads + h) * active + p) * headDim + d];
    for (let h = 0; h < heads; h++)
      for (let p = 0; p < active; p++)
        for (let d = 0; d < headDim; d++) {
          assert.equal(at(0, h, p, d), 0, `${feed}: slot 0 is outside the run`);
          assert.equal(
            at(1, h, p, d),
            p < 3 ? want(0, h, p, d) : 0,
            `${feed}: slot 1 head ${h} position ${p}`,
          );
          assert.equal(at(2, h, p, d), 0, `${feed}: slot 2 is a hole`);
          assert.equal(at(3, h, p, d), p === 5 ? want(2, h, 0, d) : 0, `${feed}: slot 3 position ${p}`);
        }
  }
  assert.throws(() => kv.append(0, outputs, [{ past: active - 1, count: 2 }]), /do not fit/);
  await session.release();
});
