// lm_head graphs side by side (e.g. a bundle's before and after `python3 -m unitok regraph --rebuild`): ms per run
// at batch 1, 4 and 8, fetching `argmax` alone (greedy steps), the logits (a fresh array from onnxruntime-node) or
// the logits into a preallocated buffer (alone, or with argmax: the runner's way), one intra-op thread, interleaved
// round by round. First checks that the heads agree on the argmax and prints how many logits differ.
//
//   node --import tsx bench/lm-head.ts --heads OLD/lm_head.onnx,models/demo/lm_head.onnx [--runs 200] [--rounds 5]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { Mulberry32 } from '../src/model/protocol/rng.ts';
import { sessionOptions } from '../src/model/worker-thread/devices.ts';
import { LogitsBuffer } from '../src/model/worker-thread/logits.ts';

const { values } = parseArgs({
  options: {
    heads: { type: 'string' },
    runs: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '5' },
  },
});
if (!values.heads) throw new Error('--heads A.onnx,B.onnx[,...] is required');
const paths = values.heads.split(',');
const sessions = await Promise.all(
  paths.map((p) => ort.InferenceSession.create(p, sessionOptions('cpu', { intraOpThreads: 1 }))),
);
const dims = (sessions[0].inputMetadata[0] as unknown as { shape: (number | string)[] }).shape;
const D = Number(dims[dims.length - 1]);
const BATCHES = [1, 4, 8];

/** Seeded hidden rows in [-2, 2). */
function hidden(batch: number, seed: number): ort.Tensor {
  const rng = new Mulberry32(seed);
  return new ort.Tensor(
    'float32',
    Float32Array.from({ length: batch * D }, () => (rng.uniform() - 0.5) * 4),
    [batch, D],
  );
}

const first = await sessions[0].run({ hidden: hidden(8, 7) });
const V = (first.logits.dims as number[])[1];
for (const [i, s] of sessions.entries()) {
  const out = await s.run({ hidden: hidden(8, 7) });
  const [a, b] = [first.logits.data as Float32Array, out.logits.data as Float32Array];
  const differ = a.reduce((n, x, j) => n + Number(x !== b[j]), 0);
  const same = String(out.argmax.data) === String(first.argmax.data);
  console.log(
    `${paths[i]}: ${differ} of ${a.length} logits differ from the first head's; argmax ${same ? 'equal' : 'DIFFERS'}`,
  );
}

// preallocated: the logits into the runner's buffer in WebAssembly memory (logits.ts); '+ argmax': with the
// argmax output fetched too, as the runner does (its nodes run either way).
const FETCHES = ['argmax', 'logits', 'preallocated', 'preallocated + argmax'] as const;
type Fetch = (typeof FETCHES)[number];
const buffer = new LogitsBuffer(8 * V).data;
const ms = new Map<string, number[]>();
for (let r = 0; r < Number(values.rounds); r++)
  for (const batch of BATCHES)
    for (const fetch of FETCHES as readonly Fetch[])
      for (const [i, s] of sessions.entries()) {
        const feeds = { hidden: hidden(batch, r) };
        const t0 = performance.now();
        for (let k = 0; k < Number(values.runs); k++)
          if (fetch.startsWith('preallocated'))
            await s.run(feeds, {
              logits: new ort.Tensor('float32', buffer.subarray(0, batch * V), [batch, V]),
              ...(fetch === 'preallocated + argmax' ? { argmax: null } : {}),
            });
          else await s.run(feeds, [fetch]);
        const key = `${batch}|${fetch}|${i}`;
        ms.set(key, [...(ms.get(key) ?? []), (performance.now() - t0) / Number(values.runs)]);
      }
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(
  `\nms per run, median of ${values.rounds} rounds of ${values.runs}, load average ${loadavg()[0].toFixed(1)}`,
);
console.log(`| batch | fetch | ${paths.join(' | ')} |\n|---|---|${paths.map(() => '---|').join('')}`);
for (const batch of BATCHES)
  for (const fetch of FETCHES)
    console.log(
      `| ${batch} | ${fetch} | ${paths.map((_, i) => median(ms.get(`${batch}|${fetch}|${i}`) ?? []).toFixed(3)).join(' | ')} |`,
    );
