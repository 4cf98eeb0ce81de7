// The hostile-client defects of issue 18, probed against real server processes (demo model) of one or more
// checkouts, printed as one table: a column per checkout (e.g. main exported to /tmp/before, and this one).
//
//   node --import tsx bench/bad-input.ts [--roots /tmp/before,.] [--model models/demo] [--slow-seconds 40]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { Replica } from './replicas.ts';

const { values } = parseArgs({
  options: {
    roots: { type: 'string', default: '.' },
    model: { type: 'string', default: 'models/demo' },
    port: { type: 'string', default: '18500' },
    'slow-seconds': { type: 'string', default: '40' },
  },
});
const roots = (values.roots as string).split(',').map((r) => resolve(r));
const model = resolve(values.model as string);
const KEY = 'k-bad-input';
const auth = { authorization: `Bearer ${KEY}` };

async function call(url: string, path: string, init: RequestInit = {}): Promise<string> {
  const res = await fetch(`${url}${path}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
  const text = await res.text();
  let detail = '';
  try {
    const e = (JSON.parse(text) as { error?: { code?: string; param?: string | null } }).error;
    if (e) detail = ` ${e.code}${e.param ? ` (param ${e.param})` : ''}`;
  } catch {}
  return `${res.status}${detail}`;
}

const json = (body: string) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body });

/** Sends a 40 MB WebSocket message; reports the close code and reason the client saw. */
async function bigFrame(url: string): Promise<string> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/images/stream`, { headers: auth });
  await once(ws, 'open');
  const closed = once(ws, 'close');
  ws.on('error', () => {});
  ws.send(Buffer.alloc(40 * 1024 * 1024, 0x20));
  const [code, reason] = (await closed) as [number, Buffer];
  return `close ${code}${String(reason) ? ` "${String(reason)}"` : ' (no reason)'}`;
}

/** A request whose body dribbles one byte every 500 ms: how long until the server closes the socket. */
async function slowBody(port: number, limitS: number): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d) => (received += d));
  socket.on('error', () => {});
  socket.write(
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`,
  );
  const t0 = performance.now();
  const dribble = setInterval(() => socket.write(' '), 500);
  const closed = await Promise.race([
    once(socket, 'close').then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), limitS * 1000)),
  ]);
  clearInterval(dribble);
  socket.destroy();
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  return closed
    ? `closed after ${s} s (${received.split('\r\n')[0] || 'no response'})`
    : `still open after ${limitS} s`;
}

/** SIGTERM while a long chat stream is in flight: how the stream ended and how the process exited. */
async function sigtermDuringStream(replica: Replica, served: string): Promise<string> {
  const stream = fetch(`${replica.url}/v1/chat/completions`, {
    ...json(
      JSON.stringify({
        model: served,
        stream: true,
        max_tokens: 400,
        messages: [{ role: 'user', content: 'Tell a long story.' }],
      }),
    ),
    headers: { 'content-type': 'application/json', ...auth },
  }).then(
    (r) => r.text(),
    (e: Error) => `fetch failed: ${e.message}`,
  );
  await new Promise((r) => setTimeout(r, 300));
  const exitMs = await replica.stop('SIGTERM');
  const text = await stream;
  const end = text.trimEnd().endsWith('[DONE]')
    ? 'stream completed'
    : /server_shutdown/.test(text)
      ? 'stream cut: 503 server_shutdown'
      : 'stream cut';
  return `${end}; exit ${replica.exitCode} after ${exitMs.toFixed(0)} ms`;
}

async function processCase(root: string, args: string[]): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'src/main.ts'), ...args], {
    cwd: root,
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(timer);
  const notes = [
    /listening/i.test(out) ? 'logged listening' : '',
    /terminate called|Napi::Error/.test(out) ? 'native abort' : '',
    /EADDRINUSE/.test(out) && /\n\s+at /.test(out) ? 'stack trace' : '',
  ].filter(Boolean);
  return `exit ${code ?? signal}${notes.length ? `, ${notes.join(', ')}` : ''}`;
}

const table = new Map<string, string[]>();
const record = (name: string, value: string) => {
  table.set(name, [...(table.get(name) ?? []), value]);
};

for (const [i, root] of roots.entries()) {
  const port = Number(values.port) + i;
  const replica = new Replica({
    root,
    port,
    model,
    name: root,
    args: ['--api-key', KEY, '--log-level', 'warn'],
  });
  await replica.start();
  const url = replica.url;
  const served = (
    (await (await fetch(`${url}/v1/models`, { headers: auth })).json()) as { data: { id: string }[] }
  ).data[0].id;
  const slow = slowBody(port, Number(values['slow-seconds']));
  const chat = (extra: object, content = 'hi') =>
    JSON.stringify({ model: served, messages: [{ role: 'user', content }], ...extra });
  record(
    'lone surrogate in a chat message',
    await call(url, '/v1/chat/completions', json(chat({}, 'hi \ud800'))),
  );
  record(
    'lone surrogate in an image prompt',
    await call(url, '/v1/images/generations', json(JSON.stringify({ prompt: 'x\ud800' }))),
  );
  record(
    'Authorization: bearer KEY (lower case)',
    await call(url, '/v1/models', { headers: { authorization: `bearer ${KEY}` } }),
  );
  record(
    'max_tokens over the context',
    await call(url, '/v1/chat/completions', json(chat({ max_tokens: 100000 }))),
  );
  for (const [name, type, body] of [
    ['text/plain body', 'text/plain', 'hi'],
    ['form body', 'application/x-www-form-urlencoded', 'a=b'],
  ]) {
    const init = { method: 'POST', headers: { 'content-type': type }, body };
    record(name, await call(url, '/v1/chat/completions', init));
  }
  record('cancel with an empty JSON body', await call(url, '/v1/requests/nope/cancel', json('')));
  record('GET /v1/chat/completions (wrong method)', await call(url, '/v1/chat/completions'));
  const pre = await fetch(`${url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
  });
  record(
    'CORS preflight',
    `${pre.status} allow-origin ${pre.headers.get('access-control-allow-origin') ?? 'none'}`,
  );
  record('40 MB WebSocket message', await bigFrame(url));
  record('slow body, a byte every 500 ms', await slow);
  record('SIGTERM with a chat stream in flight', await sigtermDuringStream(replica, served));

  const holder = createServer().listen(port, '127.0.0.1');
  await once(holder, 'listening');
  record('busy port', await processCase(root, ['--port', String(port), '--model', model]));
  holder.close();
  record(
    '--model /nonexistent',
    await processCase(root, ['--port', String(port), '--model', '/nonexistent']),
  );
}

const w0 = Math.max(...[...table.keys()].map((k) => k.length));
const widths = roots.map((_, i) =>
  Math.max(roots[i].length, ...[...table.values()].map((v) => v[i]?.length ?? 0)),
);
console.log(`${'case'.padEnd(w0)} | ${roots.map((r, i) => r.padEnd(widths[i])).join(' | ')}`);
for (const [name, cells] of table)
  console.log(`${name.padEnd(w0)} | ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')}`);
