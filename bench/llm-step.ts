// What a decode step of the llm graph (+ the lm_head graph for text) costs under each session and graph choice, at
// batch 1 and 8, interleaved round by round: intra-op threads (1 vs the cores), MatMulNBits accuracy_level (0 vs
// 4, graph copies made by bench/graph_variants.py), and text (llm + lm_head) vs an image step (llm alone, `hidden`
// is all it needs). With --profile,
// ORT's own profiler runs once per variant and the ops' share of the time is printed (docs/step-profile.md).
//
//   /usr/bin/python3 bench/graph_variants.py models/demo build/variants/demo
//   node --import tsx bench/llm-step.ts [--model models/demo] [--variants build/variants/demo] [--steps 64]
//                                       [--rounds 3] [--profile] [--kv-length N] [--head FILE ...]
//
// --head FILE (repeatable): one more text variant (acc 4, 1 thread) whose lm_head is that graph, e.g. another
// bundle's lm_head.onnx: an int4 (MatMulNBits) head beside an int8 one (convert --lm-head-bits 8).
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { readBundle } from '../src/model/bundle.ts';
import { sessionOptions } from '../src/model/worker-thread/devices.ts';
import { decoderKv } from './decoder-kv.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' },
    variants: { type: 'string', default: 'build/variants/demo' },
    steps: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    profile: { type: 'boolean', default: false },
    // KV layout length per row (default: just the positions the run fills). Attention reads every laid-out
    // position (masked past the row), so a longer one (e.g. --kv-length 512, a whole context) costs more per step.
    'kv-length': { type: 'string', default: '0' },
    head: { type: 'string', multiple: true, default: [] },
  },
});
const bundle = readBundle(values.model as string);
const STEPS = Number(values.steps);
const cores = availableParallelism();

interface Variant {
  name: string;
  acc: 0 | 4;
  threads: number;
  /** 'logits': a text step (llm, then lm_head on its hidden); 'hidden': an image step (llm alone). */
  fetch: 'logits' | 'hidden';
  /** lm_head graph instead of the variants folder's. */
  head?: string;
}
const variants: Variant[] = [
  ...([0, 4] as const).flatMap((acc) =>
    [cores, 1].map((threads) => ({
      name: `acc ${acc}, ${threads} thread${threads > 1 ? 's' : ''}, text (llm + lm_head)`,
      acc,
      threads,
      fetch: 'logits' as const,
    })),
  ),
  { name: `acc 4, ${cores} threads, image (llm only)`, acc: 4, threads: cores, fetch: 'hidden' },
  ...(values.head as string[]).map((head) => ({
    name: `acc 4, 1 thread, text, lm_head ${head}`,
    acc: 4 as const,
    threads: 1,
    fetch: 'logits' as const,
    head,
  })),
];
const graphPath = (graph: 'llm' | 'lm_head', acc: number) =>
  join(values.variants as string, `${graph}-acc${acc}.onnx`);

async function open(v: Variant, profile = false) {
  const options = {
    ...sessionOptions('cpu', { intraOpThreads: v.threads }),
    ...(profile ? { enableProfiling: true, profileFilePrefix: `/tmp/llm-step-${process.pid}` } : {}),
  };
  const session = await ort.InferenceSession.create(graphPath('llm', v.acc), options);
  const head = await ort.InferenceSession.create(v.head ?? graphPath('lm_head', v.acc), options);
  const D = (session.inputMetadata.find((m) => m.name === 'inputs_embeds') as unknown as { shape: number[] })
    .shape[2];
  return { session, head, D: Number(D) };
}

/** ms per decode step: batch rows at positions 16.., the runner's KV cache, the variant's fetch. */
async function steps(
  s: Awaited<ReturnType<typeof open>>,
  v: Variant,
  batch: number,
  n: number,
): Promise<number> {
  const { run } = decoderKv(s.session, batch, Number(values['kv-length']) || 16 + n + 1);
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: batch * s.D }, (_, i) => Math.sin(i)),
    [batch, 1, s.D],
  );
  const t0 = performance.now();
  for (let t = 0; t < n; t++) {
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: x,
      logits_index: new ort.Tensor('int64', new BigInt64Array(batch), [batch]),
    };
    const { hidden } = await run(feeds, new Array(batch).fill(16 + t), ['hidden']);
    if (v.fetch === 'logits') await s.head.run({ hidden });
  }
  return (performance.now() - t0) / n;
}

const sessions = await Promise.all(variants.map((v) => open(v)));
const results = variants.map(() => ({ 1: [] as number[], 8: [] as number[] }));
for (let r = 0; r <= Number(values.rounds); r++)
  for (const [i, v] of variants.entries())
    for (const batch of [1, 8] as const) {
      const ms = await steps(sessions[i], v, batch, STEPS);
      if (r > 0) results[i][batch].push(ms); // round 0 warms up
    }
await Promise.all(sessions.flatMap((s) => [s.session.release(), s.head.release()]));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `${bundle.name} llm decode step, ms (median of ${values.rounds} rounds of ${STEPS} steps), load average ${loadavg()[0].toFixed(1)} on ${cores} CPUs`,
);
console.log('| variant | batch 1 | batch 8 | batch 8 / batch 1 |\n|---|---|---|---|');
for (const [i, v] of variants.entries()) {
  const [a, b] = [median(results[i][1]), median(results[i][8])];
  console.log(`| ${v.name} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(b / a).toFixed(2)} |`);
}

if (values.profile)
  for (const v of [variants[0], variants[2], variants[4]]) {
    for (const batch of [1, 8]) {
      const s = await open(v, true);
      await steps(s, v, batch, STEPS);
      s.session.endProfiling(); // each writes PREFIX_<timestamp>.json
      s.head.endProfiling();
      await s.session.release();
      await s.head.release();
      const prefix = `llm-step-${process.pid}`;
      const events: { cat: string; name: string; dur: number; args?: { op_name?: string } }[] = [];
      for (const f of readdirSync('/tmp').filter((name) => name.startsWith(prefix))) {
        events.push(...JSON.parse(readFileSync(join('/tmp', f), 'utf8')));
        rmSync(join('/tmp', f));
      }
      const byOp = new Map<string, number>();
      for (const e of events)
        if (e.cat === 'Node' && e.name.endsWith('_kernel_time'))
          byOp.set(e.args?.op_name ?? '?', (byOp.get(e.args?.op_name ?? '?') ?? 0) + e.dur);
      const lmHead = events
        .filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && /lm_head/.test(e.name))
        .reduce((sum, e) => sum + e.dur, 0);
      const total = [...byOp.values()].reduce((a, b) => a + b, 0);
      console.log(
        `\nORT profile, ${v.name}, batch ${batch}: ${(total / 1000 / STEPS).toFixed(2)} ms of kernels per step, lm_head ${(lmHead / 1000 / STEPS).toFixed(2)} ms`,
      );
      for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 6))
        console.log(
          `  ${op.padEnd(34)} ${(us / 1000 / STEPS).toFixed(3)} ms/step  ${((100 * us) / total).toFixed(0)}%`,
        );
    }
  }
