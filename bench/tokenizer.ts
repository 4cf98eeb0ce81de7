// Encode/decode latency and peak memory of the UniTok tokenizer graphs on this machine.
//
//   node --import tsx bench/tokenizer.ts DIR [DIR ...] [--runs N] [--batch B]
//
// DIR is a tokenizer export (python3 -m unitok export-tokenizer --random --config large --out DIR) or a bundle.
// Prints one table row per folder: load time, first and median encode/decode times, and the process's peak RSS.

import { resourceUsage } from 'node:process';
import { parseArgs } from 'node:util';

import { UniTokTokenizer } from '../src/tokenizer/unitok.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: 'string', default: '3' }, batch: { type: 'string', default: '1' } },
});
const runs = Number(values.runs);
const batch = Number(values.batch);
if (!positionals.length) {
  console.error('usage: node --import tsx bench/tokenizer.ts DIR [DIR ...] [--runs N] [--batch B]');
  process.exit(2);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function timeIt(fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

const rows: string[][] = [];
for (const dir of positionals) {
  const t0 = performance.now();
  const tok = await UniTokTokenizer.load(dir, { graphs: ['encode', 'decode'] });
  const load = performance.now() - t0;
  const s = tok.config.img_size;
  const pixels = new Float32Array(batch * 3 * s * s).map((_, i) => Math.sin(i * 0.001));
  const codes = await tok.encodePixels(pixels, batch);
  const enc = await timeIt(() => tok.encodePixels(pixels, batch));
  const dec = await timeIt(() => tok.decode(codes));
  await tok.release();
  rows.push([
    tok.config.name,
    `${s}px ${tok.config.num_codebooks}x${tok.config.num_tokens}`,
    String(batch),
    (load / 1000).toFixed(2),
    median(enc).toFixed(1),
    median(dec).toFixed(1),
    (resourceUsage().maxRSS / 1024).toFixed(0),
  ]);
}

const head = ['config', 'image/codes', 'batch', 'load s', 'encode ms', 'decode ms', 'peak RSS MiB'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(
  [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'),
);
console.log(
  `(median of ${runs} runs after one warm-up; peak RSS is the whole process, cumulative over rows)`,
);
