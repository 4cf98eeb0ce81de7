// Does a second runner pay on this machine? The bare decode floor (bench/floor.ts) of one process at batch B against
// R processes at batch B / R each, running at the same time (what `--runners R` does with R worker threads, each with
// its own sessions and KV cache), interleaved round by round. Prints output tokens/s per layout, medians over rounds.
//
//   node --import tsx bench/floor-parallel.ts [--model models/demo] [--batches 1,2,4,8] [--runners 1,2]
//        [--tokens 64] [--rounds 5]
import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';

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

function floor() {
  const child = fork(
    'bench/floor.ts',
    ['--model', values.model as string, '--tokens', values.tokens as string],
    {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const next = () =>
    new Promise<{ ms?: number }>((ok, fail) => {
      const exited = (code: number | null) => fail(new Error(`bench/floor.ts exited with ${code}`));
      child.once('exit', exited);
      child.once('message', (m) => {
        child.off('exit', exited);
        ok(m as { ms?: number });
      });
    });
  const ready = next();
  return {
    ready,
    async text(batch: number) {
      const reply = next();
      child.send({ kind: 'text', batch });
      return (await reply).ms as number;
    },
    close: () => child.kill(),
  };
}

const most = Math.max(...RUNNERS);
const floors = Array.from({ length: most }, floor);
await Promise.all(floors.map((f) => f.ready));
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
