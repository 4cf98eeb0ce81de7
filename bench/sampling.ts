// Sampling cost per token on a 32000-token vocabulary: CPU ms of src/model/worker-thread/sampling.ts's sample()
// for bell-shaped logits of three spreads and the usual filter settings, optionally interleaved with another
// implementation of the same signature (e.g. an earlier commit's file) in the same rounds.
//
//   node --import tsx bench/sampling.ts [--baseline FILE.ts] [--rounds 6]
//
//   git show 4021974:src/model/worker-thread/sampling.ts > /tmp/sampling-before.ts   # the full-sort version
//   node --import tsx bench/sampling.ts --baseline /tmp/sampling-before.ts
//
// CPU time (process.cpuUsage), not wall time: on a shared machine it is the steadier of the two.
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Mulberry32, type SamplingSpec } from '../src/model/protocol/rng.ts';
import { sample } from '../src/model/worker-thread/sampling.ts';

const { values } = parseArgs({
  options: { baseline: { type: 'string' }, rounds: { type: 'string', default: '6' } },
});
type Sample = typeof sample;
const impls: [string, Sample][] = [['this', sample]];
if (values.baseline)
  impls.push(['baseline', (await import(resolve(values.baseline as string))).sample as Sample]);

const V = 32000;
const STREAMS = 8;
const g = new Mulberry32(1);
const bell = () => g.uniform() + g.uniform() + g.uniform() + g.uniform() - 2; // std 0.58
const specs: SamplingSpec[] = [
  { temperature: 1, topK: 0, topP: 1 },
  { temperature: 1, topK: 0, topP: 0.9 },
  { temperature: 0.8, topK: 40, topP: 0.95 },
];
console.log(
  `sample() CPU ms per token, V = ${V}, ${values.rounds} rounds, load average ${loadavg()[0].toFixed(1)}`,
);
console.log(`| logit std | spec | ${impls.map(([name]) => name).join(' | ')} |`);
console.log(`|---|---|${impls.map(() => '---').join('|')}|`);
for (const std of [1, 3, 6]) {
  const rows = Array.from({ length: STREAMS }, () =>
    Float32Array.from({ length: V }, () => bell() * std * 1.73),
  );
  for (const spec of specs) {
    const ms = impls.map(() => 0);
    for (let round = 0; round <= Number(values.rounds); round++)
      impls.forEach(([, fn], i) => {
        const rng = new Mulberry32(round);
        const t0 = process.cpuUsage();
        for (let rep = 0; rep < 10; rep++) for (const logits of rows) fn(logits, spec, rng);
        const d = process.cpuUsage(t0);
        if (round > 0) ms[i] += (d.user + d.system) / 1000 / (10 * STREAMS) / Number(values.rounds); // round 0 warms up
      });
    const label = `T ${spec.temperature}, top-k ${spec.topK}, top-p ${spec.topP}`;
    console.log(`| ${std} | ${label} | ${ms.map((x) => x.toFixed(3)).join(' | ')} |`);
  }
}
