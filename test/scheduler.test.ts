// The scheduler against a scripted runner: what each step plan contains (continuous batching, ragged decode
// rows, prefill runs over adjacent new slots, CFG pairs), slot reuse, FCFS, the bounded queue and cancellation.
// Multi-step plans: scheduler-multistep.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CancelledError, type FinishReason, QueueFullError } from '../src/model/engine-types.ts';
import { GenerationRequest, ImageSequence, TextSequence } from '../src/model/main-thread/request.ts';
import { Scheduler, SlotPool, type StepRunner } from '../src/model/main-thread/scheduler.ts';
import { skipDraws } from '../src/model/protocol/rng.ts';
import { EOS, GREEDY, imageRequest, noFailure, ScriptedRunner, textRequest } from './helpers/scheduler.ts';

describe('SlotPool', () => {
  test('gives the lowest free run of consecutive slots, and reuses released ones', () => {
    const pool = new SlotPool(4);
    assert.equal(pool.acquire(1), 0);
    assert.equal(pool.acquire(2), 1);
    assert.equal(pool.acquire(2), -1); // only slot 3 is left
    pool.release(0, 1);
    assert.equal(pool.acquire(2), -1); // 0 and 3 are free but not adjacent
    assert.equal(pool.acquire(1), 0);
    assert.equal(pool.used, 3);
  });
});

/** One step at a time, the runner waiting for each result to be handled: the plans are easy to read. */
const serial = { pipeline: 1, onFailure: noFailure };

describe('Scheduler', () => {
  test('a request arriving mid-generation joins at the next step while the others keep decoding', async () => {
    const runner = new ScriptedRunner();
    runner.manual = true;
    const s = new Scheduler(runner, { slots: 4, maxQueue: 4, ...serial });
    const a = textRequest('a', 3, 4);
    s.submit(a.req);
    await runner.computing();
    assert.deepEqual(runner.plans[0].prefill, [{ firstSlot: 0, rows: [[{ ids: [7, 7, 7] }]] }]);
    assert.equal(runner.plans[0].decode, null);
    await runner.release();
    await runner.computing();
    const b = textRequest('b', 5, 2);
    s.submit(b.req); // while step 2 (a decoding) is computing
    await runner.release();
    await runner.computing();
    const third = runner.plans[2];
    assert.deepEqual(third.prefill, [{ firstSlot: 1, rows: [[{ ids: [7, 7, 7, 7, 7] }]] }]);
    // a feeds its last token (100 + slot 0) at position 3 + 1: a prompt of 3, one token fed before.
    assert.deepEqual(third.decode?.rows, [{ input: { ids: [100] }, position: 4 }]);
    assert.deepEqual(
      third.heads.map((h) => h.kind === 'text' && h.slot),
      [0, 1],
    );
    await runner.run();
    assert.equal(await a.done, 'length');
    assert.equal(await b.done, 'length');
    assert.deepEqual(a.tokens, [100, 100, 100, 100]);
    await s.close();
  });

  test('decode rows are ragged (each at its own position), free slots are holes, CFG rows are adjacent', async () => {
    const runner = new ScriptedRunner();
    const s = new Scheduler(runner, { slots: 5, maxQueue: 4, ...serial });
    const t0 = textRequest('t0', 2, 3);
    const img = imageRequest('img', [6, 4], 3);
    const t1 = textRequest('t1', 9, 1); // one token: done with its prefill, slot 3 becomes a hole
    const t2 = textRequest('t2', 1, 3);
    for (const r of [t0.req, img.req, t1.req, t2.req]) s.submit(r);
    const grid = await img.done;
    await t0.done;
    await t2.done;
    const [first, second] = runner.plans;
    // One prefill run over the four new sequences (slots 0..4 adjacent): 1 + 2 + 1 + 1 rows.
    assert.equal(first.prefill.length, 1);
    assert.deepEqual(
      first.prefill[0].rows.map((r) => ('ids' in r[0] ? r[0].ids.length : -1)),
      [2, 6, 4, 9, 1],
    );
    assert.deepEqual(first.heads[1], {
      kind: 'image',
      slot: 1,
      uncondSlot: 2,
      guidanceScale: 7,
      sampling: GREEDY,
      rng: 0,
    });
    assert.deepEqual(second.decode?.rows, [
      { input: { ids: [100] }, position: 2 },
      { input: { codes: Int32Array.of(1, 1) }, position: 6 },
      { input: { codes: Int32Array.of(1, 1) }, position: 4 },
      { input: null, position: 0 },
      { input: { ids: [104] }, position: 1 },
    ]);
    assert.deepEqual(Array.from(grid), [1, 1, 1, 1, 1, 1]); // K=2 codes x 3 tokens, all from slot 1
    await s.close();
  });

  test('pipelined: the next plan is sent before the last result, with "sampled" inputs and predicted generator states', async () => {
    const runner = new ScriptedRunner();
    runner.manual = true;
    const s = new Scheduler(runner, { slots: 4, maxQueue: 4, onFailure: noFailure }); // default: one step ahead
    const sampled = { temperature: 1, topK: 0, topP: 1 };
    const req = new GenerationRequest('t');
    const tokens: number[] = [];
    new TextSequence({
      request: req,
      prompt: [{ ids: [1, 2] }],
      promptLength: 2,
      sampling: sampled,
      seed: 7,
      eos: EOS,
      maxTokens: 3,
      output: { token: (t) => tokens.push(t) < 0, finish: () => {} },
    });
    const img = new GenerationRequest('i');
    new ImageSequence({
      request: img,
      prompts: { cond: [5], uncond: [6, 6] },
      cfg: true,
      sampling: sampled,
      seed: 9,
      guidanceScale: 3,
      codesPerToken: 4,
      visualTokens: 2,
      output: { codes: () => {}, finish: () => {} },
    });
    s.submit(req);
    s.submit(img);
    await runner.computing();
    assert.equal(runner.plans.length, 2, 'step 2 is queued while step 1 computes');
    assert.deepEqual(runner.plans[1].decode?.rows, [
      { input: 'sampled', position: 2 },
      { input: 'sampled', position: 1 },
      { input: 'sampled', position: 2 },
    ]);
    await runner.run();
    await new Promise((r) => setTimeout(r, 20));
    // Text: 3 tokens = 3 steps, one draw each; image: 2 visual tokens = 2 steps, K = 4 draws each.
    const rngs = (kind: string) =>
      runner.plans.flatMap((p) => p.heads.filter((h) => h.kind === kind).map((h) => h.rng));
    assert.deepEqual(rngs('text'), [7, skipDraws(7, 1), skipDraws(7, 2)]);
    assert.deepEqual(rngs('image'), [9, skipDraws(9, 4)]);
    assert.equal(tokens.length, 3);
    await s.close();
  });

  test('pipelined: an early stop drops the result of the step already queued', async () => {
    const runner = new ScriptedRunner();
    const s = new Scheduler(runner, { slots: 1, maxQueue: 4, onFailure: noFailure });
    runner.tokenFor = () => EOS;
    const run = textRequest('eos', 3, 10);
    s.submit(run.req);
    assert.equal(await run.done, 'stop');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(run.tokens, []);
    assert.equal(
      runner.plans.length,
      2,
      'the prefill, and the one decode step sent before its EOS came back',
    );
    await s.close();
  });

  test('ignore_eos (eos null): EOS is generated like any token until max_tokens', async () => {
    const runner = new ScriptedRunner();
    const s = new Scheduler(runner, { slots: 1, maxQueue: 4, onFailure: noFailure });
    runner.tokenFor = () => EOS;
    const run = textRequest('ignore-eos', 3, 5, 1, null);
    s.submit(run.req);
    assert.equal(await run.done, 'length');
    assert.deepEqual(run.tokens, [EOS, EOS, EOS, EOS, EOS]);
    await s.close();
  });

  test('EOS finishes with "stop" and is not passed on; the slot is reused by the queue in arrival order', async () => {
    const runner = new ScriptedRunner();
    const s = new Scheduler(runner, { slots: 1, maxQueue: 4, ...serial });
    runner.tokenFor = () => 100;
    const req = new GenerationRequest('eos');
    let reason: FinishReason | null = null;
    const tokens: number[] = [];
    new TextSequence({
      request: req,
      prompt: [{ ids: [1] }],
      promptLength: 1,
      sampling: GREEDY,
      seed: 0,
      eos: 100,
      maxTokens: 10,
      output: {
        token: (t) => tokens.push(t) < 0,
        finish: (r) => {
          reason = r;
        },
      },
    });
    const later = textRequest('later', 2, 1);
    s.submit(req);
    s.submit(later.req);
    assert.equal(s.stats().waiting, 1);
    await later.done;
    assert.equal(reason, 'stop');
    assert.deepEqual(tokens, []);
    assert.equal(runner.plans[1].prefill[0]?.firstSlot, 0);
    await s.close();
  });

  test('a full queue refuses with QueueFullError (Retry-After >= 1 s) and admits again once it drains', async () => {
    const runner = new ScriptedRunner();
    runner.manual = true;
    const s = new Scheduler(runner, { slots: 2, maxQueue: 1, onFailure: noFailure });
    const runs = [textRequest('a', 1, 2), textRequest('b', 1, 2), textRequest('c', 1, 2)];
    s.submit(runs[0].req);
    s.submit(runs[1].req); // both slots taken at once
    s.submit(runs[2].req); // waits: the one allowed
    assert.deepEqual([s.stats().waiting, s.stats().running, s.saturated()], [1, 2, true]);
    assert.throws(
      () => s.submit(textRequest('d', 1, 2).req),
      (err) => err instanceof QueueFullError && err.retryAfterSeconds >= 1,
    );
    await runner.run();
    await Promise.all(runs.map((r) => r.done));
    s.submit(textRequest('e', 1, 1).req);
    await s.close();
  });

  test('cancelling frees a running slot as soon as the step computing returns; a queued request goes at once', async () => {
    const runner = new ScriptedRunner();
    runner.manual = true;
    const s = new Scheduler(runner, { slots: 1, maxQueue: 4, onFailure: noFailure });
    const long = textRequest('long', 1, 1000);
    const queued = textRequest('queued', 1, 1000);
    const next = textRequest('next', 1, 1);
    s.submit(long.req);
    s.submit(queued.req);
    s.submit(next.req);
    await runner.computing(); // long's prefill; its first decode is queued behind it
    s.cancel(queued.req);
    assert.equal(s.stats().waiting, 1, 'the cancelled queued request left the queue immediately');
    s.cancel(long.req);
    const sent = runner.plans.length;
    await runner.release(); // the prefill returns: long's slot is free, next is placed and planned at once
    assert.equal(s.stats().waiting, 0);
    assert.equal(runner.plans.length, sent + 1);
    assert.deepEqual(runner.plans[sent].prefill, [{ firstSlot: 0, rows: [[{ ids: [7] }]] }]);
    assert.equal(runner.plans[sent].decode, null, 'the cancelled request is not planned again');
    await runner.run();
    await next.done;
    assert.deepEqual(long.tokens, [], 'no token reached the cancelled request');
    await s.close();
  });

  test('close() cancels the queue and refuses new requests', async () => {
    const runner = new ScriptedRunner();
    const s = new Scheduler(runner, { slots: 1, maxQueue: 4, onFailure: noFailure });
    const a = textRequest('a', 1, 3);
    s.submit(a.req);
    await a.done;
    await s.close();
    assert.throws(() => s.submit(textRequest('b', 1, 1).req), CancelledError);
  });

  test('a failing step fails only the requests in it', async () => {
    const failures: string[] = [];
    let calls = 0;
    const runner: StepRunner = {
      async step(plan) {
        if (calls++ === 0) throw new Error('boom');
        return new ScriptedRunner().step(plan);
      },
    };
    const s = new Scheduler(runner, {
      slots: 1,
      maxQueue: 4,
      onFailure: (r, e) => failures.push(`${r.id}: ${e.message}`),
    });
    const a = textRequest('a', 1, 1);
    const b = textRequest('b', 1, 1);
    s.submit(a.req);
    s.submit(b.req);
    await b.done;
    assert.deepEqual(failures, ['a: boom']);
    await s.close();
  });
});
