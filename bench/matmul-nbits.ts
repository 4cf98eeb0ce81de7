// How close ORT's int4 MatMulNBits kernel comes to this machine's memory bandwidth at batch 1 (what bounds the 7B
// decode rate of bench/llm7b.ts), by block size, accuracy_level and intra-op threads, interleaved round by round
// beside a STREAM-style read of the same run (bench/bandwidth.ts). Graphs: bench/matmul_nbits.py.
//
//   /usr/bin/python3 bench/matmul_nbits.py build/matmul-nbits
//   node --import tsx bench/matmul-nbits.ts [--dir build/matmul-nbits] [--runs 8] [--rounds 3] [--batch 1]
//        [--match acc4]   (only the graphs whose file name contains it)
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { sessionOptions } from '../src/model/worker-thread/devices.ts';
import { measureBandwidth } from './bandwidth.ts';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: 'build/matmul-nbits' },
    runs: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '1' },
    match: { type: 'string', default: '' },
  },
});
const DIR = values.dir as string;
const RUNS = Number(values.runs);
const BATCH = Number(values.batch);
const cores = availableParallelism();

const graphs = readdirSync(DIR)
  .filter((f) => /^matmul-b\d+-acc\d+\.onnx$/.test(f) && f.includes(values.match as string))
  .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
if (graphs.length === 0) throw new Error(`no graphs in ${DIR}: run bench/matmul_nbits.py ${DIR} first`);
const variants = graphs.flatMap((file) =>
  [cores, 1].map((threads) => ({ file, threads, bytes: statSync(join(DIR, `${file}.data`)).size })),
);
const sessions = [];
for (const v of variants)
  sessions.push(
    await ort.InferenceSession.create(
      join(DIR, v.file),
      sessionOptions('cpu', { intraOpThreads: v.threads }),
    ),
  );
const input = (n: number) =>
  new ort.Tensor(
    'float32',
    Float32Array.from({ length: BATCH * n }, (_, i) => Math.sin(i)),
    [BATCH, n],
  );
const feeds = { x4096: input(4096), x11008: input(11008) };

/** ms per call of every node of the graph, mean of RUNS calls. */
async function time(s: ort.InferenceSession): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < RUNS; i++) await s.run(feeds);
  return (performance.now() - t0) / RUNS;
}

const ms = variants.map(() => [] as number[]);
const reads: number[] = [];
for (let r = 0; r <= Number(values.rounds); r++) {
  for (const [i, s] of sessions.entries()) {
    const t = await time(s);
    if (r > 0) ms[i].push(t); // round 0 warms up
  }
  if (r > 0) reads.push((await measureBandwidth({ mib: 256, rounds: 2 })).read);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const bw = Math.max(...reads);
console.log(
  `MatMulNBits at batch ${BATCH}, ${RUNS} calls x ${values.rounds} rounds (medians), load average ${loadavg()[0].toFixed(1)} on ${cores} CPUs; read bandwidth ${bw.toFixed(1)} GB/s (best of the rounds: ${reads.map((x) => x.toFixed(1)).join(', ')})`,
);
console.log('| graph | threads | weight MB | ms per call | GB/s | of bandwidth |\n|---|---|---|---|---|---|');
for (const [i, v] of variants.entries()) {
  const t = median(ms[i]);
  const gbs = v.bytes / 1e9 / (t / 1000);
  console.log(
    `| ${v.file.replace('.onnx', '')} | ${v.threads} | ${(v.bytes / 1e6).toFixed(0)} | ${t.toFixed(1)} | ${gbs.toFixed(1)} | ${((100 * gbs) / bw).toFixed(0)}% |`,
  );
}
await Promise.all(sessions.map((s) => s.release()));
