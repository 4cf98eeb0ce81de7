// Data-parallel ranks (main-thread/data-parallel.ts) over scripted runners: each sequence goes to the fullest rank
// with room for it (packing), a request's n sequences may land on several ranks, a refusal on one rank takes back
// what the others queued, cancellation reaches every rank, and the stats add up without counting a request twice.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueueFullError } from '../src/model/engine-types.ts';
import { DataParallel } from '../src/model/main-thread/data-parallel.ts';
import { Scheduler } from '../src/model/main-thread/scheduler.ts';
import { imageRequest, noFailure, ScriptedRunner, textRequest } from './helpers/scheduler.ts';

/** `ranks` schedulers of `slots` slots each, on scripted runners held at their first step (manual mode). */
function ranks(count: number, slots: number, maxQueue = 4) {
  const runners = Array.from({ length: count }, () => {
    const r = new ScriptedRunner();
    r.manual = true;
    return r;
  });
  const schedulers = runners.map(
    (r) => new Scheduler(r, { slots, maxQueue, pipeline: 1, onFailure: noFailure }),
  );
  return { runners, schedulers, dp: new DataParallel(schedulers) };
}

/** Slots of each rank's first prefill plan, per rank. */
const prefilled = (runners: ScriptedRunner[]) =>
  runners.map((r) => r.plans[0]?.prefill.flatMap((p) => p.rows.map((_, b) => p.firstSlot + b)) ?? []);

describe('DataParallel', () => {
  test('a rank fills before the next one is used, and a CFG image counts its two rows', async () => {
    const { runners, schedulers, dp } = ranks(2, 4);
    const a = textRequest('a', 3, 2);
    const img = imageRequest('img', [3, 2], 2); // two rows: the conditional and the unconditional prompt
    const b = textRequest('b', 3, 2);
    const c = textRequest('c', 3, 2);
    const img2 = imageRequest('img2', [3, 2], 2);
    for (const r of [a, img, b, c, img2]) dp.submit(r.req);
    await Promise.all(runners.map((r) => r.computing()));
    // Rank 0 takes a, img and b (its 4 slots); c and img2 go to rank 1.
    assert.deepEqual(
      schedulers.map((s) => s.rows),
      [4, 3],
    );
    assert.deepEqual(prefilled(runners), [
      [0, 1, 2, 3],
      [0, 1, 2],
    ]);
    for (const r of runners) await r.run();
    assert.equal(await a.done, 'length');
    await img.done;
    assert.equal(await b.done, 'length');
    assert.equal(await c.done, 'length');
    await img2.done;
    await dp.close();
  });

  test("a request's n sequences fill one rank and go on to the next; it counts once in the stats", async () => {
    const { runners, dp } = ranks(2, 4);
    const six = textRequest('six', 2, 3, 6);
    dp.submit(six.req);
    await Promise.all(runners.map((r) => r.computing()));
    assert.deepEqual(prefilled(runners), [
      [0, 1, 2, 3],
      [0, 1],
    ]);
    const stats = dp.stats();
    assert.equal(stats.running, 1);
    assert.equal(stats.waiting, 0);
    assert.equal(stats.slotsUsed, 6);
    assert.equal(stats.slots, 8);
    for (const r of runners) await r.run();
    assert.equal(await six.done, 'length');
    assert.equal(
      dp.stats().steps,
      runners.reduce((n, r) => n + r.plans.length, 0),
    );
    await dp.close();
  });

  test('a rank that refuses refuses the whole request: what other ranks queued is dropped again', async () => {
    const { runners, schedulers, dp } = ranks(2, 2, 1); // 2 slots and 1 waiting request a rank
    const fill = textRequest('fill', 2, 50, 4); // every slot
    dp.submit(fill.req);
    await Promise.all(runners.map((r) => r.computing()));
    const w = textRequest('w', 2, 50);
    dp.submit(w.req); // no room anywhere: waits on the least loaded rank (a tie: rank 0)
    assert.deepEqual(
      schedulers.map((s) => s.rows),
      [3, 2],
    );
    // Three sequences: rank 1 takes two (it queues them: one waiting request, its bound), rank 0 one, which its
    // full queue refuses; the two queued on rank 1 are taken back.
    const big = textRequest('big', 2, 50, 3);
    assert.throws(() => dp.submit(big.req), QueueFullError);
    assert.equal(big.req.cancelled, true);
    assert.deepEqual(
      schedulers.map((s) => s.rows),
      [3, 2],
    );
    for (const req of [fill.req, w.req]) dp.cancel(req);
    for (const r of runners) await r.run();
    await dp.close();
  });

  test('cancel reaches the sequences on every rank', async () => {
    const { runners, schedulers, dp } = ranks(2, 4);
    const six = textRequest('six', 2, 50, 6); // 4 on rank 0, 2 on rank 1
    dp.submit(six.req);
    await Promise.all(runners.map((r) => r.computing()));
    dp.cancel(six.req);
    for (const r of runners) await r.run();
    assert.deepEqual(
      schedulers.map((s) => s.rows),
      [0, 0],
    );
    await dp.close();
  });

  test('saturated only when every rank would refuse', async () => {
    const { runners, dp } = ranks(2, 2, 1);
    assert.equal(dp.saturated(), false);
    const fill = textRequest('fill', 2, 50, 4); // 2 slots a rank: all placed
    dp.submit(fill.req);
    await Promise.all(runners.map((r) => r.computing()));
    const w0 = textRequest('w0', 2, 50);
    dp.submit(w0.req); // no room: waits on rank 0 (a tie)
    assert.equal(dp.saturated(), false); // rank 1's queue is empty
    const w1 = textRequest('w1', 2, 50);
    dp.submit(w1.req); // waits on rank 1, the less loaded
    assert.equal(dp.saturated(), true);
    assert.match(dp.queueFull().message, /server is busy/);
    for (const req of [fill.req, w0.req, w1.req]) dp.cancel(req);
    for (const r of runners) await r.run();
    await dp.close();
  });
});
