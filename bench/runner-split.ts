// Where the runners' time goes per output token, in-process: N streams of TOKENS tokens at temperature 0 and 1
// (alternating, ROUNDS each), from the runners' own timers (embed / llm, which includes lm_head and fetching its
// outputs / depth / sampling). Streams ignore EOS, as bench/engine.ts's do, so at temperature 1 they run on into
// flat distributions where sampling weighs many tokens.
//
//   node --import tsx bench/runner-split.ts [--model models/demo] [--streams 8] [--tokens 256] [--rounds 2]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startEngine } from '../src/model/main-thread/engine.ts';
import type { SchedulerStats } from '../src/model/main-thread/scheduler.ts';
import { engineChat } from './clients.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' },
    streams: { type: 'string', default: '8' },
    tokens: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '2' },
  },
});
const [STREAMS, TOKENS] = [Number(values.streams), Number(values.tokens)];
const engine = await startEngine({ model: values.model as string, device: 'cpu', maxQueue: 64, maxBatch: 8 });
await engine.loaded;
if (engine.info().status !== 'ready') throw new Error(engine.info().statusMessage);
const signal = new AbortController().signal;

async function stream(i: number, temperature: number): Promise<number> {
  const events = await engine.submitChat(engineChat({ tokens: TOKENS }, i, temperature, signal));
  let tokens = 0;
  for await (const e of events) if (e.type !== 'text') tokens = e.completionTokens;
  return tokens;
}

type Busy = NonNullable<SchedulerStats['busy']>;
console.log(
  `${values.model}: ${STREAMS} streams x ${TOKENS} tokens, load average ${loadavg()[0].toFixed(1)}; runner us per output token`,
);
console.log(
  '| T | tok/s | total | embed | llm (+ lm_head) | depth | sample | steps |\n|---|---|---|---|---|---|---|---|',
);
for (let r = 0; r < Number(values.rounds); r++)
  for (const temperature of [0, 1]) {
    const before = structuredClone(engine.stats());
    const t0 = performance.now();
    const tokens = (
      await Promise.all(Array.from({ length: STREAMS }, (_, i) => stream(i, temperature)))
    ).reduce((a, b) => a + b, 0);
    const seconds = (performance.now() - t0) / 1000;
    const after = engine.stats();
    const us = (key: keyof Busy) =>
      ((((after.busy as Busy)[key] - (before.busy as Busy)[key]) / tokens) * 1000).toFixed(1);
    console.log(
      `| ${temperature} | ${(tokens / seconds).toFixed(0)} | ${us('total')} | ${us('embed')} | ${us('llm')} | ${us('depth')} | ${us('sample')} | ${(after.steps ?? 0) - (before.steps ?? 0)} |`,
    );
  }
await engine.close();
