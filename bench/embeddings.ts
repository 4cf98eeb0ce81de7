// POST /v1/embeddings latency through the real server and engine on 127.0.0.1, for 1 and 32 inputs.
//
//   node --import tsx bench/embeddings.ts [--runs N] [--threads T] BUNDLE [BUNDLE ...]
//
// Default bundles: models/demo (word-level text tower) and build/fixtures/clip/bundle (open_clip BPE text tower,
// tiny random weights; `python3 -m unitok fixtures --only clip` writes it). For each bundle, the cases run
// interleaved (case A, B, C, ... then again), after one warm-up round: 1 text, 32 texts in one request, 32
// one-text requests at once (coalesced by the engine's batcher), 1 image, 32 images in one request. Prints the
// median and 90th-percentile wall time per request round and the time per input.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { startEngine } from '../src/model/main-thread/engine.ts';
import { buildServer } from '../src/server/app.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: 'string', default: '15' }, threads: { type: 'string' } },
});
const runs = Number(values.runs);
const bundles = positionals.length
  ? positionals
  : ['models/demo', 'build/fixtures/clip/bundle'].filter(existsSync);

const CAPTIONS = [
  'a red circle at the top left',
  'a small green triangle in the bottom right corner on a cyan background',
  'a photo of a blue square',
  'a large yellow object in the center',
];
const texts = (n: number) =>
  Array.from({ length: n }, (_, i) => `${CAPTIONS[i % 4]} ${i % 7 ? '' : 'on gray'}`);

async function image(i: number): Promise<string> {
  const png = await sharp({
    create: { width: 96, height: 80, channels: 3, background: { r: (i * 37) % 256, g: 90, b: 200 } },
  })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

const rows: string[][] = [];
for (const model of bundles) {
  const engine = await startEngine({
    model,
    device: 'cpu',
    maxQueue: 64,
    maxBatch: 2,
    ...(values.threads ? { threads: Number(values.threads) } : {}),
  });
  await engine.loaded;
  if (engine.info().status !== 'ready') throw new Error(`${model}: ${engine.info().statusMessage}`);
  // Chat's limit of images per request (--max-images-per-request, default 4) raised for the 32-image case.
  const app = buildServer({ engine, logger: false, config: { images: { maxPerRequest: 32 } } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/v1/embeddings`;
  const post = async (input: unknown) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input }),
    });
    if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  };
  const images = await Promise.all(Array.from({ length: 32 }, (_, i) => image(i)));
  const part = (u: string) => ({ type: 'image_url', image_url: { url: u } });
  const cases: [string, number, () => Promise<unknown>][] = [
    ['1 text', 1, () => post(texts(1))],
    ['32 texts, one request', 32, () => post(texts(32))],
    ['32 one-text requests at once', 32, () => Promise.all(texts(32).map((t) => post(t)))],
    ['1 image', 1, () => post([part(images[0])])],
    ['32 images, one request', 32, () => post(images.map(part))],
  ];
  const times = cases.map(() => [] as number[]);
  for (let r = 0; r <= runs; r++) {
    for (const [i, [, , fn]] of cases.entries()) {
      const t0 = performance.now();
      await fn();
      if (r > 0) times[i].push(performance.now() - t0); // round 0 warms up
    }
  }
  const clip = engine.stats().clipRuns;
  for (const [i, [name, n]] of cases.entries()) {
    const med = pct(times[i], 0.5);
    rows.push([
      engine.info().id,
      engine.info().understanding.textTokenizer ?? 'none',
      name,
      med.toFixed(1),
      pct(times[i], 0.9).toFixed(1),
      (med / n).toFixed(2),
    ]);
  }
  console.error(`${model}: ${clip?.text} text runs, ${clip?.image} image runs for ${runs + 1} rounds`);
  await app.close();
  await engine.close();
}

const head = ['model', 'text tokenizer', 'case', 'median ms', 'p90 ms', 'ms / input'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(
  [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'),
);
console.log(
  `\n${runs} rounds after one warm-up, cases interleaved; CPU, ${process.env.UV_THREADPOOL_SIZE ?? 4} libuv threads.`,
);
