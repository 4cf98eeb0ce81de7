// Models, health, metrics, auth, back-pressure (429/503), cancellation (endpoint, disconnect, timeout, shutdown).
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import request from 'supertest';
import type { ListModelsResponse } from '../src/server/api-types.generated.ts';
import { buildServer } from '../src/server/app.ts';
import { FakeEngine } from './helpers/fake-engine.ts';
import { assertError, assertSchema, startServer, until, useServer } from './helpers/server.ts';
import { parseSse, sseJson } from './helpers/sse.ts';

const MODEL = 'unitok-fake';
const chat = (content: string, extra: object = {}) => ({
  model: MODEL,
  messages: [{ role: 'user', content }],
  ...extra,
});
const LONG = 'word '.repeat(40);

describe('models and health', { timeout: 30_000 }, () => {
  const s = useServer({ config: { servedModelName: 'unitok-mllm' } });

  test('lists the served model with modalities, image geometry and sampling defaults', async () => {
    const res = await request(s.app.server).get('/v1/models');
    assert.equal(res.status, 200);
    assertSchema('ListModelsResponse', res.body);
    const [model] = (res.body as ListModelsResponse).data;
    assert.equal(model.id, 'unitok-mllm');
    assert.deepEqual(model.architecture, {
      input_modalities: ['text', 'image'],
      output_modalities: ['text', 'image'],
    });
    assert.deepEqual(model.image, {
      size: '256x256',
      visual_tokens_per_image: 16,
      codes_per_visual_token: 8,
    });
    assert.equal(model.context_length, 64);
    assert.deepEqual(
      model.defaults,
      {
        text: { temperature: 1, top_p: 1, top_k: 0, max_tokens: 64 },
        image: { temperature: 1, top_p: 1, top_k: 0, guidance_scale: 7, best_of: 1 },
      },
      "the engine's own defaults, shown as the API names them",
    );
    const one = await request(s.app.server).get('/v1/models/unitok-mllm');
    assert.deepEqual(one.body, model);
    assertError(await request(s.app.server).get('/v1/models/gpt-4'), 404, { code: 'model_not_found' });
  });

  test('requests must name the served model, not the engine id', async () => {
    assertError(await request(s.app.server).post('/v1/chat/completions').send(chat('x')), 404, {
      param: 'model',
    });
    const res = await request(s.app.server)
      .post('/v1/chat/completions')
      .send({ ...chat('x'), model: 'unitok-mllm' });
    assert.equal(res.body.model, 'unitok-mllm');
  });

  test('health is 200 when ready, 503 with Retry-After while loading or failed', async () => {
    assert.deepEqual((await request(s.app.server).get('/health')).body, { status: 'ok' });
    s.engine.status = 'loading';
    try {
      const res = await request(s.app.server).get('/health');
      assertError(res, 503, {
        type: 'unavailable_error',
        code: 'model_loading',
        message: /Loading model: reading fake weights/,
      });
      assert.equal(res.headers['retry-after'], '5');
      const chatRes = await request(s.app.server)
        .post('/v1/chat/completions')
        .send({ ...chat('x'), model: 'unitok-mllm' });
      assertError(chatRes, 503, { code: 'model_not_ready' });
      assert.equal(chatRes.headers['retry-after'], '3');
      assert.equal(chatRes.headers['x-should-retry'], undefined, '503 stays retryable');
      s.engine.status = 'failed';
      assertError(await request(s.app.server).get('/health'), 503, { code: 'model_failed' });
    } finally {
      s.engine.status = 'ready';
    }
  });

  test('unknown routes are a 404 envelope', async () => {
    assertError(await request(s.app.server).post('/v1/completions').send({}), 404, {
      code: 'unknown_url',
      message: /POST \/v1\/completions/,
    });
  });
});

describe('authentication', { timeout: 30_000 }, () => {
  const s = useServer({ config: { apiKeys: ['key-one', 'key-two'] } });

  test('401 without a key or with a wrong one; WWW-Authenticate set', async () => {
    const missing = await request(s.app.server).post('/v1/chat/completions').send(chat('x'));
    assertError(missing, 401, {
      type: 'authentication_error',
      code: 'invalid_api_key',
      message: /Missing API key/,
    });
    assert.equal(missing.headers['www-authenticate'], 'Bearer');
    const wrong = await request(s.app.server).get('/v1/models').set('authorization', 'Bearer key-three');
    assertError(wrong, 401, { message: /Incorrect API key/ });
    assertError(await request(s.app.server).get('/v1/models').set('authorization', 'Basic key-one'), 401);
  });

  test('accepts any configured key as Bearer or x-api-key', async () => {
    assert.equal(
      (await request(s.app.server).get('/v1/models').set('authorization', 'Bearer key-two')).status,
      200,
    );
    assert.equal((await request(s.app.server).get('/v1/models').set('x-api-key', 'key-one')).status, 200);
  });

  test('/health and /metrics stay public (security: [] in openapi.yaml)', async () => {
    assert.equal((await request(s.app.server).get('/health')).status, 200);
    assert.equal((await request(s.app.server).get('/metrics')).status, 200);
  });
});

describe('back-pressure', { timeout: 30_000 }, () => {
  const s = useServer();

  test('a full engine queue is 429 with Retry-After, and the server recovers', async () => {
    s.engine.queueFullRetryAfter = 2.5;
    try {
      for (const [path, body] of [
        ['/v1/chat/completions', chat('x')],
        ['/v1/chat/completions', chat('x', { stream: true })],
        ['/v1/images/generations', { prompt: 'x' }],
      ] as const) {
        const res = await request(s.app.server).post(path).send(body);
        assertError(res, 429, { type: 'rate_limit_error', code: 'queue_full' });
        assert.equal(res.headers['retry-after'], '3', 'rounded up to whole seconds');
        assert.ok(res.headers['x-request-id'], 'errors still carry the request id');
      }
    } finally {
      s.engine.queueFullRetryAfter = null;
    }
    assert.equal((await request(s.app.server).post('/v1/chat/completions').send(chat('x'))).status, 200);
  });
});

describe('metrics', { timeout: 30_000 }, () => {
  const s = useServer();

  test('exposes valid Prometheus text with queue, throughput and TTFT families', async () => {
    await request(s.app.server).post('/v1/chat/completions').send(chat('one two three'));
    await request(s.app.server).post('/v1/images/generations').send({ prompt: 'x' });
    s.engine.queueFullRetryAfter = 1;
    await request(s.app.server).post('/v1/chat/completions').send(chat('x'));
    s.engine.queueFullRetryAfter = null;

    const res = await request(s.app.server).get('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    const lines = res.text.trimEnd().split('\n');
    const families = new Map<string, string>();
    const samples = new Map<string, number>();
    for (const line of lines) {
      if (line === '') continue; // prom-client separates families with a blank line
      const type = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line);
      if (type) families.set(type[1], type[2]);
      if (line.startsWith('#')) {
        assert.match(line, /^# (HELP|TYPE) [a-z_0-9]+ .+$/);
        continue;
      }
      const m = /^([a-z_0-9]+)(\{[^}]*\})? (-?[0-9.e+-]+|NaN|Nan)$/.exec(line); // prom-client writes NaN as Nan
      assert.ok(m, `sample line: ${line}`);
      const family = m[1].replace(/_(bucket|sum|count)$/, '');
      assert.ok(families.has(m[1]) || families.get(family) === 'histogram', `TYPE before ${line}`);
      samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
    }
    assert.deepEqual([...families.keys()].filter((f) => f.startsWith('unitok_')).sort(), [
      'unitok_draining',
      'unitok_e2e_request_latency_seconds',
      'unitok_generated_tokens_per_second',
      'unitok_generated_tokens_total',
      'unitok_image_generation_seconds',
      'unitok_kv_slots_usage_perc',
      'unitok_model_ready',
      'unitok_prompt_tokens_total',
      'unitok_request_generation_tokens',
      'unitok_request_prompt_tokens',
      'unitok_request_queue_time_seconds',
      'unitok_requests_running',
      'unitok_requests_total',
      'unitok_requests_waiting',
      'unitok_time_per_output_token_seconds',
      'unitok_time_to_first_token_seconds',
    ]);
    assert.ok(families.has('process_cpu_seconds_total') && families.has('nodejs_heap_size_used_bytes'));
    assert.equal(samples.get('unitok_e2e_request_latency_seconds_count{kind="chat"}'), 1);
    assert.equal(samples.get('unitok_request_generation_tokens_sum{modality="text"}'), 5);
    assert.equal(samples.get('unitok_time_per_output_token_seconds_count{modality="image"}'), 1);
    assert.equal(samples.get('unitok_request_queue_time_seconds_count{modality="image"}'), 1);
    assert.equal(samples.get('unitok_image_generation_seconds_count'), 1);
    assert.equal(samples.get('unitok_draining'), 0);
    assert.equal(samples.get('unitok_requests_total{kind="chat",outcome="ok"}'), 1);
    assert.equal(samples.get('unitok_requests_total{kind="chat",outcome="rejected"}'), 1);
    assert.equal(samples.get('unitok_requests_total{kind="image",outcome="ok"}'), 1);
    assert.equal(samples.get('unitok_generated_tokens_total{modality="text"}'), 5);
    assert.equal(samples.get('unitok_generated_tokens_total{modality="image"}'), 16);
    assert.equal(samples.get('unitok_generated_tokens_per_second{modality="image"}'), 1.6);
    assert.equal(samples.get('unitok_time_to_first_token_seconds_count{modality="text"}'), 1);
    assert.equal(samples.get('unitok_time_to_first_token_seconds_bucket{le="+Inf",modality="text"}'), 1);
    assert.equal(samples.get('unitok_model_ready'), 1);
    const buckets = lines.filter(
      (l) => l.startsWith('unitok_time_to_first_token_seconds_bucket{') && l.includes('modality="image"'),
    );
    assert.ok(buckets.length > 10);
    const counts = buckets.map((l) => Number(l.split(' ')[1]));
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => a - b),
      'cumulative buckets',
    );
  });
});

describe('cancellation', { timeout: 30_000 }, () => {
  const s = useServer({
    engine: { tokenDelayMs: 10, contextLength: 4096 },
    config: { sseKeepAliveMs: 20 },
    listen: true,
  });

  test('POST /v1/requests/{id}/cancel stops a non-streamed request with 499 (not retried)', async () => {
    // supertest sends on then(); start it now and await the response later.
    const pending = request(s.app.server)
      .post('/v1/chat/completions')
      .set('x-request-id', 'cancel-me')
      .send(chat(LONG))
      .then((r) => r);
    await until(() => s.engine.chatRequests.some((r) => r.id === 'cancel-me'));
    const metrics = await request(s.app.server).get('/metrics');
    assert.match(metrics.text, /^unitok_requests_running 1$/m);
    const cancel = await request(s.app.server).post('/v1/requests/cancel-me/cancel');
    assert.deepEqual(cancel.body, { id: 'cancel-me', object: 'request.cancel', cancelled: true });
    const res = await pending;
    assertError(res, 499, { type: 'cancelled_error', code: 'request_cancelled' });
    assert.equal(res.headers['x-should-retry'], 'false');
    assert.equal(s.engine.aborted.get('cancel-me'), 'cancelled');
    assertError(await request(s.app.server).post('/v1/requests/cancel-me/cancel'), 404, {
      code: 'request_not_found',
    });
  });

  test('an x-request-id already in flight is 409 (not retried); the first request is unaffected', async () => {
    const first = request(s.app.server)
      .post('/v1/chat/completions')
      .set('x-request-id', 'dup')
      .send(chat('a b c'))
      .then((r) => r);
    await until(() => s.engine.chatRequests.some((r) => r.id === 'dup'));
    const second = await request(s.app.server)
      .post('/v1/chat/completions')
      .set('x-request-id', 'dup')
      .send(chat('x'));
    assertError(second, 409, { code: 'duplicate_request_id', param: 'x-request-id' });
    assert.equal(second.headers['x-should-retry'], 'false');
    assert.equal((await first).status, 200);
  });

  test('a cancelled stream ends with an in-band request_cancelled error; keep-alive pings were sent', async () => {
    const pending = request(s.app.server)
      .post('/v1/chat/completions')
      .send(chat(LONG, { stream: true }))
      .then((r) => r);
    await until(() => s.engine.chatRequests.length > 0 && s.engine.stats().running > 0);
    const id = s.engine.chatRequests.at(-1)?.id ?? '';
    await new Promise((r) => setTimeout(r, 60));
    await request(s.app.server).post(`/v1/requests/${id}/cancel`).expect(200);
    const res = await pending;
    const events = sseJson(res.text, { done: false }) as { error?: { code: string } }[];
    assert.equal(events.at(-1)?.error?.code, 'request_cancelled');
    assert.ok(parseSse(res.text).comments.includes('ping'), 'keep-alive comments');
  });

  test('a client that disconnects mid-stream aborts the engine request', async () => {
    const id = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        `${s.url}/v1/chat/completions`,
        { method: 'POST', headers: { 'content-type': 'application/json' } },
        (res) => {
          res.once('data', () => {
            req.destroy();
            resolve(String(res.headers['x-request-id']));
          });
        },
      );
      req.on('error', () => {});
      req.once('timeout', reject);
      req.end(JSON.stringify(chat(LONG, { stream: true })));
    });
    await until(() => s.engine.aborted.get(id) === 'client_closed');
  });

  test('a client that disconnects while waiting for a non-streamed answer aborts it too', async () => {
    const req = httpRequest(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'gone-away' },
    });
    req.on('error', () => {});
    req.end(JSON.stringify(chat(LONG)));
    await until(() => s.engine.chatRequests.some((r) => r.id === 'gone-away'));
    req.destroy();
    await until(() => s.engine.aborted.get('gone-away') === 'client_closed');
  });
});

describe('server-side limits and shutdown', { timeout: 30_000 }, () => {
  test('a generation past --request-timeout is stopped with 504 (in-band when streaming)', async () => {
    const { app, engine } = await startServer({
      engine: { tokenDelayMs: 50 },
      config: { requestTimeoutMs: 150 },
    });
    try {
      const res = await request(app.server).post('/v1/chat/completions').send(chat('a b c d e f g h'));
      assertError(res, 504, { type: 'timeout_error', code: 'request_timeout' });
      const streamed = await request(app.server)
        .post('/v1/images/generations')
        .send({ prompt: 'x', stream: true });
      const events = parseSse(streamed.text).events;
      assert.equal(events.at(-1)?.event, 'error');
      assert.equal(JSON.parse(events.at(-1)?.data ?? '{}').error.code, 'request_timeout');
      assert.ok([...engine.aborted.values()].every((reason) => reason === 'timeout'));
    } finally {
      await app.close();
    }
  });

  test('closing the server aborts in-flight streams with a shutdown error', async () => {
    const { app, engine } = await startServer({ engine: { tokenDelayMs: 20, contextLength: 4096 } });
    const pending = request(app.server)
      .post('/v1/chat/completions')
      .send(chat(LONG, { stream: true }))
      .then((r) => r);
    await until(() => engine.stats().running > 0);
    await app.close();
    const res = await pending;
    const last = parseSse(res.text).events.at(-1);
    assert.deepEqual(JSON.parse(last?.data ?? '{}').error, {
      message: 'The server is shutting down',
      type: 'unavailable_error',
      param: null,
      code: 'server_shutdown',
    });
    assert.equal([...engine.aborted.values()][0], 'shutdown');
  });
});

describe('logging', { timeout: 30_000 }, () => {
  test('an engine failure is logged once with the original error; the client sees a generic 500', async () => {
    const lines: { level: number; msg: string; err?: { message: string } }[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const app = buildServer({
      engine: new FakeEngine({ failAfterTokens: 1 }),
      logger: { level: 'error', stream },
    });
    await app.ready();
    try {
      const res = await request(app.server).post('/v1/chat/completions').send(chat('a b c'));
      const error = assertError(res, 500, { code: 'internal_error' });
      assert.doesNotMatch(error.message, /fake engine failure/, 'internals stay in the log');
      const errors = lines.filter((l) => l.level >= 50);
      assert.equal(errors.length, 1, JSON.stringify(lines));
      assert.equal(errors[0].err?.message, 'fake engine failure');
    } finally {
      await app.close();
    }
  });
});
