// The released size on this CPU: text decoding of a 7B-shaped random int4 bundle through the engine, at batch 1
// and 4, beside llama.cpp (node-llama-cpp's prebuilt CPU binary) on a random Q4_0 GGUF of the same Llama-2-7B
// shapes, and beside the bandwidth limit: the bytes of weights each decode step reads over this machine's
// measured memory bandwidth (bench/bandwidth.ts). All in one run, interleaved round by round.
//
//   /usr/bin/python3 bench/make_bench_bundle.py --preset 7b build/bench7b      # ~30 min, 4.5 GiB
//   /usr/bin/python3 bench/make_gguf.py build/bench7b/llama-7b-q4_0.gguf       # ~1 min, 3.5 GiB
//   (cd bench/llama-cpp && npm ci)                                            # node-llama-cpp 3.21.1, bench-only
//   node --import tsx bench/llm7b.ts [--dir build/bench7b] [--tokens 16] [--rounds 2] [--image] [--spinning 0,1]
//
// Decode tokens/s leave the prefill out: the project's is batch / (mean step of a TOKENS-long greedy run of its
// graphs, bench/floor.ts); llama.cpp's (tokens - 1) per sequence over its batch's first to last token. Weights read per token: the llm graph's weights (every layer and lm_head; embed_tokens reads
// one row) for the project, the GGUF's tensors but token_embd for llama.cpp. --image also draws one image (CFG,
// the released 256 visual tokens x 8 codes) through the engine once the rounds are done. --spinning: one project row
// per value, its graphs' intra-op pools parked (0) or spinning (1) instead of the engine's choice (devices.ts).
import { readFileSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readBundle } from '../src/model/bundle.ts';
import { startEngine } from '../src/model/main-thread/engine.ts';
import { measureBandwidth } from './bandwidth.ts';
import { floorProcess, prompt } from './clients.ts';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: 'build/bench7b' },
    tokens: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
    threads: { type: 'string', default: String(cpus().length) },
    image: { type: 'boolean', default: false },
    spinning: { type: 'string', default: '' },
  },
});
const DIR = values.dir as string;
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);
const THREADS = Number(values.threads);
const BATCHES = [1, 4];
const GGUF = join(DIR, 'llama-7b-q4_0.gguf');
const bundle = readBundle(join(DIR, 'bundle'));

/** Per stream: the times its tokens arrived. */
type Arrivals = number[][];

/** Decode tokens/s of one batch: (tokens - 1) per stream over the first arrival to the last. */
function decodeRate(streams: Arrivals): number {
  const first = Math.min(...streams.map((s) => s[0]));
  const last = Math.max(...streams.map((s) => s[s.length - 1]));
  return streams.reduce((n, s) => n + s.length - 1, 0) / ((last - first) / 1000);
}

// ------------------------------------------------------------------------------------------------ the project

// Text: the project's graphs driven bare (bench/floor.ts in a process of its own: embed_tokens + llm, in-place
// KV, greedy): at 7B a step takes seconds, so the engine's own cost per step is noise, and the floor opens only
// the two text graphs (the engine would also hold the 4 GB of tokenizer and image graphs).
// One floor process per --spinning value, each holding its own copy of the weights.
const target = { model: join(DIR, 'bundle'), tokens: TOKENS };
const floors = new Map<string, Awaited<ReturnType<typeof floorProcess>>>();
for (const spin of values.spinning ? (values.spinning as string).split(',') : [''])
  floors.set(
    spin ? `project spin=${spin}` : 'project',
    await floorProcess(target, undefined, spin ? ['--spinning', spin] : []),
  );

/** One image through the engine, alone in memory (after the text rounds): seconds. */
async function projectImage(): Promise<number> {
  const engine = await startEngine({
    model: join(DIR, 'bundle'),
    device: 'cpu',
    maxQueue: 1,
    maxBatch: 2,
    threads: THREADS,
    contextLength: 384, // prompt + 256 visual tokens; fp32 KV is 1 MiB per position per row at 7B
  });
  await engine.loaded;
  if (engine.info().status !== 'ready') throw new Error(engine.info().statusMessage);
  const t0 = performance.now();
  const stream = await engine.submitImage({
    id: 'llm7b-image',
    n: 1,
    signal: new AbortController().signal,
    prompt: 'a red cube on a wooden table',
    sampling: {
      temperature: 1,
      topK: 0,
      topP: 1,
      seed: 1,
      guidanceScale: bundle.defaults.image.guidanceScale,
      bestOf: 1,
    },
    previewAt: [],
  });
  for await (const _ of stream);
  const seconds = (performance.now() - t0) / 1000;
  await engine.close();
  return seconds;
}

/** The llm and lm_head graphs' weights: all of them are read once per text decode step. */
function projectBytesPerToken(): number {
  let bytes = 0;
  for (const graph of [bundle.graphs.llm, bundle.graphs.lm_head]) {
    bytes += statSync(graph).size;
    try {
      bytes += statSync(`${graph}.data`).size;
    } catch {}
  }
  return bytes;
}

// ------------------------------------------------------------------------------------------------ llama.cpp

/** The parts of node-llama-cpp used here (a bench-only install: the project's type check must not need it). */
interface LlamaModel {
  tokenize(text: string, special: boolean): number[];
  createContext(o: { contextSize: number; sequences: number; threads: number }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}
interface LlamaContext {
  getSequence(): {
    evaluate(tokens: number[], o: { temperature: number }): AsyncIterable<number>;
    dispose(): void;
  };
  dispose(): Promise<void>;
}
const NODE_LLAMA_CPP = './llama-cpp/node_modules/node-llama-cpp/dist/index.js';
const llamaCpp = await import(NODE_LLAMA_CPP).catch(() => {
  throw new Error('node-llama-cpp is not installed: (cd bench/llama-cpp && npm ci)');
});
const llama = await llamaCpp.getLlama({ gpu: false, build: 'never' });
const model: LlamaModel = await llama.loadModel({ modelPath: GGUF });
const contexts = new Map<number, LlamaContext>();
for (const batch of BATCHES)
  contexts.set(
    batch,
    await model.createContext({ contextSize: 256 * batch, sequences: batch, threads: THREADS }),
  );

async function llamaBatch(batch: number): Promise<Arrivals> {
  const context = contexts.get(batch);
  if (!context) throw new Error(`no context for batch ${batch}`);
  return Promise.all(
    Array.from({ length: batch }, async (_, i) => {
      const sequence = context.getSequence();
      const at: number[] = [];
      try {
        for await (const _token of sequence.evaluate(model.tokenize(prompt(i), true), { temperature: 0 })) {
          at.push(performance.now());
          if (at.length >= TOKENS) break;
        }
      } finally {
        sequence.dispose();
      }
      return at;
    }),
  );
}

/** The GGUF's tensors but token_embd (a decode step reads one row of it): Q4_0, 18 bytes per 32 weights. */
function llamaBytesPerToken(): number {
  const hidden = JSON.parse(readFileSync(join(DIR, 'bundle', 'config.json'), 'utf8')).llm
    .hidden_size as number;
  return statSync(GGUF).size - ((hidden * bundle.vocabSize) / 32) * 18;
}

// ------------------------------------------------------------------------------------------------ main

const rates = new Map<string, number[]>();
const record = (key: string, rate: number) => rates.set(key, [...(rates.get(key) ?? []), rate]);
// Read bandwidth by thread count: one thread's, and THREADS threads' (what both engines decode with, and the
// machine's ceiling). On this shared 2-core machine the second figure has come out anywhere from one thread's
// (~32 GB/s) to nearly twice it (~58-61 GB/s), so both are printed and the limit is the best THREADS-thread round.
// STREAM's Copy (read + write, the suggested yardstick) is kept beside it: a decode step only reads.
const bandwidths = new Map<number, number[]>();
const copies: number[] = [];
await llamaBatch(1); // warm-up (the floor warmed itself up)
for (let r = 0; r < ROUNDS; r++) {
  for (const threads of new Set([1, THREADS])) {
    const measured = await measureBandwidth({ threads, rounds: 3 });
    bandwidths.set(threads, [...(bandwidths.get(threads) ?? []), measured.read]);
    if (threads === THREADS) copies.push(measured.copy);
  }
  for (const batch of BATCHES) {
    for (const [who, floor] of floors) record(`${who} ${batch}`, (batch * 1000) / (await floor.text(batch)));
    record(`llama.cpp ${batch}`, decodeRate(await llamaBatch(batch)));
  }
  console.error(`round ${r + 1}/${ROUNDS} done`);
}
for (const floor of floors.values()) floor.close();
for (const context of contexts.values()) await context.dispose();
await model.dispose();
const image = values.image ? await projectImage() : null;

const best = (xs: number[]) => Math.max(...xs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const bw = best(bandwidths.get(THREADS) ?? []);
const copy = best(copies);
const bytes = { project: projectBytesPerToken(), 'llama.cpp': llamaBytesPerToken() };
console.log(
  `7B shapes (${bundle.name}), ${TOKENS} tokens per stream, greedy, ${ROUNDS} rounds (median), ${THREADS} threads each, ` +
    `load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs; memory bandwidth (read, ${THREADS} threads, best ` +
    `of ${ROUNDS}): ${bw.toFixed(1)} GB/s (1 thread: best ${best(bandwidths.get(1) ?? []).toFixed(1)} GB/s); ` +
    `STREAM copy (${THREADS} threads, best): ${copy.toFixed(1)} GB/s`,
);
console.log(
  '| engine | batch | decode tok/s | ms/step | GB weights/token | bandwidth limit tok/s (batch 1) | achieved GB/s | of read bandwidth | of STREAM copy | vs llama.cpp |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const batch of BATCHES)
  for (const who of [...floors.keys(), 'llama.cpp']) {
    const rate = median(rates.get(`${who} ${batch}`) ?? [Number.NaN]);
    const steps = rate / batch; // decode steps per second: each reads the weights once
    const gb = bytes[who === 'llama.cpp' ? 'llama.cpp' : 'project'] / 1e9;
    const vsLlama = rate / median(rates.get(`llama.cpp ${batch}`) ?? [Number.NaN]);
    console.log(
      `| ${who} | ${batch} | ${rate.toFixed(2)} | ${(1000 / steps).toFixed(0)} | ${gb.toFixed(2)} | ${(bw / gb).toFixed(2)} | ` +
        `${(steps * gb).toFixed(1)} | ${((100 * steps * gb) / bw).toFixed(0)}% | ${((100 * steps * gb) / copy).toFixed(0)}% | ` +
        `${vsLlama.toFixed(2)}x |`,
    );
  }
console.log(
  `every round's rates: ${JSON.stringify(Object.fromEntries(rates))}, read GB/s by threads ${JSON.stringify(Object.fromEntries(bandwidths))}, ` +
    `copy GB/s ${JSON.stringify(copies)}`,
);
if (image !== null)
  console.log(
    `one image (CFG ${bundle.defaults.image.guidanceScale}, ${bundle.image.visualTokens} visual tokens x ${bundle.image.codesPerToken} codes): ${image.toFixed(1)} s`,
  );
