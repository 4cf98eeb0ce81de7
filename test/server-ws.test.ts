// WebSocket /v1/images/stream: the message protocol documented in openapi.yaml, cancel, errors, auth.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import request from 'supertest';
import WebSocket from 'ws';
import type { ImageStreamServerMessage } from '../src/server/api-types.generated.ts';
import { PNG_SIGNATURE } from './helpers/png.ts';
import { assertError, assertSchema, until, useServer } from './helpers/server.ts';
import { WsClient } from './helpers/ws.ts';

type Msg = ImageStreamServerMessage;

const open = (url: string, headers: Record<string, string> = {}) =>
  WsClient.open<Msg>(url, 'ImageStreamServerMessage', headers);

describe('image stream WebSocket', { timeout: 30_000 }, () => {
  const s = useServer({ engine: { tokenDelayMs: 2 }, config: { previewEvery: 8 }, listen: true });
  const wsUrl = () => `${s.url.replace('http', 'ws')}/v1/images/stream`;

  test('streams started, codes + progress per visual token, previews, and completed', async () => {
    const c = await open(wsUrl());
    c.send({ type: 'generate', prompt: 'a small house', seed: 3, preview_every: 5 });
    const started = await c.next('started');
    assert.deepEqual(
      { ...started, id: 'x' },
      { type: 'started', id: 'x', n: 1, total: 16, codes_per_token: 8, size: '256x256' },
    );
    const completed = await c.next('completed');
    assert.equal(completed.id, started.id);
    assert.ok(Buffer.from(completed.png_b64, 'base64').subarray(0, 8).equals(PNG_SIGNATURE));
    assert.equal(completed.usage.output_tokens, 16);

    const codes = c.received.filter((m) => m.type === 'codes');
    assert.deepEqual(
      codes.map((m) => m.index),
      [...Array(16).keys()],
    );
    assert.deepEqual(codes[2].codes, [19, 20, 21, 22, 23, 24, 25, 26], 'seed 3 + index 2 * 8 + k');
    const progress = c.received.filter((m) => m.type === 'progress');
    assert.deepEqual(
      progress.map((m) => [m.done, m.total]),
      [...Array(16).keys()].map((i) => [i + 1, 16]),
    );
    const previews = c.received.filter((m) => m.type === 'preview');
    assert.deepEqual(
      previews.map((m) => [m.index, m.done]),
      [
        [0, 5],
        [1, 10],
        [2, 15],
      ],
    );
    assert.deepEqual(s.engine.imageRequests.at(-1)?.previewAt, [5, 10, 15]);
    // Order: each progress follows its codes message.
    const kinds = c.received.map((m) => m.type).filter((t) => t === 'codes' || t === 'progress');
    assert.deepEqual(kinds.slice(0, 4), ['codes', 'progress', 'codes', 'progress']);
    c.close();
  });

  test('uses the server preview cadence by default and can skip codes', async () => {
    const c = await open(wsUrl());
    c.send({ type: 'generate', prompt: 'x', send_codes: false });
    await c.next('completed');
    assert.deepEqual(s.engine.imageRequests.at(-1)?.previewAt, [8]);
    assert.equal(c.received.filter((m) => m.type === 'codes').length, 0);
    assert.equal(c.received.filter((m) => m.type === 'progress').length, 16);
    c.close();
  });

  test('cancel stops the job, the engine sees the abort, and the connection stays usable', async () => {
    const c = await open(wsUrl());
    c.send({ type: 'generate', prompt: 'slow', n: 3 });
    const started = await c.next('started');
    await c.next('progress');
    c.send({ type: 'cancel' });
    const cancelled = await c.next('cancelled');
    assert.equal(cancelled.id, started.id);
    assert.equal(s.engine.aborted.get(started.id), 'cancelled');
    assert.equal(c.received.filter((m) => m.type === 'completed').length, 0);
    c.send({ type: 'generate', prompt: 'again' });
    await c.next('completed');
    c.close();
  });

  test('the HTTP cancel endpoint stops a WebSocket job too', async () => {
    const c = await open(wsUrl());
    c.send({ type: 'generate', prompt: 'slow', n: 3 });
    const { id } = await c.next('started');
    const res = await request(s.app.server).post(`/v1/requests/${id}/cancel`);
    assert.equal(res.status, 200);
    assertSchema('CancelResponse', res.body);
    await c.next('cancelled');
    c.close();
  });

  test('closing the socket aborts the running job', async () => {
    const c = await open(wsUrl());
    c.send({ type: 'generate', prompt: 'slow', n: 3 });
    const { id } = await c.next('started');
    c.close();
    await until(() => s.engine.aborted.get(id) === 'client_closed');
  });

  test('bad messages get error messages naming the field, and the connection stays open', async () => {
    const c = await open(wsUrl());
    c.send('{not json');
    let e = await c.next('error');
    assert.equal(e.id, null);
    assert.equal(e.error.code, 'invalid_json');
    c.send({ type: 'paint' });
    e = await c.next('error');
    assert.equal(e.error.param, 'type');
    assert.match(e.error.message, /one of generate, cancel/);
    c.send({ type: 'generate' });
    e = await c.next('error');
    assert.equal(e.error.param, 'prompt');
    c.send({ type: 'generate', prompt: 'x', colour: 'red' });
    e = await c.next('error');
    assert.equal(e.error.code, 'unknown_parameter');
    assert.equal(e.error.param, 'colour');
    c.send({ type: 'generate', prompt: 'x', size: '512x512' });
    e = await c.next('error');
    assert.equal(e.error.param, 'size');
    assert.match(e.id ?? '', /^imgws-/, 'a job-level error carries the job id');
    c.send({ type: 'cancel' });
    e = await c.next('error');
    assert.equal(e.error.code, 'no_active_request');
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    e = await c.next('error');
    assert.match(e.error.message, /JSON text frames/);

    c.send({ type: 'generate', prompt: 'busy', n: 2 });
    await c.next('started');
    c.send({ type: 'generate', prompt: 'second' });
    e = await c.next('error');
    assert.equal(e.error.code, 'request_in_progress');
    await c.next('completed');
    await c.next('completed');
    c.close();
  });

  test('a full queue is reported with retry_after_seconds', async () => {
    s.engine.queueFullRetryAfter = 4;
    try {
      const c = await open(wsUrl());
      c.send({ type: 'generate', prompt: 'x' });
      const e = await c.next('error');
      assert.equal(e.error.code, 'queue_full');
      assert.equal(e.retry_after_seconds, 4);
      c.close();
    } finally {
      s.engine.queueFullRetryAfter = null;
    }
  });

  test('a plain GET without Upgrade is 426', async () => {
    const res = await request(s.app.server).get('/v1/images/stream');
    assertError(res, 426, { code: 'upgrade_required' });
  });
});

describe('image stream WebSocket with an API key', { timeout: 30_000 }, () => {
  const s = useServer({ config: { apiKeys: ['sekrit'] }, listen: true });
  const wsUrl = () => `${s.url.replace('http', 'ws')}/v1/images/stream`;

  test('refuses the upgrade without the key (401) and accepts it with the key', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(wsUrl());
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => reject(new Error('upgrade should have been refused')));
      ws.once('error', () => {});
    });
    assert.equal(status, 401);
    const c = await open(wsUrl(), { authorization: 'Bearer sekrit' });
    c.send({ type: 'generate', prompt: 'x' });
    await c.next('completed');
    c.close();
  });
});
