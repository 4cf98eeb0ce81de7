// Multi-step decoding (scheduler.ts, protocol/steps.ts) changes how steps travel, never what they compute: the same
// requests, run together on an engine taking one step per runner call and on one taking bursts of up to 8, give
// the same tokens, stops, codes and usage. Also the SIMD argmax (logits.ts) against the scalar one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChatEvent, ChatRequest, ImageEvent, ImageRequest } from '../src/model/engine-types.ts';
import { startEngine, type UniTokEngine } from '../src/model/main-thread/engine.ts';
import { LogitsBuffer } from '../src/model/worker-thread/logits.ts';
import { argmax } from '../src/model/worker-thread/sampling.ts';

const MODEL = 'models/tiny';

function chat(id: string, over: Partial<ChatRequest> = {}): ChatRequest {
  return {
    id,
    n: 1,
    signal: new AbortController().signal,
    messages: [{ role: 'user', content: [{ type: 'text', text: `Tell me about ${id}.` }] }],
    sampling: { temperature: 0, topK: 0, topP: 1, seed: null },
    maxTokens: 48,
    stop: [],
    ...over,
  };
}

function image(id: string): ImageRequest {
  return {
    id,
    n: 1,
    signal: new AbortController().signal,
    prompt: 'a red cube on a wooden table',
    sampling: { temperature: 1, topK: 0, topP: 1, seed: 3, guidanceScale: 7 },
    previewAt: [],
  };
}

/**
 * Every event but PNG bytes, in order per output (outputs interleave differently with bursts), consecutive text
 * events of an output merged: a burst's tokens leave as one event (chat-output.ts), one step's as one each.
 */
async function outputs<E extends ChatEvent | ImageEvent>(stream: AsyncIterable<E>): Promise<string[][]> {
  const per: (ChatEvent | ImageEvent)[][] = [];
  for await (const e of stream) {
    const key = 'index' in e && e.type !== 'codes' ? e.index : 'image' in e ? e.image : 0;
    const list = per[key] ?? [];
    per[key] = list;
    const last = list.at(-1);
    if (e.type === 'text' && last?.type === 'text')
      list[list.length - 1] = { ...last, text: last.text + e.text, tokens: last.tokens + e.tokens };
    else list.push(e);
  }
  return per.map((list) => list.map((e) => JSON.stringify(e, (k, v) => (k === 'png' ? undefined : v))));
}

describe('multi-step decoding', () => {
  const engines: Record<'single' | 'multi', UniTokEngine> = {} as never;
  before(async () => {
    for (const [name, multiStep] of [
      ['single', 1],
      ['multi', 8],
    ] as const) {
      engines[name] = await startEngine({ model: MODEL, device: 'cpu', maxQueue: 8, maxBatch: 6, multiStep });
      await engines[name].loaded;
      assert.equal(engines[name].info().status, 'ready', engines[name].info().statusMessage);
    }
  });
  after(async () => {
    for (const engine of Object.values(engines)) await engine.close();
  });

  /** The same requests, submitted together on both engines: their events per output. */
  async function both(requests: (ChatRequest | ImageRequest)[]) {
    const run = (engine: UniTokEngine) =>
      Promise.all(
        requests.map(async (r) =>
          outputs<ChatEvent | ImageEvent>(
            'prompt' in r ? await engine.submitImage(r) : await engine.submitChat(r),
          ),
        ),
      );
    const calls = engines.multi.stats().calls ?? 0;
    const steps = engines.multi.stats().steps ?? 0;
    const [single, multi] = [await run(engines.single), await run(engines.multi)];
    const ran = {
      calls: (engines.multi.stats().calls ?? 0) - calls,
      steps: (engines.multi.stats().steps ?? 0) - steps,
    };
    return { single, multi, ran };
  }

  test('greedy, seeded (top-k, top-p, n = 2), a stop string mid-burst and a CFG image: the same as one step per call', async () => {
    // A stop string from the middle of the greedy text, so that it ends a choice inside a burst.
    const greedy = (await outputs(await engines.single.submitChat(chat('greedy'))))[0]
      .map((e) => JSON.parse(e) as ChatEvent)
      .flatMap((e) => (e.type === 'text' ? [e.text] : []))
      .join('');
    const stop = greedy
      .slice(Math.floor(greedy.length / 2))
      .trim()
      .slice(0, 3);
    assert.ok(stop.length === 3, `greedy text '${greedy}' is long enough`);
    const { single, multi, ran } = await both([
      chat('greedy'),
      chat('seeded', { n: 2, sampling: { temperature: 0.9, topK: 40, topP: 0.9, seed: 11 } }),
      chat('stop', { messages: chat('greedy').messages, stop: [stop] }),
      image('image'),
    ]);
    assert.deepEqual(multi, single);
    const finish = JSON.parse(single[2][0].at(-1) as string) as ChatEvent;
    assert.equal(finish.type === 'finish' && finish.reason, 'stop', 'the stop string ended its choice');
    assert.ok(ran.calls < ran.steps, `bursts were used (${ran.steps} steps in ${ran.calls} calls)`);
  });

  test('a cancelled stream ends at once and its slot serves the next request', async () => {
    const abort = new AbortController();
    const stream = await engines.multi.submitChat(
      chat('cancelled', { maxTokens: 400, signal: abort.signal }),
    );
    await assert.rejects(async () => {
      let n = 0;
      for await (const e of stream) if (e.type === 'text' && ++n === 5) abort.abort('client_closed');
    });
    const { single, multi } = await both([chat('after')]);
    assert.deepEqual(multi, single);
    assert.equal(engines.multi.stats().running, 0);
  });
});

describe('LogitsBuffer.argmax', () => {
  test('equals the scalar argmax (lowest index on ties, NaN and -0 as in the loop) on views of its memory', () => {
    const buffer = new LogitsBuffer(4096);
    let seed = 1;
    const random = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let t = 0; t < 3000; t++) {
      const n = 1 + Math.floor(random() * (t < 2000 ? 70 : 4000));
      const offset = Math.floor(random() * (4096 - n));
      const v = buffer.data.subarray(offset, offset + n);
      for (let i = 0; i < n; i++) v[i] = Math.floor(random() * 5) - 2; // few values: many ties
      if (random() < 0.2) v[Math.floor(random() * n)] = Number.NaN;
      if (random() < 0.1) v[0] = Number.NaN;
      if (random() < 0.2) v[Math.floor(random() * n)] = -0;
      if (random() < 0.05) v.fill(Number.NEGATIVE_INFINITY);
      assert.equal(buffer.argmax(v), argmax(Array.from(v)), `case ${t}: [${Array.from(v)}]`);
    }
    assert.equal(
      buffer.argmax(Float32Array.of(1, 3, 3, 2, 0, 0, 0, 0, 0, 3)),
      1,
      'not its memory: the scalar loop',
    );
  });
});
