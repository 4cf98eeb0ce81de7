// A STREAM-style measurement of this machine's memory bandwidth from Node: every worker thread (one per core by
// default) runs the same kernel on arrays far larger than the caches, all starting together; a round's bandwidth
// is the bytes all of them moved over the slowest one's time, and the best round counts (STREAM's convention).
//   copy: dst.set(src), i.e. memcpy, counted as 2 x 8 bytes per element (read + write), like STREAM's Copy;
//   read: a scan of the array for a byte it does not hold (Buffer.indexOf: memchr): what decoding does with weights.
//
//   node --import tsx bench/bandwidth.ts [--threads N] [--mib 256] [--rounds 5]
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

export interface Bandwidth {
  /** GB/s (10^9 bytes), best round. */
  copy: number;
  read: number;
  threads: number;
}

// Plain JavaScript, run with `eval`: the workers need no TypeScript loader.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const n = workerData.bytes / 8;
const a = new Float64Array(n).fill(2); // bytes 0x00 and 0x40 only, every page touched
const b = new Float64Array(n).fill(3);
const bytes = Buffer.from(a.buffer); // indexOf(1) reads all of it (memchr)
const gate = new Int32Array(workerData.gate);
parentPort.on('message', (kernel) => {
  Atomics.add(gate, 1, 1);
  while (Atomics.load(gate, 0) === 0) Atomics.wait(gate, 0, 0, 1);  // all start together
  const t0 = performance.now();
  const sink = kernel === 'copy' ? (b.set(a), 0) : bytes.indexOf(1);
  parentPort.postMessage({ ms: performance.now() - t0, sink });
});
parentPort.postMessage({ ready: true });
`;

export async function measureBandwidth({
  threads = availableParallelism(),
  mib = 256,
  rounds = 5,
} = {}): Promise<Bandwidth> {
  const bytes = mib * 2 ** 20;
  const gate = new SharedArrayBuffer(8);
  const gateView = new Int32Array(gate);
  const workers = Array.from(
    { length: threads },
    () => new Worker(WORKER, { eval: true, workerData: { bytes, gate } }),
  );
  const reply = (w: Worker) => new Promise<{ ms: number }>((resolve) => w.once('message', resolve));
  await Promise.all(workers.map(reply));
  const best = { copy: 0, read: 0 };
  try {
    for (let r = 0; r < rounds; r++)
      for (const kernel of ['copy', 'read'] as const) {
        Atomics.store(gateView, 0, 0);
        Atomics.store(gateView, 1, 0);
        const done = workers.map(reply);
        for (const w of workers) w.postMessage(kernel);
        while (Atomics.load(gateView, 1) < threads) await new Promise((r) => setTimeout(r, 1));
        Atomics.store(gateView, 0, 1);
        Atomics.notify(gateView, 0);
        const slowest = Math.max(...(await Promise.all(done)).map((d) => d.ms));
        const moved = threads * bytes * (kernel === 'copy' ? 2 : 1);
        best[kernel] = Math.max(best[kernel], moved / (slowest / 1000) / 1e9);
      }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return { ...best, threads };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string' },
      mib: { type: 'string', default: '256' },
      rounds: { type: 'string', default: '5' },
    },
  });
  const bw = await measureBandwidth({
    threads: values.threads ? Number(values.threads) : undefined,
    mib: Number(values.mib),
    rounds: Number(values.rounds),
  });
  console.log(
    `${bw.threads} threads x ${values.mib} MiB: copy ${bw.copy.toFixed(1)} GB/s, read ${bw.read.toFixed(1)} GB/s`,
  );
}
