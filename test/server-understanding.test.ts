// POST /v1/embeddings, /v1/zero-shot-image-classification, /v1/images/tokenize and /detokenize against the fake
// engine: request and response shapes (openapi.yaml), what reaches the engine, and every bad input's envelope.
// The real engine and model are tested in understanding-engine.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import request from 'supertest';
import type {
  CreateEmbeddingResponse,
  ImageTokenizeResponse,
  ListModelsResponse,
  ZeroShotImageClassificationResponse,
} from '../src/server/api-types.generated.ts';
import { dataUrl, PNG_SIGNATURE, solidPng } from './helpers/png.ts';
import { assertError, assertSchema, useServer } from './helpers/server.ts';

const png = dataUrl(solidPng(4, 4));
const imagePart = (url = png) => ({ type: 'image_url', image_url: { url } });

describe('POST /v1/embeddings', { timeout: 30_000 }, () => {
  const s = useServer({ config: { images: { maxPerRequest: 2 } } });
  const post = (body: object) => request(s.app.server).post('/v1/embeddings').send(body);

  test('/v1/models describes the embeddings', async () => {
    const res = await request(s.app.server).get('/v1/models');
    assert.deepEqual((res.body as ListModelsResponse).data[0].embeddings, {
      dimensions: 8,
      text_tokenizer: 'clip-bpe',
      text_context_length: 16,
      zero_shot_template: 'a photo of a {}.',
    });
  });

  test('one string: one unit vector, usage, OpenAI envelope', async () => {
    const res = await post({ input: 'a photo of a cat.', model: 'unitok-fake' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assertSchema('CreateEmbeddingResponse', res.body);
    const body = res.body as CreateEmbeddingResponse;
    assert.equal(body.object, 'list');
    assert.equal(body.model, 'unitok-fake');
    assert.equal(body.data.length, 1);
    const v = body.data[0].embedding as number[];
    assert.equal(v.length, 8);
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-6);
    assert.deepEqual(body.usage, { prompt_tokens: 7, total_tokens: 7 }, 'fake: 5 words + start + end');
  });

  test('texts and image parts keep their order; base64 is the float32 bytes', async () => {
    const input = ['first text', imagePart(), 'third'];
    const floats = (await post({ input })).body as CreateEmbeddingResponse;
    const b64 = (await post({ input, encoding_format: 'base64' })).body as CreateEmbeddingResponse;
    assert.deepEqual(
      floats.data.map((d) => d.index),
      [0, 1, 2],
    );
    const req = s.engine.understanding.embedRequests.at(-1);
    assert.deepEqual(
      req?.inputs.map((i) => i.type),
      ['text', 'image', 'text'],
    );
    assert.equal(floats.usage.prompt_tokens, 4 + 4 + 3);
    for (let i = 0; i < 3; i++) {
      const bytes = Buffer.from(b64.data[i].embedding as string, 'base64');
      const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
      assert.deepEqual(decoded, floats.data[i].embedding);
    }
  });

  test('bad inputs answer 400 naming the field', async () => {
    assertError(await post({}), 400, { param: 'input' });
    assertError(await post({ input: [] }), 400, { param: 'input' });
    assertError(await post({ input: [1, 2, 3] }), 400, { param: 'input[0]' });
    assertError(await post({ input: 'x', encoding_format: 'int8' }), 400, { param: 'encoding_format' });
    assertError(await post({ input: 'x', dimensions: 3 }), 400, {
      param: 'dimensions',
      code: 'unsupported_dimensions',
    });
    assertError(await post({ input: ['x', imagePart('data:text/plain;base64,AAAA')] }), 400, {
      param: 'input[1].image_url.url',
      code: 'invalid_image_url',
    });
    assertError(await post({ input: ['x', imagePart(dataUrl(Buffer.from('not a png')))] }), 400, {
      param: 'input[1]',
      code: 'invalid_image',
    });
    assertError(await post({ input: [imagePart(), imagePart(), imagePart()] }), 400, {
      param: 'input',
      code: 'too_many_images',
    });
    assertError(await post({ input: 'x', model: 'gpt-4' }), 404, { param: 'model' });
    assertError(await post({ input: 'word '.repeat(20) }), 400, {
      param: 'input[0]',
      code: 'context_length_exceeded',
    });
  });
});

describe('a model without a CLIP text tokenizer', () => {
  const s = useServer({ engine: { understanding: { textTokenizer: null } } });

  test('/v1/models says so', async () => {
    const res = await request(s.app.server).get('/v1/models');
    assertSchema('ListModelsResponse', res.body);
    assert.equal((res.body as ListModelsResponse).data[0].embeddings?.text_tokenizer, null);
  });

  test('refuses text inputs by name and still embeds images', async () => {
    const res = await request(s.app.server)
      .post('/v1/embeddings')
      .send({ input: [imagePart(), 'a cat'] });
    assertError(res, 400, {
      param: 'input[1]',
      code: 'text_input_unsupported',
      message: /no CLIP text tokenizer/,
    });
    const ok = await request(s.app.server)
      .post('/v1/embeddings')
      .send({ input: [imagePart()] });
    assert.equal(ok.status, 200);
  });
});

describe('POST /v1/zero-shot-image-classification', () => {
  const s = useServer();
  const post = (body: object) => request(s.app.server).post('/v1/zero-shot-image-classification').send(body);

  test('every label with its score, highest first; the template reaches the engine', async () => {
    const res = await post({
      image: png,
      candidate_labels: ['cat', 'elephant', 'ox'],
      hypothesis_template: 'a {}',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assertSchema('ZeroShotImageClassificationResponse', res.body);
    const body = res.body as ZeroShotImageClassificationResponse;
    assert.deepEqual(
      body.data.map((d) => d.label),
      ['elephant', 'cat', 'ox'],
    );
    assert.ok(Math.abs(body.data.reduce((a, d) => a + d.score, 0) - 1) < 1e-9);
    assert.equal(s.engine.understanding.zeroShotRequests.at(-1)?.template, 'a {}');
    await post({ image: png, candidate_labels: ['cat'] });
    assert.equal(
      s.engine.understanding.zeroShotRequests.at(-1)?.template,
      null,
      'default: the model decides',
    );
  });

  test('bad inputs answer 400 naming the field', async () => {
    assertError(await post({ image: png }), 400, { param: 'candidate_labels' });
    assertError(await post({ image: png, candidate_labels: [] }), 400, { param: 'candidate_labels' });
    assertError(await post({ image: png, candidate_labels: ['a', ''] }), 400, {
      param: 'candidate_labels[1]',
    });
    assertError(await post({ candidate_labels: ['a'] }), 400, { param: 'image' });
    assertError(await post({ image: 'ftp://x/y.png', candidate_labels: ['a'] }), 400, { param: 'image' });
    assertError(await post({ image: png, candidate_labels: ['a'], hypothesis_template: 'no slot' }), 400, {
      param: 'hypothesis_template',
    });
  });
});

describe('POST /v1/images/tokenize and /detokenize', () => {
  const s = useServer();
  const tokenize = (body: object) => request(s.app.server).post('/v1/images/tokenize').send(body);
  const detokenize = (body: object) => request(s.app.server).post('/v1/images/detokenize').send(body);

  test('codes [K][N] with their layout, and back to a PNG', async () => {
    const res = await tokenize({ image: png });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assertSchema('ImageTokenizeResponse', res.body);
    const body = res.body as ImageTokenizeResponse;
    assert.deepEqual(body.shape, [2, 4]);
    assert.deepEqual(body.grid, [2, 2]);
    assert.equal(body.codebook_size, 64);
    assert.equal(body.size, '256x256');
    const back = await detokenize({ codes: body.codes });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assertSchema('ImageDetokenizeResponse', back.body);
    assert.ok(Buffer.from(back.body.b64_json, 'base64').subarray(0, 8).equals(PNG_SIGNATURE));
  });

  test('wrong shapes and out-of-range codes answer 400 naming the place', async () => {
    const good = [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ];
    assertError(await detokenize({}), 400, { param: 'codes' });
    assertError(await detokenize({ codes: [good[0]] }), 400, { param: 'codes', code: 'invalid_codes_shape' });
    assertError(await detokenize({ codes: [good[0], [1, 2, 3]] }), 400, {
      param: 'codes[1]',
      code: 'invalid_codes_shape',
    });
    assertError(await detokenize({ codes: [good[0], [1, 2, 64, 4]] }), 400, {
      param: 'codes[1][2]',
      code: 'invalid_code',
    });
    assertError(await detokenize({ codes: [good[0], [1, 2, -1, 4]] }), 400, { param: 'codes[1][2]' });
    assertError(await detokenize({ codes: [good[0], [1, 2, 1.5, 4]] }), 400, { param: 'codes[1][2]' });
    assertError(await tokenize({ image: 'data:image/png;base64,@@' }), 400, { param: 'image' });
  });
});
