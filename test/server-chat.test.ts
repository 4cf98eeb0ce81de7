// POST /v1/chat/completions against the fake engine: responses, streaming, image inputs, image replies, and
// every way a request can be wrong (each must be a 4xx envelope naming the field, and the server keeps serving).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type {
  CreateChatCompletionResponse,
  CreateChatCompletionStreamResponse,
} from '../src/server/api-types.generated.ts';
import { dataUrl, pngHeader, solidPng } from './helpers/png.ts';
import { assertError, assertSchema, startServer, useServer } from './helpers/server.ts';
import { sseJson } from './helpers/sse.ts';

const MODEL = 'unitok-fake';
const user = (content: unknown) => ({ role: 'user', content });
const imagePart = (url: string) => ({ type: 'image_url', image_url: { url } });

describe('chat completions', { timeout: 30_000 }, () => {
  const s = useServer({ config: { images: { maxPerRequest: 2, maxBytes: 4096, maxPixels: 512 * 512 } } });
  const post = (body: unknown) =>
    request(s.app.server)
      .post('/v1/chat/completions')
      .send(body as object);

  test('answers a text chat with the OpenAI response shape and usage', async () => {
    const res = await post({
      model: MODEL,
      messages: [{ role: 'system', content: 'be brief' }, user('hello there')],
    });
    assert.equal(res.status, 200);
    assertSchema('CreateChatCompletionResponse', res.body);
    const body = res.body as CreateChatCompletionResponse;
    assert.equal(body.id, res.headers['x-request-id']);
    assert.equal(body.model, MODEL);
    assert.deepEqual(body.choices[0].message, {
      role: 'assistant',
      content: 'You said: hello there',
      refusal: null,
    });
    assert.equal(body.choices[0].finish_reason, 'stop');
    // fake: 1 per message + words = (1 + 2) + (1 + 2)
    assert.deepEqual(body.usage, {
      prompt_tokens: 6,
      completion_tokens: 4,
      total_tokens: 10,
      prompt_tokens_details: { text_tokens: 6, image_tokens: 0 },
      completion_tokens_details: { text_tokens: 4, image_tokens: 0 },
    });
  });

  test('passes sampling as the client sent it (the engine fills the model defaults), stop, max tokens and n', async () => {
    const res = await post({
      model: MODEL,
      messages: [user('one two three four')],
      temperature: 0.5,
      top_k: 40,
      seed: 7,
      stop: 'three',
      max_tokens: 9,
      n: 2,
    });
    assert.equal(res.status, 200);
    const req = s.engine.chatRequests.at(-1);
    assert.ok(req);
    assert.deepEqual(req.sampling, { temperature: 0.5, topK: 40, seed: 7 });
    assert.deepEqual(req.stop, ['three']);
    assert.equal(req.maxTokens, 9);
    assert.equal(req.n, 2);
    assert.equal(req.messages[0].role, 'user');
    const body = res.body as CreateChatCompletionResponse;
    assert.deepEqual(
      body.choices.map((c) => [c.index, c.message.content]),
      [
        [0, 'You said: one two '],
        [1, 'You said: one two '],
      ],
    );
    assert.equal(body.usage.completion_tokens, 10, '5 tokens per choice');
  });

  test('max_completion_tokens wins over max_tokens and reports finish_reason length', async () => {
    const res = await post({
      model: MODEL,
      messages: [user('a b c d e f')],
      max_tokens: 20,
      max_completion_tokens: 3,
    });
    assert.equal(s.engine.chatRequests.at(-1)?.maxTokens, 3);
    const body = res.body as CreateChatCompletionResponse;
    assert.equal(body.choices[0].message.content, 'You said: a');
    assert.equal(body.choices[0].finish_reason, 'length');
  });

  test('streams chunks, a usage chunk with include_usage, then [DONE]', async () => {
    const res = await post({
      model: MODEL,
      messages: [user('stream me')],
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    const chunks = sseJson(res.text, { done: true }) as CreateChatCompletionStreamResponse[];
    for (const chunk of chunks) assertSchema('CreateChatCompletionStreamResponse', chunk);
    assert.ok(chunks.every((c) => c.id === res.headers['x-request-id'] && c.created === chunks[0].created));
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    const text = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
    assert.equal(text, 'You said: stream me');
    const finish = chunks.at(-2);
    assert.deepEqual(finish?.choices[0], { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' });
    const usageChunk = chunks.at(-1);
    assert.deepEqual(usageChunk?.choices, []);
    assert.equal(usageChunk?.usage?.completion_tokens, 4);
    assert.ok(
      chunks.slice(0, -1).every((c) => c.usage === null),
      'other chunks carry usage: null',
    );
  });

  test('streams without usage fields unless asked', async () => {
    const res = await post({ model: MODEL, messages: [user('x')], stream: true });
    const chunks = sseJson(res.text, { done: true }) as CreateChatCompletionStreamResponse[];
    assert.ok(chunks.every((c) => !('usage' in c) && c.choices.length === 1));
  });

  test('streams n choices told apart by index', async () => {
    const res = await post({ model: MODEL, messages: [user('hi')], stream: true, n: 2 });
    const chunks = sseJson(res.text, { done: true }) as CreateChatCompletionStreamResponse[];
    for (const index of [0, 1]) {
      const mine = chunks.flatMap((c) => c.choices).filter((ch) => ch.index === index);
      assert.equal(mine.map((ch) => ch.delta.content ?? '').join(''), 'You said: hi');
      assert.equal(mine.at(-1)?.finish_reason, 'stop');
    }
  });

  test('decodes data: URL images and sends their bytes to the engine (VQA)', async () => {
    const png = solidPng(8, 8);
    const res = await post({
      model: MODEL,
      messages: [user([{ type: 'text', text: 'what is this' }, imagePart(dataUrl(png))])],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const part = s.engine.chatRequests.at(-1)?.messages[0].content[1];
    assert.equal(part?.type, 'image');
    assert.ok(part?.type === 'image' && part.data.equals(png));
    const body = res.body as CreateChatCompletionResponse;
    assert.equal(body.usage.prompt_tokens_details?.image_tokens, 16);
    assert.equal(body.choices[0].message.content, 'You said: what is this [image]');
  });

  test('answers with a generated image for modalities ["text","image"]', async () => {
    const res = await post({
      model: MODEL,
      messages: [user('a red fox')],
      modalities: ['text', 'image'],
      guidance_scale: 3,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assertSchema('CreateChatCompletionResponse', res.body);
    const req = s.engine.imageRequests.at(-1);
    assert.equal(req?.prompt, 'a red fox');
    assert.equal(req?.sampling.guidanceScale, 3);
    const body = res.body as CreateChatCompletionResponse;
    const content = body.choices[0].message.content;
    assert.ok(Array.isArray(content));
    assert.equal(content[0].type, 'image_url');
    assert.match(content[0].image_url.url, /^data:image\/png;base64,iVBORw0KGgo/);
    assert.deepEqual(body.usage.completion_tokens_details, { text_tokens: 0, image_tokens: 16 });
  });

  test('streams an image reply as one image_url content delta per choice', async () => {
    const res = await post({
      model: MODEL,
      messages: [user('a blue bird')],
      modalities: ['image'],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = sseJson(res.text, { done: true }) as CreateChatCompletionStreamResponse[];
    for (const chunk of chunks) assertSchema('CreateChatCompletionStreamResponse', chunk);
    const imageDeltas = chunks.flatMap((c) => c.choices).filter((ch) => Array.isArray(ch.delta.content));
    assert.equal(imageDeltas.length, 1);
    assert.equal(chunks.at(-1)?.usage?.completion_tokens, 16);
  });

  test('rejects image replies from image inputs, naming modalities', async () => {
    const res = await post({
      model: MODEL,
      messages: [user([{ type: 'text', text: 'edit' }, imagePart(dataUrl(solidPng(2, 2)))])],
      modalities: ['text', 'image'],
    });
    assertError(res, 400, { param: 'modalities', code: 'unsupported_modalities' });
  });

  test('uses and echoes a client-chosen x-request-id; a duplicate in flight is 409', async () => {
    const res = await post({ model: MODEL, messages: [user('hi')] }).set('x-request-id', 'my-id.1');
    assert.equal(res.headers['x-request-id'], 'my-id.1');
    assert.equal((res.body as CreateChatCompletionResponse).id, 'my-id.1');
    const bad = await post({ model: MODEL, messages: [user('hi')] }).set('x-request-id', 'no spaces allowed');
    assertError(bad, 400, { param: 'x-request-id' });
  });
});

describe('chat completions: bad requests', { timeout: 30_000 }, () => {
  // A local image host for the allow-list tests (loopback only).
  const remote: Server = createServer((req, res) => {
    if (req.url === '/cat.png') return res.end(solidPng(4, 4));
    if (req.url === '/slow.png') return; // never answers
    if (req.url === '/redirect.png') return res.writeHead(302, { location: '/cat.png' }).end();
    res.writeHead(404).end();
  });
  let remoteUrl = '';
  before(async () => {
    await new Promise<void>((r) => remote.listen(0, '127.0.0.1', r));
    remoteUrl = `http://127.0.0.1:${(remote.address() as { port: number }).port}`;
  });
  after(() => {
    remote.closeAllConnections();
    remote.close();
  });
  const s = useServer({
    config: {
      bodyLimitBytes: 64 * 1024,
      images: {
        maxPerRequest: 2,
        maxBytes: 4096,
        maxPixels: 512 * 512,
        allowedHosts: ['127.0.0.1'],
        // Generous, so a loaded machine still fetches the good image in time.
        fetchTimeoutMs: 750,
      },
    },
  });
  const post = (body: unknown) =>
    request(s.app.server)
      .post('/v1/chat/completions')
      .send(body as object);
  const ok = { model: MODEL, messages: [user('hi')] };

  const cases: [string, () => request.Test, number, Parameters<typeof assertError>[2]][] = [
    [
      'malformed JSON',
      () =>
        request(s.app.server)
          .post('/v1/chat/completions')
          .set('content-type', 'application/json')
          .send('{"model": "x",'),
      400,
      { code: 'invalid_json', message: /could not parse the JSON body/ },
    ],
    [
      'empty body',
      () =>
        request(s.app.server).post('/v1/chat/completions').set('content-type', 'application/json').send(''),
      400,
      { code: 'invalid_json' },
    ],
    [
      'a non-JSON content type',
      () => request(s.app.server).post('/v1/chat/completions').set('content-type', 'text/csv').send('a,b'),
      415,
      { code: 'unsupported_media_type' },
    ],
    [
      'missing messages',
      () => post({ model: MODEL }),
      400,
      {
        param: 'messages',
        code: 'missing_required_parameter',
        message: /Missing required parameter 'messages'/,
      },
    ],
    [
      'missing model',
      () => post({ messages: [user('x')] }),
      400,
      { param: 'model', code: 'missing_required_parameter' },
    ],
    [
      'empty messages',
      () => post({ model: MODEL, messages: [] }),
      400,
      { param: 'messages', message: /fewer than 1/ },
    ],
    [
      'content of the wrong type',
      () => post({ model: MODEL, messages: [user(5)] }),
      400,
      {
        param: 'messages[0].content',
        code: 'invalid_type',
        message: /expected string or array, but got number/,
      },
    ],
    [
      'an unknown role',
      () => post({ model: MODEL, messages: [{ role: 'robot', content: 'x' }] }),
      400,
      {
        param: 'messages[0].role',
        message: /one of "system", "developer", "user", "assistant", but got "robot"/,
      },
    ],
    [
      'an unknown part type',
      () => post({ model: MODEL, messages: [user([{ type: 'input_audio' }])] }),
      400,
      { param: 'messages[0].content[0].type', message: /one of text, image_url/ },
    ],
    [
      'a part missing its url',
      () => post({ model: MODEL, messages: [user([{ type: 'image_url', image_url: {} }])] }),
      400,
      { param: 'messages[0].content[0].image_url.url', code: 'missing_required_parameter' },
    ],
    [
      'temperature as a string',
      () => post({ ...ok, temperature: 'hot' }),
      400,
      { param: 'temperature', code: 'invalid_type' },
    ],
    [
      'temperature out of range',
      () => post({ ...ok, temperature: 3 }),
      400,
      { param: 'temperature', message: /must be <= 2/ },
    ],
    [
      'n as a numeric string (no coercion)',
      () => post({ ...ok, n: '2' }),
      400,
      { param: 'n', code: 'invalid_type' },
    ],
    [
      'five stop sequences',
      () => post({ ...ok, stop: ['a', 'b', 'c', 'd', 'e'] }),
      400,
      { param: 'stop', message: /more than 4 items/ },
    ],
    ['logprobs', () => post({ ...ok, logprobs: true }), 400, { param: 'logprobs' }],
    [
      'an unknown model',
      () => post({ ...ok, model: 'gpt-4o' }),
      404,
      { param: 'model', code: 'model_not_found', message: /'gpt-4o' does not exist/ },
    ],
    ['n above the engine limit', () => post({ ...ok, n: 9 }), 400, { param: 'n', message: /at most 4/ }],
    [
      'too many images',
      () =>
        post({
          model: MODEL,
          messages: [
            user([
              imagePart(dataUrl(solidPng(2, 2))),
              imagePart(dataUrl(solidPng(2, 2))),
              imagePart(dataUrl(solidPng(2, 2))),
            ]),
          ],
        }),
      400,
      { param: 'messages', code: 'too_many_images', message: /3 in this request; the limit is 2/ },
    ],
    [
      'an oversized image',
      () => post({ model: MODEL, messages: [user([imagePart(dataUrl(Buffer.alloc(6000, 1)))])] }),
      400,
      { param: 'messages[0].content[0].image_url.url', code: 'image_too_large' },
    ],
    [
      'a corrupt image (engine InvalidImageError)',
      () =>
        post({
          model: MODEL,
          messages: [
            user('look'),
            user([{ type: 'text', text: 'x' }, imagePart(dataUrl(Buffer.from('not an image')))]),
          ],
        }),
      400,
      { param: 'messages[1].content[1].image_url', code: 'invalid_image', message: /not a PNG/ },
    ],
    [
      'an image over the pixel limit',
      () => post({ model: MODEL, messages: [user([imagePart(dataUrl(pngHeader(10000, 10000)))])] }),
      400,
      {
        param: 'messages[0].content[0].image_url',
        code: 'invalid_image',
        message: /10000x10000 exceeds the limit of 262144 pixels/,
      },
    ],
    [
      'a data URL that is not base64',
      () => post({ model: MODEL, messages: [user([imagePart('data:image/png,rawbytes')])] }),
      400,
      { code: 'invalid_image_url', message: /expected data:image/ },
    ],
    [
      'a data URL that is not an image',
      () => post({ model: MODEL, messages: [user([imagePart('data:text/plain;base64,aGk=')])] }),
      400,
      { code: 'invalid_image_url', message: /'text\/plain' is not an image/ },
    ],
    [
      'a prompt over the context size',
      () => post({ model: MODEL, messages: [user('word '.repeat(100))] }),
      400,
      {
        type: 'exceed_context_size_error',
        code: 'context_length_exceeded',
        param: 'messages',
        message: /101 tokens.*64 tokens/,
      },
    ],
    [
      'a prompt over the context size, streamed (still a plain 400)',
      () => post({ model: MODEL, stream: true, messages: [user('word '.repeat(100))] }),
      400,
      { type: 'exceed_context_size_error' },
    ],
    [
      'an image URL on a host off the allow-list',
      () => post({ model: MODEL, messages: [user([imagePart('http://example.invalid/cat.png')])] }),
      400,
      { code: 'image_url_not_allowed', message: /'example.invalid' is not on this server's allow-list/ },
    ],
    [
      'a file: URL',
      () => post({ model: MODEL, messages: [user([imagePart('file:///etc/passwd')])] }),
      400,
      { code: 'invalid_image_url', message: /scheme 'file:'/ },
    ],
    [
      'a body over the limit',
      () => post({ model: MODEL, messages: [user('x'.repeat(70 * 1024))] }),
      413,
      { code: 'body_too_large' },
    ],
  ];

  for (const [name, send, status, expected] of cases) {
    test(`${name} -> ${status}`, async () => {
      const res = await send();
      const error = assertError(res, status, expected);
      if (status !== 429 && status !== 503)
        assert.equal(res.headers['x-should-retry'], 'false', error.message);
    });
  }

  test('fetches allow-listed image URLs, refuses redirects, and times out', async () => {
    const good = await post({ model: MODEL, messages: [user([imagePart(`${remoteUrl}/cat.png`)])] });
    assert.equal(good.status, 200, JSON.stringify(good.body));
    assert.ok(s.engine.chatRequests.at(-1)?.messages[0].content[0].type === 'image');
    assertError(
      await post({ model: MODEL, messages: [user([imagePart(`${remoteUrl}/missing.png`)])] }),
      400,
      { code: 'image_fetch_failed', message: /HTTP 404/ },
    );
    assertError(
      await post({ model: MODEL, messages: [user([imagePart(`${remoteUrl}/redirect.png`)])] }),
      400,
      { code: 'image_fetch_failed' },
    );
    assertError(await post({ model: MODEL, messages: [user([imagePart(`${remoteUrl}/slow.png`)])] }), 400, {
      code: 'image_fetch_timeout',
      message: /750 ms/,
    });
  });

  test('image URLs are refused when no host is allowed', async () => {
    const strict = await startServer();
    try {
      const res = await request(strict.app.server)
        .post('/v1/chat/completions')
        .send({ model: MODEL, messages: [user([imagePart(`${remoteUrl}/cat.png`)])] });
      assertError(res, 400, { code: 'image_url_not_allowed', message: /disabled on this server/ });
    } finally {
      await strict.app.close();
    }
  });

  test('keeps serving after every bad request', async () => {
    const res = await post(ok);
    assert.equal(res.status, 200);
  });
});

describe('chat completions: engine failure mid-stream', { timeout: 30_000 }, () => {
  const s = useServer({ engine: { failAfterTokens: 2 } });

  test('is sent in-band as data: {"error":...} without [DONE]', async () => {
    const res = await request(s.app.server)
      .post('/v1/chat/completions')
      .send({ model: MODEL, messages: [user('a b c d')], stream: true });
    assert.equal(res.status, 200);
    const events = sseJson(res.text, { done: false }) as { error?: unknown }[];
    const last = events.at(-1);
    assertSchema('ErrorResponse', last);
    assert.deepEqual(last?.error, {
      message: 'The server had an error while processing your request',
      type: 'server_error',
      param: null,
      code: 'internal_error',
    });
    assert.equal(events.filter((e) => 'choices' in e).length, 3, 'role chunk + 2 tokens before the failure');
  });

  test('is a 500 envelope when not streaming', async () => {
    const res = await request(s.app.server)
      .post('/v1/chat/completions')
      .send({ model: MODEL, messages: [user('a b c d')] });
    assertError(res, 500, { type: 'server_error' });
  });
});
