// Does a second runner pay on this machine? The bare decode floor (bench/floor.ts) of one process at batch B against
// R processes at batch B / R each, running at the same time (what `--runners R` does with R worker threads, each with
// its own sessions and KV cache), interleaved round by round. Prints output tokens/s per layout, medians over rounds.
//
//   node --import tsx bench/floor-parallel.ts [--model models/demo] [--batches 1,2,4,8] [--runners 1,2]
//        [--tokens 64] [--rounds 5]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { floorProcess } from './clients.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' },
    batches: { type: 'string', default: '1,2,4,8' },
    runners: { type: 'string', default: '1,2' },
    tokens: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '5' },
  },
});
const BATCHES = (values.batches as string).split(',').map(Number);
const RUNNERS = (values.runners as string).split(',').map(Number);

const most = Math.max(...RUNNERS);
const target = { model: values.model as string, tokens: Number(values.tokens) };
const floors = await Promise.all(Array.from({ length: most }, () => floorProcess(target)));
// tok/s of each (batch, runners) layout, per round: R processes each decode batch / R rows at once.
const layouts = BATCHES.flatMap((batch) =>
  RUNNERS.filter((r) => batch % r === 0).map((runners) => ({ batch, runners })),
);
const rates = layouts.map(() => [] as number[]);
for (let round = 0; round < Number(values.rounds); round++)
  for (const [i, { batch, runners }] of layouts.entries()) {
    const t0 = performance.now();
    await Promise.all(floors.slice(0, runners).map((f) => f.text(batch / runners)));
    const wall = performance.now() - t0;
    rates[i].push((batch * Number(values.tokens) * 1000) / wall);
  }
for (const f of floors) f.close();
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
console.log(
  `floor, greedy decode of ${values.tokens} tokens per row, ${values.model}, median of ${values.rounds} rounds, load average ${loadavg()[0].toFixed(1)}`,
);
console.log(`| rows | ${RUNNERS.map((r) => `${r} runner${r > 1 ? 's' : ''} tok/s`).join(' | ')} |`);
console.log(`|---|${RUNNERS.map(() => '---|').join('')}`);
for (const batch of BATCHES) {
  const cells = RUNNERS.map((runners) => {
    const i = layouts.findIndex((l) => l.batch === batch && l.runners === runners);
    return i < 0 ? '' : median(rates[i]).toFixed(0);
  });
  console.log(`| ${batch} | ${cells.join(' | ')} |`);
}
