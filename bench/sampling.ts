// Sampling cost per token on a 32000-token vocabulary: ms of src/model/worker-thread/sampling.ts's sample() with
// the runner's SIMD scans (rows in a LogitsBuffer, as the runner has them) and without (plain arrays), for
// logits shaped like a trained model's (a few tokens near the top, the rest 20-35 nats below) and bell-shaped
// ones of two spreads (most tokens weigh something), optionally interleaved with another implementation of the
// same signature (e.g. an earlier commit's file) in the same rounds.
//
//   node --import tsx bench/sampling.ts [--baseline FILE.ts] [--rounds 6] [--logits FILE]
//
//   git show 510a7f7:src/model/worker-thread/sampling.ts > src/model/worker-thread/_sampling-before.ts
//   node --import tsx bench/sampling.ts --baseline src/model/worker-thread/_sampling-before.ts
//
// (The baseline file goes beside sampling.ts so that its imports resolve; it then uses today's weights.ts.)
// --logits: rows of raw float32 logits (a multiple of 32000 floats) to use as the 'file' distribution.
// Each figure is the median over rounds of the mean over 8 rows x 10 repeats; every implementation runs in
// each round, in turn.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Mulberry32, type SamplingSpec } from '../src/model/protocol/rng.ts';
import { LogitsBuffer } from '../src/model/worker-thread/logits.ts';
import { sample } from '../src/model/worker-thread/sampling.ts';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '6' },
    logits: { type: 'string' },
  },
});
const V = 32000;
const ROWS = 8;
const buffer = new LogitsBuffer(ROWS * V);
const views = Array.from({ length: ROWS }, (_, j) => buffer.data.subarray(j * V, (j + 1) * V));

type Sample = typeof sample;
const impls: [string, (row: number, spec: SamplingSpec, rng: Mulberry32) => number][] = [
  ['this, SIMD scans', (j, spec, rng) => sample(views[j], spec, rng, buffer)],
  ['this, scalar', (j, spec, rng) => sample(plain[j], spec, rng)],
];
if (values.baseline) {
  const base = (await import(resolve(values.baseline as string))).sample as Sample;
  impls.push(['baseline', (j, spec, rng) => base(views[j], spec, rng)]);
}

const g = new Mulberry32(1);
const bell = () => g.uniform() + g.uniform() + g.uniform() + g.uniform() - 2; // std 0.58
const distributions: [string, () => Float32Array[]][] = [
  [
    'trained-like',
    () =>
      Array.from({ length: ROWS }, () => {
        const row = Float32Array.from({ length: V }, () => -28 + bell() * 6);
        for (let k = 0; k < 30; k++) row[g.nextUint32() % V] = -12 * g.uniform();
        return row;
      }),
  ],
  [
    'bell, std 1',
    () => Array.from({ length: ROWS }, () => Float32Array.from({ length: V }, () => bell() * 1.73)),
  ],
  [
    'bell, std 6',
    () => Array.from({ length: ROWS }, () => Float32Array.from({ length: V }, () => bell() * 10.4)),
  ],
];
if (values.logits) {
  const bytes = readFileSync(values.logits as string);
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const rows = Math.floor(all.length / V);
  if (rows < 1) throw new Error(`--logits: ${all.length} floats, fewer than one row of ${V}`);
  distributions.unshift([
    'file',
    () => Array.from({ length: ROWS }, (_, j) => all.slice((j % rows) * V, ((j % rows) + 1) * V)),
  ]);
}
let plain: number[][] = [];

const specs: SamplingSpec[] = [
  { temperature: 1, topK: 0, topP: 1 },
  { temperature: 0.7, topK: 0, topP: 0.9 },
  { temperature: 0.8, topK: 40, topP: 0.95 },
];
const rounds = Number(values.rounds);
console.log(`sample() ms per token, V = ${V}, ${rounds} rounds, load average ${loadavg()[0].toFixed(1)}`);
console.log(`| logits | spec | ${impls.map(([name]) => name).join(' | ')} |`);
console.log(`|---|---|${impls.map(() => '---').join('|')}|`);
for (const [label, make] of distributions) {
  const rows = make();
  rows.forEach((row, j) => {
    views[j].set(row);
  });
  plain = rows.map((row) => Array.from(row));
  for (const spec of specs) {
    const ms: number[][] = impls.map(() => []);
    for (let round = 0; round <= rounds; round++)
      impls.forEach(([, fn], i) => {
        const rng = new Mulberry32(round);
        const t0 = performance.now();
        for (let rep = 0; rep < 10; rep++) for (let j = 0; j < ROWS; j++) fn(j, spec, rng);
        if (round > 0) ms[i].push((performance.now() - t0) / (10 * ROWS)); // round 0 warms up
      });
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
    const name = `T ${spec.temperature}, top-k ${spec.topK}, top-p ${spec.topP}`;
    console.log(`| ${label} | ${name} | ${ms.map((x) => median(x).toFixed(3)).join(' | ')} |`);
  }
}
