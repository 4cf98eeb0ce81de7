// What the worker thread buys: the main thread keeps answering (timers, /health, new requests, streams) while a
// batch computes, and a cancelled request's slot is free for the next one within one step.
//
// The tiny bundle's steps take about a millisecond, too short for a blocked event loop to show, so the runner is
// a test double (helpers/slow-runner-worker.ts) that busy-waits STEP_MS in every step, in its own thread, as a 7B
// model's session.run would. Were the sessions on the main thread, every timer below would be late by a whole step.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChatEvent, ChatRequest } from '../src/model/engine-types.ts';
import { startEngine, type UniTokEngine } from '../src/model/main-thread/engine.ts';
import { buildServer } from '../src/server/app.ts';
import { slowRunnerWorker } from './helpers/slow-runner.ts';

const STEP_MS = 400;
/**
 * Were the sessions on the main thread, a timer would be late by a whole step. The bound is a share of the step, not
 * a fixed time, so a loaded machine (the timer itself waits for a core) does not read as a blocked loop.
 */
const BLOCKED_MS = 0.6 * STEP_MS;

function chat(id: string, maxTokens: number, signal = new AbortController().signal): ChatRequest {
  return {
    id,
    n: 1,
    signal,
    messages: [{ role: 'user', content: [{ type: 'text', text: `Tell me a story number ${id}.` }] }],
    sampling: { temperature: 0, topK: 0, topP: 1, seed: null },
    maxTokens,
    stop: [],
  };
}

/** Max lateness of a 5 ms interval timer until stopped. */
function lagMonitor(): { stop: () => number } {
  let max = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last - 5);
    last = now;
  }, 5);
  return {
    stop: () => {
      clearInterval(timer);
      return max;
    },
  };
}

describe(`with a runner step of ${STEP_MS} ms`, () => {
  let engine: UniTokEngine;
  before(async () => {
    engine = await startEngine({
      model: 'models/tiny',
      device: 'cpu',
      maxQueue: 8,
      maxBatch: 4,
      runnerWorker: slowRunnerWorker(STEP_MS),
    });
    await engine.loaded;
    assert.equal(engine.info().status, 'ready', engine.info().statusMessage);
  });
  after(() => engine.close());

  test('the event loop, /health and admission stay responsive while batches compute', async () => {
    const app = buildServer({ engine, logger: false });
    await app.ready();
    await app.inject({ method: 'GET', url: '/health' }); // first-request warm-up (schema compilation) is not the engine's
    const busyBefore = engine.stats().busy?.total ?? 0;
    const lag = lagMonitor();
    const arrivals: number[][] = [[], [], []];
    const streams = await Promise.all([0, 1, 2].map((i) => engine.submitChat(chat(String(i), 5))));
    const consumed = streams.map(async (s, i) => {
      for await (const e of s) if (e.type === 'text') arrivals[i].push(performance.now());
    });
    const health: number[] = [];
    const probes = (async () => {
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 40));
        const t0 = performance.now();
        const res = await app.inject({ method: 'GET', url: '/health' });
        health.push(performance.now() - t0);
        assert.equal(res.statusCode, 200);
      }
    })();
    await new Promise((r) => setTimeout(r, STEP_MS * 1.5)); // mid-batch
    const t0 = performance.now();
    const late = await engine.submitChat(chat('late', 2));
    const admitted = performance.now() - t0;
    await Promise.all([
      ...consumed,
      probes,
      (async () => {
        for await (const _ of late);
      })(),
    ]);
    const maxLag = lag.stop();
    await app.close();

    const busy = (engine.stats().busy?.total ?? 0) - busyBefore;
    assert.ok(busy >= 5 * STEP_MS, `the runner computed ${busy.toFixed(0)} ms`);
    assert.ok(maxLag < BLOCKED_MS, `a 5 ms timer was ${maxLag.toFixed(1)} ms late`);
    assert.ok(Math.max(...health) < BLOCKED_MS, `/health took up to ${Math.max(...health).toFixed(1)} ms`);
    assert.ok(admitted < BLOCKED_MS, `admitting a request took ${admitted.toFixed(1)} ms`);
    // Streams flowed step by step rather than arriving in one burst at the end.
    for (const times of arrivals) {
      assert.ok(times.length >= 3);
      assert.ok(
        times[times.length - 1] - times[0] >= 2 * STEP_MS * 0.9,
        'tokens of one stream arrived in a burst',
      );
    }
  });

  test('a cancelled request frees its slot for the waiting one when the step computing returns', async () => {
    const a = new AbortController();
    const streams = await Promise.all([
      engine.submitChat(chat('a', 400, a.signal)),
      engine.submitChat(chat('b', 400)),
      engine.submitChat(chat('c', 400)),
      engine.submitChat(chat('d', 400)),
    ]);
    const waiting = await engine.submitChat(chat('waiting', 2)); // all 4 slots are busy
    assert.equal(engine.stats().waiting, 1);
    const others = streams.slice(1).map(async (s) => {
      try {
        for await (const _ of s);
      } catch {}
    });
    let stepsAtAbort = -1;
    await assert.rejects(async () => {
      let n = 0;
      for await (const e of streams[0]) {
        if (e.type === 'text' && ++n === 2) {
          stepsAtAbort = engine.stats().steps ?? 0;
          a.abort('client_closed');
        }
      }
    });
    // When the step computing at the abort returns, the slot is free and the waiting request is placed.
    while ((engine.stats().steps ?? 0) < stepsAtAbort + 1) await new Promise((r) => setImmediate(r));
    assert.equal(engine.stats().waiting, 0, 'the waiting request got the slot');
    let stepsAtFirstToken = -1;
    for await (const e of waiting as AsyncIterable<ChatEvent>) {
      if (stepsAtFirstToken < 0 && e.type === 'text') stepsAtFirstToken = engine.stats().steps ?? 0;
    }
    // Its prefill is planned at once, behind the one step the pipeline had already queued.
    assert.ok(
      stepsAtFirstToken - stepsAtAbort <= 3,
      `first token ${stepsAtFirstToken - stepsAtAbort} steps after the abort`,
    );
    await engine.close(); // ends b, c, d
    await Promise.all(others);
  });
});
