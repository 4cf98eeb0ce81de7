// The bare decode floor (bench/floor.ts) of two checkouts side by side, each on its own bundle, interleaved round by
// round so that both see the same machine load: e.g. a graph-format change against the commit before it.
//
//   git worktree add /tmp/base <commit>
//   node --import tsx bench/floor-compare.ts --a /tmp/base:/tmp/base/models/demo --b .:models/demo \
//        [--batches 1,8] [--tokens 64] [--rounds 5]
//
// Each side is ROOT:MODEL (MODEL relative to ROOT unless absolute); ROOT's own bench/floor.ts measures it, in a
// fresh process per round. Prints ms per batched greedy step and output tokens/s, medians over rounds.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { floorProcess } from './clients.ts';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    batches: { type: 'string', default: '1,8' },
    tokens: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '5' },
  },
});
if (!values.a || !values.b) throw new Error('--a ROOT:MODEL and --b ROOT:MODEL are required');
const sides = [values.a, values.b].map((spec) => {
  const [root, model] = spec.split(':');
  return { name: spec, root: resolve(root), model: resolve(root, model) };
});
const BATCHES = (values.batches as string).split(',').map(Number);

const ms = sides.map(() => BATCHES.map(() => [] as number[]));
for (let r = 0; r < Number(values.rounds); r++)
  for (const [i, side] of sides.entries()) {
    const f = await floorProcess({ model: side.model, tokens: Number(values.tokens) }, side.root);
    for (const [j, batch] of BATCHES.entries()) ms[i][j].push(await f.text(batch));
    f.close();
  }
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
console.log(`floor: greedy decode, ${values.tokens} tokens per stream, median of ${values.rounds} rounds`);
console.log(`| side | ${BATCHES.map((b) => `batch ${b} ms/step | tok/s`).join(' | ')} |`);
console.log(`|---|${BATCHES.map(() => '---|---|').join('')}`);
for (const [i, side] of sides.entries()) {
  const cells = BATCHES.map((b, j) => {
    const m = median(ms[i][j]);
    return `${m.toFixed(2)} | ${((1000 * b) / m).toFixed(1)}`;
  });
  console.log(`| ${side.name} | ${cells.join(' | ')} |`);
}
