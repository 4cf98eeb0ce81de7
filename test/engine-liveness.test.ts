// The engine's liveness check (Engine.ping): a round trip through both worker threads. A dead worker fails it (the
// probes answer 503), and a request sent to it fails at once instead of hanging, which turns the engine `failed`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NotReadyError } from '../src/model/engine-types.ts';
import { startEngine } from '../src/model/main-thread/engine.ts';
import type { RunnerClient } from '../src/model/main-thread/workers.ts';

const chat = (id: string) => ({
  id,
  n: 1,
  signal: new AbortController().signal,
  messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'hi' }] }],
  sampling: { temperature: 0, topP: 1, topK: 0, seed: 1 },
  maxTokens: 2,
  stop: [],
});

test('ping answers while the workers live; a dead runner worker fails it, and requests fail instead of hanging', {
  timeout: 120_000,
}, async () => {
  const engine = await startEngine({ model: 'models/tiny', device: 'cpu', maxQueue: 4, maxBatch: 2 });
  await engine.ping(5000); // while loading: nothing to ping yet
  await engine.loaded;
  await engine.ping(5000);
  // Stop the runner thread behind the engine's back, as a crash would.
  await (engine as unknown as { model: { runners: RunnerClient[] } }).model.runners[0].close();
  await assert.rejects(engine.ping(5000), /model-runner worker was stopped/);
  const stream = await engine.submitChat(chat('after'));
  await assert.rejects(async () => {
    for await (const _ of stream);
  }, /model-runner worker was stopped/);
  assert.equal(engine.info().status, 'failed');
  await assert.rejects(engine.submitChat(chat('later')), NotReadyError);
  await engine.close();
});
