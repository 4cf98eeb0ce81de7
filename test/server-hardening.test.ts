// Hostile and unusual input found by attacking the server (issue 18): each case was a wrong answer before.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import request from 'supertest';
import WebSocket from 'ws';
import { buildServer } from '../src/server/app.ts';
import { FakeEngine } from './helpers/fake-engine.ts';
import { assertError, listen, startServer, useServer } from './helpers/server.ts';

const MODEL = 'unitok-fake';
const chat = (content: string) => ({ model: MODEL, messages: [{ role: 'user', content }] });

describe('bad input gets a clear 4xx', { timeout: 30_000 }, () => {
  const s = useServer({ listen: true, config: { limits: { wsMaxMessageBytes: 1024 } } });

  test('a lone UTF-16 surrogate is a 400 naming the field, in chat, images and WebSocket messages', async () => {
    // JSON.stringify escapes a lone surrogate as \ud800, exactly what a hostile client sends.
    const lone = '\ud800';
    const res = await request(s.app.server)
      .post('/v1/chat/completions')
      .set('content-type', 'application/json')
      .send(JSON.stringify(chat(`hi ${lone}`)));
    assertError(res, 400, {
      param: 'messages[0].content',
      code: 'invalid_string',
      message: /lone UTF-16 surrogate/,
    });
    const img = await request(s.app.server)
      .post('/v1/images/generations')
      .set('content-type', 'application/json')
      .send(JSON.stringify({ prompt: `x${lone}` }));
    assertError(img, 400, { param: 'prompt' });
    const pair = await request(s.app.server).post('/v1/chat/completions').send(chat('a pair is fine: 😀'));
    assert.equal(pair.status, 200);

    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/v1/images/stream`);
    await new Promise((resolve) => ws.once('open', resolve));
    const reply = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
    ws.send(JSON.stringify({ type: 'generate', prompt: lone }));
    const message = JSON.parse(await reply);
    assert.equal(message.type, 'error');
    assert.equal(message.error.param, 'prompt');
    ws.close();
  });

  test('max_tokens over what the context leaves is named as the parameter the client sent', async () => {
    const over = (cap: object) =>
      request(s.app.server)
        .post('/v1/chat/completions')
        .send({ ...chat('word '.repeat(10)), ...cap });
    assertError(await over({ max_tokens: 60 }), 400, {
      type: 'exceed_context_size_error',
      param: 'max_tokens',
      message: /prompt \(11 tokens\) plus max_tokens \(60\).*lower max_tokens to at most 53/,
    });
    assertError(await over({ max_completion_tokens: 60 }), 400, {
      param: 'max_completion_tokens',
      message: /plus max_completion_tokens \(60\)/,
    });
    assertError(
      await request(s.app.server)
        .post('/v1/chat/completions')
        .send(chat('word '.repeat(100))),
      400,
      {
        param: 'messages',
      },
    );
  });

  test('text/plain bodies are 415 like any other non-JSON type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const res = await request(s.app.server)
        .post('/v1/chat/completions')
        .set('content-type', type)
        .send('hello');
      assertError(res, 415, { code: 'unsupported_media_type' });
    }
  });

  test('the cancel endpoint takes an empty JSON body (404 for an unknown id, not 400)', async () => {
    const res = await request(s.app.server)
      .post('/v1/requests/nope/cancel')
      .set('content-type', 'application/json')
      .send('');
    assertError(res, 404, { code: 'request_not_found' });
    // A body-taking route still refuses an empty body.
    const chatRes = await request(s.app.server)
      .post('/v1/chat/completions')
      .set('content-type', 'application/json')
      .send('');
    assertError(chatRes, 400, { code: 'invalid_json' });
  });

  test('a wrong method on a known URL is 405 with Allow; an unknown URL stays 404', async () => {
    const res = await request(s.app.server).get('/v1/chat/completions');
    assertError(res, 405, { code: 'method_not_allowed' });
    assert.equal(res.headers.allow, 'POST');
    const cancel = await request(s.app.server).get('/v1/requests/abc/cancel');
    assertError(cancel, 405);
    assertError(await request(s.app.server).delete('/v1/nothing'), 404, { code: 'unknown_url' });
  });

  test('CORS: preflight and responses carry Access-Control-Allow-Origin and expose x-request-id', async () => {
    const pre = await request(s.app.server)
      .options('/v1/chat/completions')
      .set('origin', 'https://app.example.org')
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', 'authorization,content-type');
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], '*');
    const res = await request(s.app.server)
      .post('/v1/chat/completions')
      .set('origin', 'https://app.example.org')
      .send(chat('x'));
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.match(res.headers['access-control-expose-headers'], /x-request-id/);
  });

  test('a WebSocket message over the limit closes with 1009 and a reason saying the limit', async () => {
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/v1/images/stream`);
    await new Promise((resolve) => ws.once('open', resolve));
    const closed = new Promise<[number, string]>((resolve) =>
      ws.once('close', (code, reason) => resolve([code, String(reason)])),
    );
    ws.send('x'.repeat(4096));
    assert.deepEqual(await closed, [1009, 'message too big: the limit is 1024 bytes']);
  });
});

describe('authentication scheme', { timeout: 30_000 }, () => {
  const s = useServer({ config: { apiKeys: ['k1'] } });

  test('the Bearer scheme is case-insensitive (RFC 9110); preflights need no key', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await request(s.app.server)
        .post('/v1/chat/completions')
        .set('authorization', `${scheme} k1`)
        .send(chat('x'));
      assert.equal(res.status, 200, scheme);
    }
    assertError(
      await request(s.app.server)
        .post('/v1/chat/completions')
        .set('authorization', 'bearer k2')
        .send(chat('x')),
      401,
    );
    const pre = await request(s.app.server)
      .options('/v1/chat/completions')
      .set('origin', 'https://a.example')
      .set('access-control-request-method', 'POST');
    assert.equal(pre.status, 204);
  });
});

describe('slow clients', { timeout: 30_000 }, () => {
  test('a request whose body does not arrive in time gets 408 and its socket closes', async () => {
    const { app } = await startServer({ config: { limits: { requestReceiveTimeoutMs: 300 } } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = app.server.address() as { port: number };
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (d) => (received += d));
      socket.write(
        'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
      );
      // Dribble a byte now and then, as slowloris does: each one used to keep the socket open.
      const dribble = setInterval(() => socket.write(' '), 100);
      await new Promise((resolve) => socket.once('close', resolve));
      clearInterval(dribble);
      assert.match(received, /^HTTP\/1\.1 408/);
    } finally {
      await app.close();
    }
  });
});

describe('WebSocket protocol errors in the log', { timeout: 30_000 }, () => {
  test('an oversized message is one info line, not an error with a stack', async () => {
    const lines: { level: number; msg: string }[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const app = buildServer({
      engine: new FakeEngine(),
      config: { limits: { wsMaxMessageBytes: 1024 } },
      logger: { level: 'info', stream },
    });
    const url = await listen(app);
    try {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/images/stream`);
      await once(ws, 'open');
      const closed = once(ws, 'close');
      ws.send('x'.repeat(4096));
      await closed;
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(
        lines.filter((l) => l.level >= 40),
        [],
      );
      assert.ok(
        lines.some((l) => l.level === 30 && /WebSocket closed: Max payload size exceeded/.test(l.msg)),
      );
    } finally {
      await app.close();
    }
  });
});
