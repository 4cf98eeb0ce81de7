// CLIP text tower latency at a given size, graph only (no server), for 1 and 32 texts: what /v1/embeddings costs
// for text on a model whose bundle is too large to build here (the released 12-layer, 768-wide tower).
//
//   python3 -m unitok export-tokenizer --random --config large --graphs clip_text --out /tmp/clip-large
//   node --import tsx bench/clip-text-tower.ts /tmp/clip-large [--runs N] [--threads T]
//
// Texts are tokenised by the CLIP BPE tokenizer (assets/clip), padded to the tower's context; the batch sizes run
// interleaved after one warm-up round. Prints median and p90 per run and the time per text, plus the tokenizer's
// own time for 32 texts.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLIP_MERGES_FILE, ClipBpeTokenizer } from '../src/tokenizer/clip-bpe.ts';
import { UniTokTokenizer } from '../src/tokenizer/unitok.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: 'string', default: '10' }, threads: { type: 'string' } },
});
if (positionals.length !== 1) {
  console.error('usage: node --import tsx bench/clip-text-tower.ts DIR [--runs N] [--threads T]');
  process.exit(2);
}
const runs = Number(values.runs);
const dir = positionals[0];
const tok = await UniTokTokenizer.load(dir, {
  graphs: ['clip_text'],
  ...(values.threads ? { intraOpNumThreads: Number(values.threads) } : {}),
});
const bpe = ClipBpeTokenizer.load(join(import.meta.dirname, '..', 'assets', 'clip', CLIP_MERGES_FILE));
const T = tok.config.text_context_length;
const texts = Array.from(
  { length: 32 },
  (_, i) => `a photo of a ${['cat', 'red bicycle', 'tench', 'lighthouse'][i % 4]}, number ${i}.`,
);

function ids(count: number): BigInt64Array {
  const out = new BigInt64Array(count * T);
  for (let i = 0; i < count; i++) out.set(bpe.tokenize(texts[i], T).map(BigInt), i * T);
  return out;
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const sizes = [1, 32];
const times: number[][] = sizes.map(() => []);
const tokenizeTimes: number[] = [];
for (let r = 0; r <= runs; r++) {
  for (const [i, n] of sizes.entries()) {
    const t0 = performance.now();
    const batch = ids(n);
    const t1 = performance.now();
    await tok.textEmbeddings(batch, n);
    if (r > 0) {
      times[i].push(performance.now() - t0);
      if (n === 32) tokenizeTimes.push(t1 - t0);
    }
  }
}
await tok.release();

const c = tok.config;
const rows = sizes.map((n, i) => [
  `${c.name}: ${c.text_layers} layers, width ${c.text_width}, context ${T}`,
  String(n),
  pct(times[i], 0.5).toFixed(1),
  pct(times[i], 0.9).toFixed(1),
  (pct(times[i], 0.5) / n).toFixed(2),
]);
const head = ['text tower', 'texts', 'median ms', 'p90 ms', 'ms / text'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => `| ${r.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
console.log(
  [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'),
);
console.log(
  `\n${runs} runs after one warm-up, batch sizes interleaved, CPU; tokenising 32 texts: median ${pct(tokenizeTimes, 0.5).toFixed(2)} ms (included above).`,
);
