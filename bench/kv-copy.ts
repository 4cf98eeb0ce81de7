// What a decode run of the llm graph costs as its KV buffers grow while the positions it attends stay the same (4):
// onnxruntime-node 1.30's synchronous run hands every fetched output back as a new JavaScript array, copied, and
// the in-place KV buffers are fetched outputs (present.* aliased to past_key_values.*), so every step pays a copy of
// the whole cache however few positions it uses (docs/step-profile.md). Also checks that the returned present
// tensor is a copy (writing into it leaves the cache buffer unchanged) while the cache itself is updated in place.
//
//   node --import tsx bench/kv-copy.ts [--model models/demo] [--batch 8] [--lengths 64,128,256,512,1024] [--runs 30]
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { readBundle } from '../src/model/bundle.ts';
import { sessionOptions } from '../src/model/worker-thread/devices.ts';
import { inPlaceKv } from './in-place-kv.ts';

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
  '| KV buffer positions | KV MiB fetched per run | ms per run | returned present is a copy | cache updated in place |',
);
console.log('|---|---|---|---|---|');
for (const L of (values.lengths as string).split(',').map(Number)) {
  const { bind, buffers, headDim: hd } = inPlaceKv(session, B, L, 7);
  const run = () => {
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: x,
      seqlens_k: new ort.Tensor('int32', new Int32Array(B).fill(3), [B]),
      total_sequence_length: new ort.Tensor('int32', Int32Array.of(4), []),
      logits_index: new ort.Tensor('int64', new BigInt64Array(B), [B]),
    };
    return session.run(feeds, { ...bind(feeds), hidden: null });
  };
  const out = await run();
  const cache = buffers[0].t.data as Float32Array;
  const inPlace = cache[3 * hd] !== 7 && cache[4 * hd] === 7; // position 3 written, position 4 untouched
  (out['present.0.key'].data as Float32Array)[4 * hd] = -1;
  const copy = cache[4 * hd] === 7;
  for (let i = 0; i < 5; i++) await run();
  const t0 = performance.now();
  for (let i = 0; i < Number(values.runs); i++) await run();
  const ms = (performance.now() - t0) / Number(values.runs);
  const mib = buffers.reduce((sum, b) => sum + b.t.data.length * 4, 0) / 2 ** 20;
  console.log(
    `| ${L} | ${mib.toFixed(1)} | ${ms.toFixed(3)} | ${copy ? 'yes' : 'no'} | ${inPlace ? 'yes' : 'no'} |`,
  );
}
await session.release();
