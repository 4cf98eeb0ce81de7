// Admission under the default limits: 16 chat + 4 image closed-loop clients against one server on the demo model,
// counting 429s. --roots compares checkouts (e.g. main's, exported to a folder, against this one), interleaved
// round by round so each saw the same machine load.
//
//   node --import tsx bench/admission.ts [--roots /tmp/before,.] [--seconds 60] [--rounds 1] [--model models/demo]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runLoad, summarize } from './load-clients.ts';
import { Replica } from './replicas.ts';

const { values } = parseArgs({
  options: {
    roots: { type: 'string', default: '.' },
    seconds: { type: 'string', default: '60' },
    rounds: { type: 'string', default: '1' },
    model: { type: 'string', default: 'models/demo' },
    port: { type: 'string', default: '18300' },
    'chat-tokens': { type: 'string', default: '32' },
  },
});
const roots = (values.roots as string).split(',').map((r) => resolve(r));
const model = resolve(values.model as string);

for (let round = 1; round <= Number(values.rounds); round++) {
  for (const root of roots) {
    const replica = new Replica({
      root,
      port: Number(values.port),
      model,
      name: root,
      args: ['--log-level', 'warn'],
    });
    await replica.start();
    try {
      const outcomes = await runLoad({
        url: replica.url,
        chat: 16,
        image: 4,
        ws: 0,
        durationMs: Number(values.seconds) * 1000,
        chatTokens: Number(values['chat-tokens']),
      });
      const refused = outcomes.filter((o) => o.status === 429);
      const chats = outcomes.filter((o) => o.kind === 'chat');
      console.log(
        `\nround ${round}, ${root}: 16 chat + 4 image clients, ${values.seconds} s, defaults (8 slots, queue 16)`,
      );
      for (const row of summarize(outcomes)) console.log(row);
      console.log(
        `429: ${refused.length} of ${outcomes.length} requests; chat 429 rate ${((100 * chats.filter((o) => o.status === 429).length) / Math.max(1, chats.length)).toFixed(1)}%`,
      );
    } finally {
      await replica.stop();
    }
  }
}
