// Parity across the language boundary: the exported tokenizer graphs, run by onnxruntime-node, against the
// PyTorch outputs of the released math (written by `python3 -m unitok fixtures`).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { type Codes, UniTokTokenizer } from '../src/tokenizer/unitok.ts';
import { fixturesDir, type LoadedTensor, loadTensors, maxAbsDiff } from './helpers/tensors.ts';

const TOL = 1e-4;

function asCodes(t: LoadedTensor): Codes {
  const [batch, numCodebooks, numTokens] = t.shape;
  return { data: Int32Array.from(t.data as BigInt64Array, Number), batch, numCodebooks, numTokens };
}

describe('tokenizer graphs match PyTorch (fp32)', () => {
  let tok: UniTokTokenizer;
  let t: Record<string, LoadedTensor>;
  before(async () => {
    tok = await UniTokTokenizer.load(fixturesDir('tokenizer', 'graphs'));
    t = loadTensors(fixturesDir('tokenizer', 'tensors')).tensors;
  });
  after(() => tok.release());

  test('encode: codes identical', async () => {
    const batch = t.pixels.shape[0];
    const codes = await tok.encodePixels(t.pixels.data as Float32Array, batch);
    const expected = asCodes(t.codes);
    assert.deepEqual([codes.batch, codes.numCodebooks, codes.numTokens], t.codes.shape);
    const mismatches = codes.data.reduce((n, c, i) => n + (c === expected.data[i] ? 0 : 1), 0);
    const margins = t.code_margins.data as Float32Array;
    console.log(
      `encode: ${codes.data.length} codes, ${mismatches} mismatches, smallest top-2 cosine gap ${Math.min(...margins).toExponential(2)}`,
    );
    assert.equal(mismatches, 0);
    assert.ok(new Set(codes.data).size > 1, 'codes should not be constant');
  });

  for (const [name, codesKey, pixelsKey] of [
    ['decode (encoded codes)', 'codes', 'decoded'],
    ['decode (random codes)', 'random_codes', 'random_decoded'],
  ] as const) {
    test(`${name}: pixels within ${TOL}`, async () => {
      const pixels = await tok.decode(asCodes(t[codesKey]));
      const err = maxAbsDiff(pixels, t[pixelsKey].data as Float32Array);
      console.log(`${name}: max abs error ${err.toExponential(2)}`);
      assert.ok(err <= TOL, `max abs error ${err}`);
    });
  }

  test(`clip image embedding within ${TOL}`, async () => {
    const emb = await tok.imageEmbeddings(asCodes(t.codes));
    const err = maxAbsDiff(emb, t.image_embeds.data as Float32Array);
    console.log(`clip_image: max abs error ${err.toExponential(2)}`);
    assert.ok(err <= TOL, `max abs error ${err}`);
  });

  test(`clip text embedding within ${TOL}`, async () => {
    const emb = await tok.textEmbeddings(t.text_ids.data as BigInt64Array, t.text_ids.shape[0]);
    const err = maxAbsDiff(emb, t.text_embeds.data as Float32Array);
    console.log(`clip_text: max abs error ${err.toExponential(2)}`);
    assert.ok(err <= TOL, `max abs error ${err}`);
  });

  test('codes outside the codebook are refused before reaching the graph', async () => {
    const codes = asCodes(t.codes);
    codes.data[5] = tok.config.codebook_size;
    await assert.rejects(tok.decode(codes), /outside 0\.\.\d+/);
    await assert.rejects(tok.decode({ ...asCodes(t.codes), numTokens: 3 }), /codes must be/);
  });
});
