// Scale-out on this machine: 3 server replicas on loopback behind HAProxy (Debian's `haproxy`, health checks on
// the readiness probe), a bounded closed-loop load (streamed chat, images, WebSocket image streams), and during it
// one replica is sent SIGTERM (it drains and exits) and another is restarted (SIGTERM, then started again).
// Passes when no request failed and every stream completed; prints the load table, the replica events and each
// drain's figures. Starts and stops everything it uses (also on Ctrl-C).
//
//   node --import tsx bench/scale-out.ts [--model models/demo] [--seconds 60] [--port 18400]
//
// HAProxy's part, as in production: `option httpchk GET /health/ready` takes a draining or loading replica out
// within one check; `retry-on conn-failure empty-response 503` with `option redispatch` sends a request that a
// replica refused while draining (503 server_draining) or that hit a closing connection to another replica.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Outcome, runLoad, summarize } from './load-clients.ts';
import { Replica } from './replicas.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' },
    seconds: { type: 'string', default: '60' },
    port: { type: 'string', default: '18400' },
    chat: { type: 'string', default: '6' },
    image: { type: 'string', default: '2' },
    ws: { type: 'string', default: '2' },
    'shutdown-timeout': { type: 'string', default: '30' },
  },
});
const seconds = Number(values.seconds);
const lbPort = Number(values.port);
const root = resolve('.');
const model = resolve(values.model as string);
const began = performance.now();
const at = () => ((performance.now() - began) / 1000).toFixed(1).padStart(6);
const events: string[] = [];
const event = (text: string) => {
  const line = `${at()} s  ${text}`;
  events.push(line);
  console.log(line);
};

const replicas = [1, 2, 3].map(
  (i) =>
    new Replica({
      root,
      port: lbPort + i,
      model,
      name: `r${i}`,
      args: ['--log-level', 'info', '--shutdown-timeout-seconds', values['shutdown-timeout'] as string],
    }),
);

function haproxyConfig(): string {
  return `global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 300s
  timeout server 300s
  timeout tunnel 300s
  # The readiness probe pings the engine's workers, which answer between steps: allow for a busy replica.
  timeout check 2s
  option http-buffer-request
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response 503
frontend api
  bind 127.0.0.1:${lbPort}
  default_backend unitok
backend unitok
  balance leastconn
  option httpchk GET /health/ready
  http-check expect status 200
  default-server inter 500ms fastinter 250ms fall 1 rise 2
${replicas.map((r) => `  server ${r.options.name} 127.0.0.1:${r.options.port} check`).join('\n')}
`;
}

let haproxy: ChildProcess | null = null;
const dir = mkdtempSync(join(tmpdir(), 'unitok-scale-out-'));
async function cleanup(): Promise<void> {
  await Promise.all(replicas.map((r) => r.stop('SIGKILL').catch(() => 0)));
  if (haproxy && haproxy.exitCode === null) {
    const exited = once(haproxy, 'exit');
    haproxy.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

let failed = true;
try {
  await Promise.all(replicas.map((r) => r.start()));
  event('3 replicas ready');
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, haproxyConfig());
  haproxy = spawn('haproxy', ['-f', config, '-db'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const lb = `http://127.0.0.1:${lbPort}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${lb}/health/ready`)).status === 200) break;
    } catch {
      if (i > 100) throw new Error('haproxy did not come up');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  event(`haproxy on ${lb}`);

  const load = runLoad({
    url: lb,
    chat: Number(values.chat),
    image: Number(values.image),
    ws: Number(values.ws),
    durationMs: seconds * 1000,
    chatTokens: 48,
    onOutcome: (o: Outcome) => {
      if (!o.ok) event(`FAILED ${o.kind} ${o.status} ${o.error}`);
    },
  });

  // One replica leaves for good (a scale-down or a node drain); another is restarted (a rolling update).
  const drains: { replica: string; exitMs: number; report: ReturnType<Replica['drainReport']> }[] = [];
  const terminate = async (r: Replica) => {
    event(`SIGTERM ${r.options.name}`);
    const exitMs = await r.stop('SIGTERM');
    const report = r.drainReport();
    drains.push({ replica: r.options.name, exitMs, report });
    event(
      `${r.options.name} exited ${r.exitCode} after ${exitMs.toFixed(0)} ms: ${report?.inFlight} requests in flight at SIGTERM, ${report?.finished} finished, ${report?.ended} ended`,
    );
  };
  await new Promise((r) => setTimeout(r, (seconds * 1000) / 4));
  await terminate(replicas[1]);
  await new Promise((r) => setTimeout(r, (seconds * 1000) / 8));
  await terminate(replicas[2]);
  replicas[2].log = '';
  await replicas[2].start();
  event(`${replicas[2].options.name} restarted and ready`);

  const outcomes = await load;
  event('load finished');
  console.log(
    `\nScale-out: 3 replicas behind HAProxy, ${values.chat} chat (streamed) + ${values.image} image + ${values.ws} WebSocket clients, ${seconds} s`,
  );
  for (const row of summarize(outcomes)) console.log(row);
  console.log('\nReplica events:');
  for (const line of events) console.log(line);
  console.log('\nDrains:');
  console.log('replica  in flight at SIGTERM  finished  ended  drain ms  SIGTERM -> exit ms');
  for (const d of drains) {
    console.log(
      `${d.replica.padEnd(8)} ${String(d.report?.inFlight).padStart(20)} ${String(d.report?.finished).padStart(9)} ${String(d.report?.ended).padStart(6)} ${d.report?.ms.toFixed(0).padStart(9)} ${d.exitMs.toFixed(0).padStart(19)}`,
    );
  }
  const bad = outcomes.filter((o) => !o.ok).length;
  console.log(`\n${bad === 0 ? 'PASS' : 'FAIL'}: ${outcomes.length} requests, ${bad} failed`);
  failed = bad > 0;
} finally {
  await cleanup();
}
process.exit(failed ? 1 : 0);
