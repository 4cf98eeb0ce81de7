// The engine's pure parts on their own: prompt rendering, stop strings over streamed text, preview filling,
// the event channel and the bundle reader.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BundleError, readBundle } from '../src/model/bundle.ts';
import { type ChatEvent, InvalidRequestError } from '../src/model/engine-types.ts';
import { EventChannel } from '../src/model/main-thread/channel.ts';
import { ChoiceText, heldBack } from '../src/model/main-thread/chat-output.ts';
import { fillPartialGrid, maskUnknownCells } from '../src/model/main-thread/preview.ts';
import { renderChat } from '../src/model/main-thread/prompts.ts';
import type { StreamDecoder } from '../src/model/main-thread/text-tokenizer.ts';

const template = readBundle('models/tiny').chat;
const img = { type: 'image' as const, data: Buffer.from('x') };
const txt = (text: string) => ({ type: 'text' as const, text });

describe('renderChat', () => {
  test("puts each message's images first, as the released training did, keeping their order and origin", () => {
    const { text, images } = renderChat(template, [
      { role: 'user', content: [txt('compare'), img, img] },
      { role: 'assistant', content: [txt('ok')] },
      { role: 'user', content: [img, txt('and this?')] },
    ]);
    assert.equal(
      text,
      `${template.system} USER: <image>\n<image>\ncompare ASSISTANT: ok</s>USER: <image>\nand this? ASSISTANT:`,
    );
    assert.deepEqual(
      images.map((i) => [i.messageIndex, i.partIndex]),
      [
        [0, 1],
        [0, 2],
        [2, 0],
      ],
    );
  });

  test('the prompt does not depend on whether the text part comes before or after the image', () => {
    const first = renderChat(template, [{ role: 'user', content: [img, txt('What colour is the circle?')] }]);
    const last = renderChat(template, [{ role: 'user', content: [txt('What colour is the circle?'), img] }]);
    assert.equal(last.text, first.text);
    assert.equal(first.text, `${template.system} USER: <image>\nWhat colour is the circle? ASSISTANT:`);
  });

  test('refuses images in system messages and the placeholder inside text', () => {
    assert.throws(() => renderChat(template, [{ role: 'system', content: [img] }]), InvalidRequestError);
    assert.throws(
      () => renderChat(template, [{ role: 'user', content: [txt('a <image> b')] }]),
      InvalidRequestError,
    );
  });
});

/** A decoder that yields the given text for each id (id = index into `pieces`). */
function pieces(list: string[]): StreamDecoder {
  return { push: (id: number) => list[id], end: () => '' } as unknown as StreamDecoder;
}

/** The tokens of `list` in turn, each in a task of its own unless `together` (one runner call's tokens). */
async function run(
  list: string[],
  stop: string[],
  together = false,
): Promise<{ events: ChatEvent[]; stoppedAt: number }> {
  const events: ChatEvent[] = [];
  const out = new ChoiceText(0, pieces(list), stop, (e) => events.push(e));
  let stoppedAt = -1;
  for (let id = 0; id < list.length && stoppedAt < 0; id++) {
    if (out.token(id)) stoppedAt = id;
    if (!together) await new Promise((resolve) => setImmediate(resolve));
  }
  out.finish(stoppedAt >= 0 ? 'stop' : 'length', stoppedAt >= 0 ? stoppedAt + 1 : list.length);
  return { events, stoppedAt };
}

describe('stop strings', () => {
  test('a stop string split over tokens ends the text right before it', async () => {
    const { events, stoppedAt } = await run(['Hel', 'lo, W', 'orld', '!'], ['o, Wor']);
    assert.equal(stoppedAt, 2);
    assert.deepEqual(events, [
      { type: 'text', index: 0, text: 'Hel', tokens: 1 },
      { type: 'text', index: 0, text: 'l', tokens: 1 }, // "o, W" was held back, then proved to be the stop
      { type: 'finish', index: 0, reason: 'stop', completionTokens: 3 },
    ]);
  });

  test('held-back text is released when the stop string does not complete, and at the end', async () => {
    const { events } = await run(['abE', 'Nx', 'yE'], ['END']);
    assert.deepEqual(
      events.map((e) => (e.type === 'text' ? [e.text, e.tokens] : e.reason)),
      [['ab', 1], ['ENx', 1], ['y', 1], ['E', 0], 'length'], // the last E covers no token of its own
    );
  });

  test("one task's tokens leave as one text event, before the finish", async () => {
    const { events } = await run(['Hel', 'lo', ' wor', 'ld'], [], true);
    assert.deepEqual(events, [
      { type: 'text', index: 0, text: 'Hello world', tokens: 4 },
      { type: 'finish', index: 0, reason: 'length', completionTokens: 4 },
    ]);
    const stopped = await run(['Hel', 'lo, W', 'orld', '!'], ['o, Wor'], true);
    assert.deepEqual(stopped.events[0], { type: 'text', index: 0, text: 'Hell', tokens: 3 });
  });

  test('heldBack is the longest end of the text that starts a stop string', () => {
    assert.equal(heldBack('abc', ['cde', 'bcx']), 2);
    assert.equal(heldBack('abc', ['xyz']), 0);
    assert.equal(heldBack('abc', ['abc']), 0); // a whole stop string is found, not held
  });
});

describe('previews', () => {
  test('unknown cells copy the last known cell of their column, else the last known cell', () => {
    const K = 2;
    const N = 9; // a 3 x 3 grid; codebook 1 holds 100 + the codebook-0 code
    const grid = Int32Array.from({ length: K * N }, (_, i) => (i < N ? i : 100 + (i - N)));
    const after4 = fillPartialGrid(grid, K, 3, 4);
    assert.deepEqual(Array.from(after4.subarray(0, N)), [0, 1, 2, 3, 1, 2, 3, 1, 2]);
    assert.deepEqual(Array.from(after4.subarray(N)), [100, 101, 102, 103, 101, 102, 103, 101, 102]);
    const after2 = fillPartialGrid(grid, K, 3, 2);
    assert.deepEqual(Array.from(after2.subarray(0, N)), [0, 1, 1, 0, 1, 1, 0, 1, 1]);
    assert.throws(() => fillPartialGrid(grid, K, 3, 0), RangeError);
  });

  test('unknown cells are painted with the mean colour of the known ones', () => {
    const size = 4; // a 2 x 2 grid of 2 px cells; cells 0..2 known
    const pixels = Float32Array.from({ length: 3 * size * size }, (_, i) => (i % 7) / 7 - 0.5);
    const original = Float32Array.from(pixels);
    maskUnknownCells(pixels, size, 2, 3);
    const plane = size * size;
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      let n = 0;
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++)
          if (x < 2 || y < 2) {
            sum += original[c * plane + y * size + x];
            n++;
            assert.equal(pixels[c * plane + y * size + x], original[c * plane + y * size + x]);
          }
      for (let y = 2; y < 4; y++)
        for (let x = 2; x < 4; x++) assert.ok(Math.abs(pixels[c * plane + y * size + x] - sum / n) < 1e-6);
    }
  });
});

describe('EventChannel', () => {
  test('delivers buffered events before the error; leaving early calls onAbandon once', async () => {
    const ch = new EventChannel<number>();
    ch.push(1);
    ch.push(2);
    ch.fail(new Error('boom'));
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const v of ch) seen.push(v);
    }, /boom/);
    assert.deepEqual(seen, [1, 2]);

    let abandoned = 0;
    const live = new EventChannel<number>(() => abandoned++);
    setTimeout(() => live.push(7), 5);
    for await (const v of live) {
      assert.equal(v, 7);
      break;
    }
    assert.equal(abandoned, 1);
    live.push(8); // ignored once closed
    assert.equal(live.open, false);
  });
});

describe('readBundle', () => {
  test('names the file and the field that is wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bundle-'));
    try {
      const config = JSON.parse(readFileSync('models/tiny/config.json', 'utf8'));
      delete config.prompts.chat.sep2;
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      assert.throws(
        () => readBundle(dir),
        (err: unknown) => err instanceof BundleError && /prompts\.chat\.sep2/.test(err.message),
      );
      config.prompts.chat.sep2 = '</s>';
      config.sampling.rng = 'philox';
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      assert.throws(() => readBundle(dir), /mulberry32/);
      config.sampling.rng = 'mulberry32';
      config.format_version = 2; // a bundle converted before the llm graph returned only new keys/values
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      assert.throws(
        () => readBundle(dir),
        /format v2 .*no longer served; convert the checkpoint again.*unitok regraph/,
      );
      assert.throws(() => readBundle(join(dir, 'missing')), /not a UniTok bundle/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
