// Admission sized by work (src/model/main-thread/admission.ts): the queue bound counts the slot-steps waiting
// requests will cost, not how many they are; and the placement signal behind the queue-time metric.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QueueFullError } from '../src/model/engine-types.ts';
import {
  CountAdmission,
  placed,
  placement,
  WorkAdmission,
  work,
} from '../src/model/main-thread/admission.ts';
import {
  GenerationRequest,
  ImageSequence,
  type Sequence,
  TextSequence,
} from '../src/model/main-thread/request.ts';

const GREEDY = { temperature: 0, topK: 0, topP: 1 };
const CONTEXT = 512;

function chat(id: string, maxTokens: number): Sequence {
  const output = { token: () => false, finish: () => {} };
  return new TextSequence({
    request: new GenerationRequest(id),
    prompt: [{ ids: [1, 2, 3] }],
    promptLength: 3,
    sampling: GREEDY,
    seed: 0,
    eos: 2,
    maxTokens,
    output,
  });
}

function image(id: string, visualTokens = 256): Sequence {
  const output = { codes: () => {}, finish: () => {} };
  return new ImageSequence({
    request: new GenerationRequest(id),
    prompts: { cond: [5, 6], uncond: [5] },
    sampling: GREEDY,
    seed: 0,
    guidanceScale: 7,
    cfg: true,
    codesPerToken: 8,
    visualTokens,
    output,
  });
}

describe('admission', () => {
  test('work is KV rows times the steps left: a CFG image counts both rows', () => {
    assert.equal(work(chat('a', 32)), 32);
    assert.equal(work(image('b')), 2 * 256);
  });

  test('16 short chats and 4 images waiting: the count bound refuses the next chat, the work bound admits it', () => {
    const queue = [
      ...Array.from({ length: 16 }, (_, i) => chat(`c${i}`, 32)),
      ...[0, 1, 2, 3].map((i) => image(`i${i}`)),
    ];
    const next = chat('next', 32);
    queue.push(next);
    assert.equal(new CountAdmission(16).refuses(queue, next.request), true);
    const byWork = new WorkAdmission({ maxQueue: 16, requestWork: CONTEXT });
    assert.equal(byWork.refuses(queue, next.request), false);
    assert.equal(byWork.saturated(queue), false);
  });

  test('requests that may each fill the context are bounded as before: maxQueue of them', () => {
    const byWork = new WorkAdmission({ maxQueue: 4, requestWork: CONTEXT });
    const queue = Array.from({ length: 4 }, (_, i) => chat(`c${i}`, CONTEXT - 3));
    assert.equal(byWork.saturated(queue), false);
    const fifth = chat('fifth', CONTEXT - 3);
    queue.push(fifth);
    assert.equal(byWork.refuses(queue, fifth.request), true, '5 x 509 slot-steps > 4 x 512');
    const err = byWork.refusal(queue, 3);
    assert.ok(err instanceof QueueFullError);
    assert.equal(err.retryAfterSeconds, 3);
    assert.match(err.message, /5 requests are already waiting, 2545 slot-steps of work \(limit 2048\)/);
  });

  test('a request larger than the whole budget is still admitted when nothing else waits', () => {
    const byWork = new WorkAdmission({ maxQueue: 1, requestWork: 64 });
    const big = image('big');
    assert.equal(byWork.refuses([big], big.request), false);
  });

  test('placement resolves once the scheduler places the request, whichever comes first', async () => {
    const early = new GenerationRequest('early');
    placed(early);
    await placement(early);
    const late = new GenerationRequest('late');
    let done = false;
    const waiting = placement(late).then(() => {
      done = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    placed(late);
    await waiting;
    assert.equal(done, true);
  });
});
