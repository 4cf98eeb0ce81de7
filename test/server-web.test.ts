// The web page's server side: web/ served at `/` (public, right content types, nothing outside web/), and the
// WebSocket key a browser can send (a `bearer.<base64url>` subprotocol, since it cannot set headers).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import request from 'supertest';
import WebSocket from 'ws';
import { WEB_ROOT } from '../src/server/routes/web.ts';
import { assertError, useServer } from './helpers/server.ts';

const bearer = (key: string) => `bearer.${Buffer.from(key, 'utf8').toString('base64url')}`;

describe('web page files', () => {
  const s = useServer({ config: { apiKeys: ['sekrit'] } });

  test('/ is the page, public even when the API needs a key, with a same-origin-only CSP', async () => {
    const res = await request(s.app.server).get('/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html; charset=utf-8/);
    assert.match(res.text, /<script type="module" src="\/app.js"><\/script>/);
    const csp = res.headers['content-security-policy'];
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assertError(await request(s.app.server).get('/v1/models'), 401);
  });

  test('every file in web/ is served with its content type', async () => {
    const types: Record<string, RegExp> = { html: /^text\/html/, js: /^text\/javascript/, css: /^text\/css/ };
    const names = readdirSync(WEB_ROOT);
    assert.ok(names.includes('app.js') && names.includes('style.css'));
    for (const name of names) {
      const res = await request(s.app.server).get(`/${name}`);
      assert.equal(res.status, 200, name);
      assert.match(res.headers['content-type'], types[name.split('.').pop() ?? ''], name);
    }
  });

  test('nothing outside web/ can be named, and unknown paths keep the JSON 404', async () => {
    // (Without the key they answer 401 like any non-public URL.)
    for (const path of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/..%2fopenapi.yaml',
      '/web/app.js',
      '/x.js',
    ]) {
      const res = await request(s.app.server).get(path).set('authorization', 'Bearer sekrit');
      assertError(res, 404, { code: 'unknown_url' });
    }
  });
});

describe('WebSocket key as a subprotocol', { timeout: 30_000 }, () => {
  const keys = ['sekrit', 'ключ/+= with spaces'];
  const s = useServer({ config: { apiKeys: keys }, listen: true });
  const wsUrl = () => `${s.url.replace('http', 'ws')}/v1/images/stream`;

  /** Resolves with the selected subprotocol when the upgrade succeeds, or with the refusal's status code. */
  const connect = (protocols: string[]) =>
    new Promise<{ protocol?: string; status?: number; ws?: WebSocket }>((resolve) => {
      const ws = new WebSocket(wsUrl(), protocols);
      ws.once('open', () => resolve({ protocol: ws.protocol, ws }));
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
      ws.once('error', () => {});
    });

  test('a key offered as bearer.<base64url> opens the stream; the first subprotocol is selected', async () => {
    for (const key of keys) {
      const { protocol, ws } = await connect(['unitok', bearer(key)]);
      assert.equal(protocol, 'unitok', key);
      const completed = new Promise<string>((resolve) =>
        ws?.on('message', (data) => {
          const type = JSON.parse(data.toString()).type;
          if (type === 'completed' || type === 'error') resolve(type);
        }),
      );
      ws?.send(JSON.stringify({ type: 'generate', prompt: 'x' }));
      assert.equal(await completed, 'completed');
      ws?.close();
    }
  });

  test('a wrong, empty or missing key is refused with 401', async () => {
    for (const protocols of [['unitok', bearer('wrong')], ['unitok', 'bearer.'], ['unitok'], []]) {
      assert.equal((await connect(protocols)).status, 401, protocols.join(','));
    }
  });
});
