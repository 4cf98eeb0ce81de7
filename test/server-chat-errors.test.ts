// POST /v1/chat/completions against the fake engine: every way a request can be wrong (each must be a 4xx
// envelope naming the field, and the server keeps serving), image URL fetching and its limits.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { dataUrl, pngHeader, solidPng } from './helpers/png.ts';
import { assertError, startServer, useServer } from './helpers/server.ts';

const MODEL = 'unitok-fake';
const user = (content: unknown) => ({ role: 'user', content });
const imagePart = (url: string) => ({ type: 'image_url', image_url: { url } });

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
