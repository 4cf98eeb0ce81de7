// POST /v1/images/generations: JSON and SSE (partial images as OpenAI shapes them), limits and bad input.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import type {
  ImageGenCompletedEvent,
  ImageGenPartialImageEvent,
  ImagesResponse,
} from '../src/server/api-types.generated.ts';
import { PNG_SIGNATURE, pngSize } from './helpers/png.ts';
import { assertError, assertSchema, useServer } from './helpers/server.ts';
import { parseSse } from './helpers/sse.ts';

const isPng = (b64: string) => Buffer.from(b64, 'base64').subarray(0, 8).equals(PNG_SIGNATURE);

describe('image generations', { timeout: 30_000 }, () => {
  const s = useServer();
  const post = (body: object) => request(s.app.server).post('/v1/images/generations').send(body);

  test('returns b64 PNGs with size, format and visual-token usage', async () => {
    const res = await post({ prompt: 'a lighthouse at dusk', n: 2 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assertSchema('ImagesResponse', res.body);
    const body = res.body as ImagesResponse;
    assert.equal(body.data.length, 2);
    assert.ok(body.data.every((d) => isPng(d.b64_json)));
    // The fake encodes the image index in the colour, so the order is checkable.
    assert.notEqual(body.data[0].b64_json, body.data[1].b64_json);
    assert.equal(body.size, '256x256');
    assert.equal(body.output_format, 'png');
    // fake prompt tokens: 4 words + 8 template tokens; output: n * 16 visual tokens
    assert.deepEqual(body.usage, {
      total_tokens: 12 + 32,
      input_tokens: 12,
      output_tokens: 32,
      input_tokens_details: { text_tokens: 12, image_tokens: 0 },
    });
    assert.match(res.headers['x-request-id'], /^img-/);
  });

  test('passes the extensions (guidance_scale, temperature, top_k, top_p, seed) as the client sent them', async () => {
    await post({
      prompt: 'x',
      guidance_scale: 5,
      top_k: 100,
      seed: 42,
      size: '256x256',
      model: 'unitok-fake',
    });
    const req = s.engine.imageRequests.at(-1);
    assert.deepEqual(req?.sampling, { topK: 100, seed: 42, guidanceScale: 5 });
    assert.deepEqual(req?.previewAt, [], 'no previews without streaming');
  });

  test('streams partial_images previews then the completed image as named SSE events', async () => {
    const res = await post({ prompt: 'a cat', stream: true, partial_images: 3 });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    // 16 visual tokens, 3 partials: evenly spaced at 4, 8, 12.
    assert.deepEqual(s.engine.imageRequests.at(-1)?.previewAt, [4, 8, 12]);
    const { events } = parseSse(res.text);
    assert.deepEqual(
      events.map((e) => e.event),
      [
        'image_generation.partial_image',
        'image_generation.partial_image',
        'image_generation.partial_image',
        'image_generation.completed',
      ],
    );
    const payloads = events.map(
      (e) => JSON.parse(e.data) as ImageGenPartialImageEvent | ImageGenCompletedEvent,
    );
    for (const p of payloads) {
      assertSchema('ImageGenStreamEvent', p);
      assert.equal(p.type, events[payloads.indexOf(p)].event, 'event name matches payload type');
      assert.ok(isPng(p.b64_json));
    }
    assert.deepEqual(
      payloads.slice(0, 3).map((p) => (p as ImageGenPartialImageEvent).partial_image_index),
      [0, 1, 2],
    );
    const completed = payloads[3] as ImageGenCompletedEvent;
    assert.equal(completed.usage.output_tokens, 16);
    assert.ok(!res.text.includes('[DONE]'), 'the images stream has no [DONE]');
  });

  test('streams n images told apart by image_index; partial_images 0 sends only completed events', async () => {
    const res = await post({ prompt: 'two dogs', stream: true, n: 2 });
    const payloads = parseSse(res.text).events.map((e) => JSON.parse(e.data) as ImageGenCompletedEvent);
    assert.deepEqual(
      payloads.map((p) => [p.type, p.image_index]),
      [
        ['image_generation.completed', 0],
        ['image_generation.completed', 1],
      ],
    );
    assert.ok(pngSize(Buffer.from(payloads[0].b64_json, 'base64')));
  });

  test('output_format jpeg / webp re-encodes images and previews; output_compression is the encoder quality', async () => {
    const sizes: number[] = [];
    for (const output_compression of [100, 10]) {
      const res = await post({
        prompt: 'x',
        output_format: 'jpeg',
        output_compression,
        quality: 'high',
        background: 'opaque',
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assertSchema('ImagesResponse', res.body);
      const body = res.body as ImagesResponse;
      assert.equal(body.output_format, 'jpeg');
      assert.equal(body.quality, 'auto');
      const jpeg = Buffer.from(body.data[0].b64_json, 'base64');
      assert.equal((await sharp(jpeg).metadata()).format, 'jpeg');
      sizes.push(jpeg.length);
    }
    assert.ok(sizes[1] < sizes[0], `quality 10 (${sizes[1]} B) is smaller than 100 (${sizes[0]} B)`);

    const res = await post({ prompt: 'x', output_format: 'webp', stream: true, partial_images: 1 });
    const events = parseSse(res.text).events.map((e) => JSON.parse(e.data) as ImageGenCompletedEvent);
    assert.deepEqual(
      events.map((e) => [e.type, e.output_format]),
      [
        ['image_generation.partial_image', 'webp'],
        ['image_generation.completed', 'webp'],
      ],
    );
    for (const e of events) {
      assertSchema('ImageGenStreamEvent', e);
      assert.equal((await sharp(Buffer.from(e.b64_json, 'base64')).metadata()).format, 'webp');
    }
    assert.equal(events[1].usage.output_tokens, 16);
  });

  const bad: [string, object, Parameters<typeof assertError>[2]][] = [
    ['missing prompt', {}, { param: 'prompt', code: 'missing_required_parameter' }],
    ['empty prompt', { prompt: '' }, { param: 'prompt' }],
    [
      'response_format url',
      { prompt: 'x', response_format: 'url' },
      { param: 'response_format', code: 'unsupported_response_format', message: /use 'b64_json'/ },
    ],
    [
      'another size',
      { prompt: 'x', size: '1024x1024' },
      { param: 'size', code: 'unsupported_size', message: /256x256 images only/ },
    ],
    ['a malformed size', { prompt: 'x', size: 'big' }, { param: 'size' }],
    ['gif output', { prompt: 'x', output_format: 'gif' }, { param: 'output_format' }],
    [
      'a transparent background',
      { prompt: 'x', background: 'transparent' },
      { param: 'background', code: 'unsupported_background', message: /opaque images only/ },
    ],
    [
      'output_compression with png',
      { prompt: 'x', output_compression: 50 },
      { param: 'output_compression', code: 'unsupported_compression' },
    ],
    [
      'output_compression over 100',
      { prompt: 'x', output_format: 'jpeg', output_compression: 101 },
      { param: 'output_compression' },
    ],
    ['an unknown quality', { prompt: 'x', quality: 'ultra' }, { param: 'quality' }],
    ['n = 11', { prompt: 'x', n: 11 }, { param: 'n', message: /must be <= 10/ }],
    ['partial_images = 4', { prompt: 'x', stream: true, partial_images: 4 }, { param: 'partial_images' }],
    ['guidance_scale below 1', { prompt: 'x', guidance_scale: 0.5 }, { param: 'guidance_scale' }],
    ['top_k negative', { prompt: 'x', top_k: -1 }, { param: 'top_k' }],
    ['a fractional seed', { prompt: 'x', seed: 1.5 }, { param: 'seed', code: 'invalid_type' }],
  ];
  for (const [name, body, expected] of bad) {
    test(`${name} -> 400`, async () => {
      assertError(await post(body), 400, expected);
    });
  }

  test('an unknown model -> 404', async () => {
    assertError(await post({ prompt: 'x', model: 'dall-e-3' }), 404, {
      code: 'model_not_found',
      param: 'model',
    });
  });
});

describe('image generations: engine failure mid-stream', { timeout: 30_000 }, () => {
  const s = useServer({ engine: { failAfterTokens: 5 } });

  test('is sent as event: error with the envelope', async () => {
    const res = await request(s.app.server)
      .post('/v1/images/generations')
      .send({ prompt: 'x', stream: true, partial_images: 3 });
    const { events } = parseSse(res.text);
    assert.deepEqual(
      events.map((e) => e.event),
      ['image_generation.partial_image', 'error'],
    );
    const error = JSON.parse(events[1].data);
    assertSchema('ErrorResponse', error);
    assert.equal(error.error.type, 'server_error');
  });
});
