// WebSocket /v1/stream: chat and images on one connection, jobs side by side with their own ids, cancel one or all,
// errors naming the field, the job limit, and the HTTP cancel endpoint reaching a socket job.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import request from 'supertest';
import type { StreamServerMessage } from '../src/server/api-types.generated.ts';
import { MAX_JOBS_PER_CONNECTION } from '../src/server/routes/stream-ws.ts';
import { dataUrl, PNG_SIGNATURE, solidPng } from './helpers/png.ts';
import { assertError, until, useServer } from './helpers/server.ts';
import { WsClient } from './helpers/ws.ts';

type Msg = StreamServerMessage;

describe('conversation WebSocket /v1/stream', { timeout: 30_000 }, () => {
  const s = useServer({ engine: { tokenDelayMs: 2 }, config: { previewEvery: 8 }, listen: true });
  const open = () => WsClient.open<Msg>(`${s.url.replace('http', 'ws')}/v1/stream`, 'StreamServerMessage');

  test('a chat turn: started, deltas, finish, done with usage', async () => {
    const c = await open();
    c.send({ type: 'chat', id: 'turn-1', messages: [{ role: 'user', content: 'hello socket' }], seed: 1 });
    const started = await c.next('started');
    assert.deepEqual(started, { type: 'started', id: 'turn-1', kind: 'chat', n: 1, prompt_tokens: 3 });
    const done = await c.next('done');
    assert.equal(done.id, 'turn-1');
    const text = c.received.flatMap((m) => (m.type === 'delta' ? [m.text] : [])).join('');
    assert.equal(text, 'You said: hello socket');
    const finish = await c.next('finish');
    assert.equal(finish.finish_reason, 'stop');
    assert.equal(done.usage.completion_tokens, 4);
    assert.equal(done.usage.total_tokens, 7);
    c.close();
  });

  test("best_of: the server's preview cadence is a default a best-of job does without", async () => {
    const c = await open();
    c.send({ type: 'image', id: 'best', prompt: 'a red dot', best_of: 4, send_codes: false });
    await c.next('done');
    c.send({ type: 'image', id: 'plain', prompt: 'a red dot', send_codes: false });
    await c.next('done');
    const sent = (id: string) => s.engine.imageRequests.find((r) => r.id === id);
    assert.deepEqual(sent('best')?.previewAt, [], 'no previews, so best_of applies');
    assert.equal(sent('best')?.sampling.bestOf, 4);
    assert.deepEqual(sent('plain')?.previewAt, [8], "the server's --preview-every");
    c.close();
  });

  test('an image job sends the /v1/images/stream messages, then done with visual-token usage', async () => {
    const c = await open();
    c.send({ type: 'image', prompt: 'a red dot', preview_every: 8, send_codes: false });
    const started = await c.next('started');
    assert.equal(started.kind, 'image');
    assert.equal(started.total, 16);
    assert.match(started.id, /^img-/);
    const completed = await c.next('completed');
    assert.ok(Buffer.from(completed.png_b64, 'base64').subarray(0, 8).equals(PNG_SIGNATURE));
    const done = await c.next('done');
    assert.equal(done.usage.completion_tokens, 16);
    assert.equal(done.usage.completion_tokens_details?.image_tokens, 16);
    assert.equal(c.received.filter((m) => m.type === 'codes').length, 0, 'send_codes false');
    assert.equal(c.received.filter((m) => m.type === 'progress').length, 16);
    assert.equal(c.received.filter((m) => m.type === 'preview').length, 1);
    c.close();
  });

  test('chat (VQA) and an image run side by side; cancel by id stops only that job', async () => {
    const c = await open();
    c.send({ type: 'image', id: 'pic', prompt: 'slow one', n: 4 });
    c.send({
      type: 'chat',
      id: 'ask',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'what' },
            { type: 'image_url', image_url: { url: dataUrl(solidPng(4, 4)) } },
          ],
        },
      ],
    });
    await c.next('started', (m) => m.id === 'pic');
    await c.next('progress', (m) => m.id === 'pic');
    c.send({ type: 'cancel', id: 'pic' });
    assert.deepEqual(await c.next('cancelled'), { type: 'cancelled', id: 'pic' });
    const done = await c.next('done');
    assert.equal(done.id, 'ask', 'the chat job finished');
    assert.equal(done.usage.prompt_tokens_details?.image_tokens, 16);
    await until(() => s.engine.aborted.has('pic'));
    c.close();
  });

  test('cancel without id stops every job; closing the socket aborts what runs', async () => {
    const c = await open();
    c.send({ type: 'image', id: 'a1', prompt: 'x', n: 4 });
    c.send({ type: 'image', id: 'a2', prompt: 'y', n: 4 });
    await c.next('started', (m) => m.id === 'a1');
    await c.next('started', (m) => m.id === 'a2');
    c.send({ type: 'cancel' });
    await c.next('cancelled', (m) => m.id === 'a1');
    await c.next('cancelled', (m) => m.id === 'a2');

    c.send({ type: 'chat', id: 'left', messages: [{ role: 'user', content: 'x' }], n: 4 });
    await c.next('started');
    c.close();
    await until(() => s.engine.aborted.get('left') === 'client_closed');
  });

  test('the HTTP cancel endpoint stops a socket job by its id', async () => {
    const c = await open();
    c.send({ type: 'image', id: 'remote', prompt: 'x', n: 4 });
    await c.next('started');
    const res = await request(s.app.server).post('/v1/requests/remote/cancel');
    assert.equal(res.status, 200);
    await c.next('cancelled');
    c.close();
  });

  test(`at most ${MAX_JOBS_PER_CONNECTION} jobs at once; a duplicate id is refused naming id`, async () => {
    const c = await open();
    for (let i = 0; i < MAX_JOBS_PER_CONNECTION; i++)
      c.send({ type: 'image', id: `j${i}`, prompt: 'x', n: 4 });
    c.send({ type: 'chat', id: 'one-too-many', messages: [{ role: 'user', content: 'x' }] });
    const busy = await c.next('error');
    assert.equal(busy.id, 'one-too-many');
    assert.equal(busy.error.code, 'request_in_progress');
    c.send({ type: 'cancel', id: 'j0' });
    await c.next('cancelled', (m) => m.id === 'j0');
    c.send({ type: 'image', id: 'j1', prompt: 'x' });
    const dup = await c.next('error');
    assert.equal(dup.error.param, 'id');
    assert.equal(dup.error.code, 'duplicate_request_id');
    c.send({ type: 'cancel' });
    c.close();
  });

  test('bad messages get error messages naming the field; the connection stays open', async () => {
    const c = await open();
    const cases: [unknown, string | null, string][] = [
      ['not json', null, 'invalid_json'],
      [{ type: 'speak' }, 'type', 'invalid_value'],
      [{ type: 'chat' }, 'messages', 'missing_required_parameter'],
      [
        { type: 'chat', messages: [{ role: 'user', content: 'x' }], max_tokens: 0 },
        'max_tokens',
        'invalid_value',
      ],
      [{ type: 'image', prompt: 'x', size: '1024x1024' }, 'size', 'unsupported_size'],
      [{ type: 'image', prompt: 'x', extra: 1 }, 'extra', 'unknown_parameter'],
      [{ type: 'cancel', id: 'nope' }, 'id', 'request_not_found'],
      [{ type: 'cancel' }, 'type', 'no_active_request'],
      [
        {
          type: 'chat',
          messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,x' } }] }],
        },
        'messages[0].content[0].image_url.url',
        'invalid_image_url',
      ],
    ];
    for (const [message, param, code] of cases) {
      c.send(message);
      const e = await c.next('error');
      assert.equal(e.error.param, param, JSON.stringify(message));
      assert.equal(e.error.code, code, JSON.stringify(message));
    }
    c.send({ type: 'chat', messages: [{ role: 'user', content: 'still here' }] });
    await c.next('done');
    c.close();
  });

  test('a plain GET without Upgrade is 426', async () => {
    assertError(await request(s.app.server).get('/v1/stream'), 426, { code: 'upgrade_required' });
  });
});
