// Graceful drain (SIGTERM), the liveness and readiness probes, and the process-level start-up failures.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import WebSocket from 'ws';
import { assertError, listen, startServer, until } from './helpers/server.ts';
import { parseSse } from './helpers/sse.ts';

const MODEL = 'unitok-fake';
const LONG = 'word '.repeat(40);
const streamChat = (content: string) => ({
  model: MODEL,
  stream: true,
  messages: [{ role: 'user', content }],
});

describe('probes', { timeout: 30_000 }, () => {
  test('liveness follows the workers, readiness the model, the drain and the workers', async () => {
    const { app, engine } = await startServer();
    try {
      const get = (path: string) => request(app.server).get(path);
      assert.equal((await get('/health/live')).status, 200);
      assert.equal((await get('/health/ready')).status, 200);
      engine.status = 'loading';
      assert.equal((await get('/health/live')).status, 200, 'loading is alive');
      assertError(await get('/health/ready'), 503, { code: 'model_loading' });
      engine.status = 'ready';
      engine.pingError = new Error('model-runner worker exited (code 1)');
      assertError(await get('/health/live'), 503, { code: 'engine_lost', message: /worker exited/ });
      assertError(await get('/health/ready'), 503, { code: 'engine_lost' });
      engine.pingError = null;
      await app.drain({ timeoutMs: 0 });
      assert.equal((await get('/health/live')).status, 200, 'draining is alive');
      const ready = await get('/health/ready');
      assertError(ready, 503, { code: 'server_draining' });
      assert.equal(ready.headers['retry-after'], '2');
      assertError(await get('/health'), 503, { code: 'server_draining' });
    } finally {
      await app.close();
    }
  });
});

describe('drain', { timeout: 30_000 }, () => {
  test('in-flight streams finish; new requests get 503 server_draining; the report counts them', async () => {
    const { app, engine } = await startServer({ engine: { tokenDelayMs: 10, contextLength: 4096 } });
    const url = await listen(app);
    try {
      const streams = [1, 2, 3].map(() =>
        request(app.server).post('/v1/chat/completions').send(streamChat(LONG)),
      );
      const pending = streams.map((r) => r.then((x) => x));
      await until(() => engine.stats().running === 3);
      // An idle WebSocket is told to go elsewhere at once.
      const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/images/stream`);
      await once(ws, 'open');
      const wsClosed = once(ws, 'close');
      const drained = app.drain({ timeoutMs: 10_000 });
      const refused = await request(app.server).post('/v1/chat/completions').send(streamChat('x'));
      assertError(refused, 503, { code: 'server_draining', type: 'unavailable_error' });
      assert.equal(refused.headers['retry-after'], '2');
      assert.equal(refused.headers.connection, 'close');
      const [code, reason] = await wsClosed;
      assert.deepEqual([code, String(reason)], [1001, 'server shutting down']);
      const report = await drained;
      assert.deepEqual([report.inFlight, report.finished, report.ended], [3, 3, 0]);
      for (const res of await Promise.all(pending)) {
        const events = parseSse(res.text).events;
        assert.equal(events.at(-1)?.data, '[DONE]', 'every stream completed');
      }
      assert.equal(engine.aborted.size, 0);
    } finally {
      await app.close();
    }
  });

  test('streams still running at the deadline end with an in-band server_shutdown error', async () => {
    const { app, engine } = await startServer({ engine: { tokenDelayMs: 50, contextLength: 4096 } });
    try {
      const pending = request(app.server)
        .post('/v1/chat/completions')
        .send(streamChat(LONG))
        .then((r) => r);
      await until(() => engine.stats().running === 1);
      const report = await app.drain({ timeoutMs: 100 });
      assert.deepEqual([report.inFlight, report.finished, report.ended], [1, 0, 1]);
      const last = parseSse((await pending).text).events.at(-1);
      assert.equal(JSON.parse(last?.data ?? '{}').error.code, 'server_shutdown');
    } finally {
      await app.close();
    }
  });

  test('a WebSocket job in flight completes, then its socket closes with 1001', async () => {
    const { app } = await startServer({ engine: { tokenDelayMs: 10 } });
    const url = await listen(app);
    try {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/images/stream`);
      await once(ws, 'open');
      const types: string[] = [];
      ws.on('message', (d) => types.push(JSON.parse(String(d)).type));
      const closed = once(ws, 'close');
      ws.send(JSON.stringify({ type: 'generate', prompt: 'a red square', preview_every: 0 }));
      await until(() => types.includes('started'));
      const report = await app.drain({ timeoutMs: 10_000 });
      const [code] = await closed;
      assert.equal(code, 1001);
      assert.equal(types.at(-1), 'completed');
      assert.deepEqual([report.inFlight, report.finished], [1, 1]);
    } finally {
      await app.close();
    }
  });
});

describe('the server process', { timeout: 60_000 }, () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const start = (entry: string, args: string[]) =>
    spawn(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: root, stdio: 'pipe' });
  const fake = ['--engine-module', 'test/helpers/fake-engine-module.ts', '--log-level', 'info'];
  const output = async (child: ChildProcess) => {
    let text = '';
    child.stdout?.on('data', (d) => (text += d));
    child.stderr?.on('data', (d) => (text += d));
    const [code, signal] = await once(child, 'exit');
    return { code: code as number | null, signal, text };
  };

  test('a busy port fails at once with one line and status 1 (no native abort)', async () => {
    const holder = createServer().listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const { port } = holder.address() as { port: number };
    try {
      const { code, text } = await output(start('src/server/cli.ts', [...fake, '--port', String(port)]));
      assert.equal(code, 1);
      assert.match(text, new RegExp(`unitok-server: 127\\.0\\.0\\.1:${port} is already in use`));
      assert.doesNotMatch(text, /terminate called|Napi::Error|listening/);
    } finally {
      holder.close();
    }
  });

  test('a missing model directory fails before listening', async () => {
    const { code, text } = await output(
      start('src/main.ts', ['--model', '/nonexistent/model', '--port', '0']),
    );
    assert.equal(code, 1);
    assert.match(text, /the model cannot be loaded from \/nonexistent\/model/);
    assert.doesNotMatch(text, /listening/);
  });

  /** Starts the CLI on the fake engine (FAKE_TOKEN_DELAY_MS per token) and resolves with its URL. */
  const serving = async (args: string[]) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/server/cli.ts', ...fake, '--port', '0', ...args],
      {
        cwd: root,
        stdio: 'pipe',
        env: { ...process.env, FAKE_TOKEN_DELAY_MS: '50' },
      },
    );
    const exited = output(child);
    let logs = '';
    const url = await new Promise<string>((resolve) => {
      child.stdout?.on('data', (d) => {
        logs += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(logs);
        if (m) resolve(m[1]);
      });
    });
    const stream = fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(streamChat('a b c d e f g h i j')),
    }).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 300)); // the stream is under way
    return { child, exited, stream };
  };

  test('SIGTERM lets the stream in flight complete, then exits 0 with the drain report', async () => {
    const { child, exited, stream } = await serving([]);
    child.kill('SIGTERM');
    const events = parseSse(await stream).events;
    assert.equal(events.at(-1)?.data, '[DONE]');
    const { code, text } = await exited;
    assert.equal(code, 0);
    assert.match(text, /"inFlight":1,"finished":1,"ended":0/);
  });

  test('a second signal exits at once with status 1, without waiting for the drain', async () => {
    const { child, exited, stream } = await serving(['--shutdown-timeout-seconds', '60']);
    stream.catch(() => {}); // cut off by the exit
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    const { code, text } = await exited;
    assert.equal(code, 1);
    assert.match(text, /second signal: exiting now/);
  });
});
