// Multi-step decoding in the scheduler (protocol/steps.ts: one plan, several steps): positions and generator states
// move on by every step, tokens past a stop are dropped, and bursts shrink while a request waits or steps are long.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FinishReason } from '../src/model/engine-types.ts';
import { GenerationRequest, TextSequence } from '../src/model/main-thread/request.ts';
import { BURST_MS, Scheduler } from '../src/model/main-thread/scheduler.ts';
import { skipDraws } from '../src/model/protocol/rng.ts';
import { EOS, GREEDY, noFailure, ScriptedRunner, textRequest } from './helpers/scheduler.ts';

const serial = { pipeline: 1, onFailure: noFailure };

describe('Scheduler, multi-step', () => {
  test('multi-step: decode plans ask for several steps; positions and generator states move on by all of them', async () => {
    const runner = new ScriptedRunner();
    runner.tokenFor = () => 200 + runner.ran;
    const s = new Scheduler(runner, { slots: 2, maxQueue: 4, multiStep: 4, ...serial });
    const req = new GenerationRequest('t');
    const tokens: number[] = [];
    const sampled = { temperature: 1, topK: 0, topP: 1 };
    const done = new Promise<FinishReason>((resolve) => {
      new TextSequence({
        request: req,
        prompt: [{ ids: [1, 2, 3] }],
        promptLength: 3,
        sampling: sampled,
        seed: 7,
        eos: EOS,
        maxTokens: 10,
        output: { token: (t) => tokens.push(t) < 0, finish: resolve },
      });
    });
    s.submit(req);
    assert.equal(await done, 'length');
    // The prefill alone (its token is the TTFT), then bursts of 4 capped by the 10 tokens asked for.
    assert.deepEqual(
      runner.plans.map((p) => p.steps),
      [1, 4, 4, 1],
    );
    assert.deepEqual(
      runner.plans.map((p) => p.decode?.rows[0].position ?? -1),
      [-1, 3, 7, 11],
    );
    assert.deepEqual(
      runner.plans.map((p) => p.heads[0].rng),
      [7, skipDraws(7, 1), skipDraws(7, 5), skipDraws(7, 9)],
    );
    assert.deepEqual(tokens, [200, 201, 202, 203, 204, 205, 206, 207, 208, 209], 'every step, in order');
    assert.deepEqual([s.stats().steps, s.stats().calls], [10, 4]);
    await s.close();
  });

  test('multi-step: tokens past a stop (EOS or a stop string) are dropped', async () => {
    const runner = new ScriptedRunner();
    runner.tokenFor = () => (runner.ran === 6 ? EOS : 300 + runner.ran);
    const s = new Scheduler(runner, { slots: 2, maxQueue: 4, multiStep: 4, ...serial });
    const eos = textRequest('eos', 2, 20);
    s.submit(eos.req);
    assert.equal(await eos.done, 'stop');
    assert.deepEqual(
      eos.tokens,
      [300, 301, 302, 303, 304, 305],
      'EOS came in the middle of the second burst',
    );

    const req = new GenerationRequest('stop');
    const tokens: number[] = [];
    const done = new Promise<FinishReason>((resolve) => {
      // The output reports that token 313 completes a stop string.
      new TextSequence({
        request: req,
        prompt: [{ ids: [1] }],
        promptLength: 1,
        sampling: GREEDY,
        seed: 0,
        eos: EOS,
        maxTokens: 20,
        output: { token: (t) => tokens.push(t) < 0 || t === 313, finish: resolve },
      });
    });
    runner.tokenFor = () => 300 + runner.ran;
    s.submit(req);
    assert.equal(await done, 'stop');
    assert.deepEqual(tokens.at(-1), 313, 'nothing after the stop reached the output');
    await s.close();
  });

  test('multi-step: one step per plan while a request waits for a slot, and when steps are long', async () => {
    const runner = new ScriptedRunner();
    const s = new Scheduler(runner, { slots: 1, maxQueue: 4, multiStep: 8, ...serial });
    const first = textRequest('first', 1, 6);
    const waiting = textRequest('waiting', 1, 6);
    s.submit(first.req);
    s.submit(waiting.req);
    await first.done;
    await waiting.done;
    const steps = runner.plans.map((p) => p.steps);
    assert.deepEqual(steps.slice(0, 6), [1, 1, 1, 1, 1, 1], 'first decodes one step at a time');
    assert.deepEqual(steps.slice(6), [1, 5], "waiting's prefill, then one burst once nothing waits");

    runner.stepMs = BURST_MS / 3; // three steps fit a burst
    const long = textRequest('long', 1, 9);
    s.submit(long.req);
    await long.done;
    assert.deepEqual(
      runner.plans.slice(8).map((p) => p.steps),
      [1, 3, 3, 2],
    );
    await s.close();
  });
});
