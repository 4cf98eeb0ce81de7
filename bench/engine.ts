// Serving benchmark: the engine in-process and the same engine behind the HTTP server (`npm start` in a child
// process), under 1, 4 and 8 concurrent streams at temperature 0 and 1, next to the bare session.run loop on the
// same bundle as the floor, which runs in a clean process of its own (bench/floor.ts).
//
//   node --import tsx bench/engine.ts [--model models/demo] [--tokens 64] [--rounds 2] [--multi-step 1,8]
//        [--temperatures 0,1] [--streams 1,4,8] [--images 1,4 | ''] [--url http://127.0.0.1:8000 | --no-http] [--no-floor]
//        [--keep-eos] [--runners 1,2] [--curl]
//
// --curl: each server through curl too ('http-curl' rows): one process per stream that parses nothing until the
// end, where the node client parses every chunk's JSON on the cores the server would use (throughput only).
// --multi-step: one in-process engine per value of EngineTuning.multiStep (most decode steps per runner call);
// empty: none. --runners: one HTTP server and one in-process engine (per --multi-step value) per value of
// EngineOptions.runners (default: the server's own choice). --url: measure running servers instead of starting
// one, `URL` or `NAME=URL`, comma-separated (e.g. another commit's server beside this one's; bench/gpu.sh:
// --multi-step '' --no-floor). --baseline-root DIR: also
// start the server of the checkout at DIR (client 'http:baseline'), e.g. `git worktree add /tmp/base main`. Every client and the floor take turns within each
// round (each round starting with the next client), so that each row of the table saw the same machine load.
//
// Metrics follow vLLM's benchmark_serving definitions, measured at the client:
//   TTFT  send -> first streamed text;  ITL  gaps between consecutive text chunks (all streams pooled);
//   TPOT  per request (E2E - TTFT) / (output tokens - 1), median over requests (robust on a shared machine);
//   throughput  output tokens of all streams / wall time.
// Floor: embed_tokens + llm with in-place KV + argmax, one batched greedy step per token, timed like TPOT (mean
// step of a TOKENS-long run, median over the row's runs); `overhead` = TPOT / floor step at the same batch - 1
// (at temperature > 0 it includes sampling, which the greedy floor does not do).
// `worker ms/step` is the runner thread's own time per step (embed + llm + sampling + plan handling): the part of
// TPOT that is compute, whatever the machine's load; TPOT - worker is the main thread and the message hops.
// Images: one request of n = 1 and of n = 4 (CFG, K depth steps per visual token) end to end, per image, against
// the floor's bare greedy image loop. `--images 1,4,1x4`: NxB is n = N with best_of B (each image the best of B
// drawings; plain N is best_of 1, one drawing per image, whatever the model's default).
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { readBundle } from '../src/model/bundle.ts';
import { MULTI_STEP } from '../src/model/main-thread/engine.ts';
import {
  type Client,
  curlClient,
  engineClient,
  floorProcess,
  httpClient,
  serverProcess,
  type Trace,
} from './clients.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' },
    tokens: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '2' },
    'multi-step': { type: 'string', default: `1,${MULTI_STEP}` },
    temperatures: { type: 'string', default: '0,1' },
    streams: { type: 'string', default: '1,4,8' },
    images: { type: 'string', default: '1,4' },
    url: { type: 'string' },
    'baseline-root': { type: 'string' },
    'no-http': { type: 'boolean', default: false },
    'no-floor': { type: 'boolean', default: false },
    'keep-eos': { type: 'boolean', default: false },
    runners: { type: 'string', default: '' },
    curl: { type: 'boolean', default: false },
  },
});
const MODEL = values.model as string;
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = (values.streams as string).split(',').map(Number);
const TEMPERATURES = (values.temperatures as string).split(',').map(Number);
/** EngineOptions.runners to compare; undefined: the server's default. */
const RUNNERS: (number | undefined)[] = values.runners
  ? (values.runners as string).split(',').map(Number)
  : [undefined];
const bundle = readBundle(MODEL);

/** xs from index `by` (mod its length) round to the start. */
const rotate = <T>(xs: T[], by: number): T[] => xs.map((_, i) => xs[(i + by) % xs.length]);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const p99 = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))] ?? Number.NaN;
// Every stream generates TOKENS tokens (ignore_eos) unless --keep-eos, for servers that predate ignore_eos.
const target = { model: MODEL, tokens: TOKENS, ignoreEos: !values['keep-eos'] };

// ------------------------------------------------------------------------------------------------ main

interface Row {
  streams: number;
  temperature: number;
  /** Client label: max steps per runner call, or 'http'. */
  client: string;
  ttft: number;
  tpot: number;
  itl: number;
  itlP99: number;
  tokS: number;
  floor: number;
  /** ms the runner worker spent per step (its own timer), NaN over HTTP. */
  worker: number;
}

function workPerStep(a: ReturnType<Client['work']>, b: ReturnType<Client['work']>): number {
  return a && b ? (b.busyMs - a.busyMs) / (b.steps - a.steps) : Number.NaN;
}

/** The table's metrics from one client's traces at one concurrency. */
function summarise(traces: Trace[], wall: number): Pick<Row, 'ttft' | 'tpot' | 'itl' | 'itlP99' | 'tokS'> {
  const ttft = traces.filter((t) => t.chunks.length > 0).map((t) => t.chunks[0].at - t.start); // eos at once: none
  const tpot = traces
    .filter((t) => t.outputTokens > 1 && t.chunks.length > 1)
    .map((t) => (t.chunks[t.chunks.length - 1].at - t.chunks[0].at) / (t.outputTokens - 1));
  const itl = traces.flatMap((t) => t.chunks.slice(1).map((ch, i) => ch.at - t.chunks[i].at));
  const tokens = traces.reduce((s, t) => s + t.outputTokens, 0);
  return {
    ttft: median(ttft),
    tpot: median(tpot),
    itl: mean(itl),
    itlP99: p99(itl),
    tokS: tokens / (wall / 1000),
  };
}

const f = (x: number, d = 2) => x.toFixed(d);

function printTable(table: string[][]): void {
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const line = (row: string[]) => `| ${row.map((c, i) => c.padStart(widths[i])).join(' | ')} |`;
  console.log(
    [line(table[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...table.slice(1).map(line)].join(
      '\n',
    ),
  );
}

async function main() {
  const floor = values['no-floor'] ? null : await floorProcess(target);
  // --runners: one server (and one in-process engine per --multi-step value) per runner count.
  const servers =
    values.url || values['no-http']
      ? []
      : await Promise.all(
          RUNNERS.map(async (n) => ({
            name: n === undefined ? '' : `runners=${n}`,
            ...(await serverProcess(target, undefined, n === undefined ? [] : ['--runners', String(n)])),
          })),
        );
  const baseline = values['baseline-root']
    ? await serverProcess(target, values['baseline-root'] as string)
    : null;
  const urls = values.url
    ? (values.url as string)
        .split(',')
        .map((u) => (u.includes('=') ? (u.split('=', 2) as [string, string]) : ['', u]))
    : servers.map((s) => [s.name, s.url]);
  const url = urls.length > 0 || values['baseline-root'] !== undefined;
  const clients = [
    ...(await Promise.all(
      (values['multi-step'] as string)
        .split(',')
        .filter(Boolean)
        .flatMap((m) => RUNNERS.map((runners) => engineClient(target, { multiStep: Number(m), runners }))),
    )),
    ...(await Promise.all(urls.map(([name, u]) => httpClient(target, u, name)))),
    ...(baseline ? [await httpClient(target, baseline.url, 'baseline')] : []),
    // --curl: the same servers through curl as well (a client that leaves the server the machine's cores).
    ...(values.curl
      ? await Promise.all([
          ...urls.map(([name, u]) => curlClient(target, u, name)),
          ...(baseline ? [curlClient(target, baseline.url, 'baseline')] : []),
        ])
      : []),
  ];
  for (const client of clients) for (const t of TEMPERATURES) await client.chat(0, t); // warm-ups
  const rows: Row[] = [];
  // The floor and the clients take turns within each round, so that all of them see the same machine load.
  for (const c of CONCURRENCY) {
    const floors: number[] = [];
    const runs = clients.flatMap((client) =>
      TEMPERATURES.map((temperature) => ({
        client,
        temperature,
        traces: [] as Trace[],
        wall: 0,
        worker: [] as number[],
      })),
    );
    for (let r = 0; r < ROUNDS; r++) {
      if (floor) floors.push(await floor.text(c));
      // Each round starts with the next client, so that none always runs right after the same one (the
      // in-process engine's threads, still winding down, slowed whichever HTTP server came after them).
      for (const run of rotate(runs, (r * runs.length) / clients.length)) {
        const before = run.client.work();
        await run.client.prepare?.(c);
        const t0 = performance.now();
        run.traces.push(
          ...(await Promise.all(
            Array.from({ length: c }, (_, i) => run.client.chat(r * 100 + i, run.temperature)),
          )),
        );
        run.wall += performance.now() - t0;
        run.worker.push(workPerStep(before, run.client.work()));
      }
    }
    for (const run of runs)
      rows.push({
        streams: c,
        temperature: run.temperature,
        client: run.client.label,
        ...summarise(run.traces, run.wall),
        floor: median(floors),
        worker: mean(run.worker),
      });
  }
  const imageCases = (values.images as string) // '' = no image rows
    .split(',')
    .filter(Boolean)
    .map((item) => {
      const [n, bestOf = 1] = item.split('x').map(Number);
      return { n, bestOf, label: bestOf > 1 ? `n=${n} best of ${bestOf}` : `n=${n}` };
    });
  const images = clients.map(() => imageCases.map(() => [] as { first: number; total: number }[]));
  const floorImages: number[] = [];
  for (let r = 0; r < ROUNDS + 1; r++) {
    for (const i of rotate(
      clients.map((_, i) => i),
      r,
    ))
      for (const [j, { n, bestOf }] of imageCases.entries())
        images[i][j].push(await clients[i].image(n, bestOf));
    if (floor) floorImages.push(await floor.image());
  }
  for (const lists of images) for (const list of lists) list.shift(); // warm-up
  floorImages.shift();
  for (const client of clients) await client.close();
  floor?.close();
  for (const s of servers) s.close();
  baseline?.close();

  console.log(
    `${bundle.name}, ${TOKENS} output tokens per stream, ${ROUNDS} rounds per row, load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs; ` +
      `clients: ${[
        ...(values['multi-step'] ? [`in-process engine with steps/call ${values['multi-step']}`] : []),
        ...(url ? [`HTTP ${values.url ? values.url : '(npm start in a child process)'}`] : []),
      ].join(', ')}`,
  );
  printTable([
    [
      'streams',
      'T',
      'client',
      'TTFT ms (p50)',
      'TPOT ms (p50)',
      'ITL ms (mean)',
      'ITL ms (p99)',
      'output tok/s',
      'floor step ms',
      'floor tok/s',
      'overhead',
      'worker ms/step',
    ],
    ...rows.map((r) => [
      String(r.streams),
      String(r.temperature),
      r.client,
      f(r.ttft),
      f(r.tpot),
      f(r.itl),
      f(r.itlP99),
      f(r.tokS, 0),
      f(r.floor),
      f((r.streams * 1000) / r.floor, 0),
      `${f((r.tpot / r.floor - 1) * 100, 0)}%`,
      f(r.worker),
    ]),
  ]);
  const tokS = (c: number, t: number, client: string) =>
    rows.find((r) => r.streams === c && r.temperature === t && r.client === client)?.tokS ?? Number.NaN;
  const last = CONCURRENCY[CONCURRENCY.length - 1];
  console.log(`\n8 streams vs 1, output tokens/s (goal >= 3x); HTTP vs in-process (goal: HTTP within 20%):`);
  const inProcess = clients.filter((c) => !c.label.startsWith('http')).map((c) => c.label);
  const compare = url && inProcess.length > 0;
  printTable([
    [
      'T',
      'client',
      '8 vs 1',
      ...CONCURRENCY.map((c) => `${c} streams tok/s`),
      ...(compare ? CONCURRENCY.map((c) => `HTTP / best in-process (${c})`) : []),
    ],
    ...TEMPERATURES.flatMap((t) =>
      clients.map((client) => [
        String(t),
        client.label,
        `${f(tokS(last, t, client.label) / tokS(1, t, client.label))}x`,
        ...CONCURRENCY.map((c) => f(tokS(c, t, client.label), 0)),
        ...(compare
          ? CONCURRENCY.map((c) =>
              client.label.startsWith('http')
                ? f(tokS(c, t, client.label) / Math.max(...inProcess.map((l) => tokS(c, t, l))))
                : '',
            )
          : []),
      ]),
    ),
  ]);
  const { guidanceScale: guidance } = bundle.defaults.image;
  const { visualTokens, codesPerToken } = bundle.image;
  console.log(
    `\nimages (CFG ${guidance}, ${visualTokens} visual tokens x ${codesPerToken} codes), medians of ${ROUNDS}:`,
  );
  printTable([
    ['client', ...imageCases.flatMap(({ label }) => [`${label}: first token ms`, `${label}: s per image`])],
    ...clients.map((client, i) => [
      client.label,
      ...imageCases.flatMap(({ n }, j) => [
        f(median(images[i][j].map((x) => x.first))),
        f(median(images[i][j].map((x) => x.total)) / 1000 / n, 3),
      ]),
    ]),
    ...(floor
      ? [
          [
            'floor (bare greedy loop + unitok_decode, n=1)',
            '',
            f(median(floorImages) / 1000, 3),
            ...imageCases.slice(1).flatMap(() => ['', '']),
          ],
        ]
      : []),
  ]);
}

await main();
