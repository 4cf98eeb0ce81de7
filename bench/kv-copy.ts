// What a decode run of the llm graph costs as its KV layout grows while the positions it attends stay the same (4).
// Bundle format 2's graphs returned GroupQueryAttention's present outputs, aliased to the cache, and onnxruntime-node
// 1.30 hands every fetched output back as a new JavaScript array, copied: every run copied every bound row's whole
// cache (batch 8 of the demo: 0.88 ms at 64 positions laid out, 1.76 at 128, 3.35 at 256). Format 3's graphs take
// the cache as an input only and return the new positions' keys and values; what remains to grow with the layout is
// attention reading the masked slots. Also checks that the cache is updated (position 4 written, 5 untouched).
//
//   node --import tsx bench/kv-copy.ts [--model models/demo] [--batch 8] [--lengths 64,128,256,512,1024] [--runs 30]
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { readBundle } from '../src/model/bundle.ts';
import { sessionOptions } from '../src/model/worker-thread/devices.ts';
import { decoderKv } from './decoder-kv.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' },
    batch: { type: 'string', default: '8' },
    lengths: { type: 'string', default: '64,128,256,512,1024' },
    runs: { type: 'string', default: '30' },
  },
});
const bundle = readBundle(values.model as string);
const B = Number(values.batch);
const session = await ort.InferenceSession.create(
  bundle.graphs.llm,
  sessionOptions('cpu', { intraOpThreads: 1 }),
);
const D = Number(
  (session.inputMetadata.find((m) => m.name === 'inputs_embeds') as unknown as { shape: number[] }).shape[2],
);
const x = new ort.Tensor(
  'float32',
  Float32Array.from({ length: B * D }, (_, i) => Math.sin(i)),
  [B, 1, D],
);

console.log(`${bundle.name} llm decode run, batch ${B}, 4 positions attended, one intra-op thread`);
console.log(
  '| KV layout positions | KV MiB read per run | KiB returned per run | ms per run | cache updated |',
);
console.log('|---|---|---|---|---|');
for (const L of (values.lengths as string).split(',').map(Number)) {
  const { kv, run } = decoderKv(session, B, L);
  const step = () =>
    run(
      { inputs_embeds: x, logits_index: new ort.Tensor('int64', new BigInt64Array(B), [B]) },
      new Array(B).fill(4),
      ['hidden'],
    );
  const out = await step();
  const feeds: Record<string, ort.Tensor> = {};
  kv.bind(0, B, feeds);
  const cache = Object.values(feeds)[0].data as Float32Array;
  const hd = Object.values(feeds)[0].dims[3];
  const updated =
    cache.subarray(4 * hd, 5 * hd).some((v) => v !== 0) &&
    cache.subarray(5 * hd).every((v, i) => i >= (L - 5) * hd || v === 0);
  const returned = Object.values(out).reduce((n, t) => n + (t.data as Float32Array).byteLength, 0) / 1024;
  for (let i = 0; i < 5; i++) await step();
  const t0 = performance.now();
  for (let i = 0; i < Number(values.runs); i++) await step();
  const ms = (performance.now() - t0) / Number(values.runs);
  const mib = Object.values(feeds).reduce((n, t) => n + (t.data as Float32Array).byteLength, 0) / 2 ** 20;
  console.log(
    `| ${L} | ${mib.toFixed(1)} | ${returned.toFixed(1)} | ${ms.toFixed(3)} | ${updated ? 'yes' : 'no'} |`,
  );
}
await session.release();
