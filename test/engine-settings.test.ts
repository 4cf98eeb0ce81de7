// A request's generation settings are settled in one place (main-thread/settings.ts): the client's values win,
// the bundle's `sampling` defaults fill the rest, the context bounds the length; the CFG decision is made there
// once. And through the engine: a chat without max_tokens stops at the bundle's max_new_tokens.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { readBundle } from '../src/model/bundle.ts';
import { type ChatEvent, ContextLengthError, InvalidRequestError } from '../src/model/engine-types.ts';
import { startEngine } from '../src/model/main-thread/engine.ts';
import { chatSettings, imageSettings, publishedDefaults } from '../src/model/main-thread/settings.ts';

const defaults = readBundle('models/demo').defaults; // text: greedy, 128 new tokens; image: CFG 3, T 0.6

describe('settings.ts', () => {
  test('a chat takes what the client sent and the bundle defaults for the rest', () => {
    const s = chatSettings({ sampling: { temperature: 0.7, seed: 9 } }, defaults, {
      promptTokens: 10,
      contextLength: 1000,
    });
    assert.deepEqual(s, { sampling: { temperature: 0.7, topK: 0, topP: 1 }, seed: 9, maxTokens: 128 });
    const nulls = chatSettings(
      { sampling: { temperature: null, topK: null, topP: null, seed: 3 }, maxTokens: null },
      defaults,
      { promptTokens: 10, contextLength: 1000 },
    );
    assert.deepEqual(
      nulls.sampling,
      { temperature: 0, topK: 0, topP: 1 },
      'null means "the model\'s default"',
    );
    assert.equal(nulls.maxTokens, 128);
  });

  test('max tokens: the client wins, the default is clamped to the room the context leaves, overflows are refused', () => {
    const limits = { promptTokens: 900, contextLength: 1000 };
    assert.equal(chatSettings({ sampling: {}, maxTokens: 7 }, defaults, limits).maxTokens, 7);
    assert.equal(chatSettings({ sampling: {} }, defaults, limits).maxTokens, 100);
    assert.throws(() => chatSettings({ sampling: {}, maxTokens: 101 }, defaults, limits), ContextLengthError);
    assert.throws(
      () => chatSettings({ sampling: {} }, defaults, { promptTokens: 1000, contextLength: 1000 }),
      ContextLengthError,
    );
  });

  test('without a seed each request draws a fresh one', () => {
    const seeds = new Set(
      Array.from(
        { length: 8 },
        () => chatSettings({ sampling: {} }, defaults, { promptTokens: 1, contextLength: 9 }).seed,
      ),
    );
    assert.ok(seeds.size > 1);
  });

  test('images: guidance scale from the client or the bundle, and the CFG pair decided once', () => {
    const byDefault = imageSettings({ sampling: {}, previewAt: [] }, defaults);
    assert.equal(byDefault.guidanceScale, 1.5);
    assert.equal(byDefault.cfg, true);
    assert.deepEqual(byDefault.sampling, { temperature: 0.6, topK: 0, topP: 1 });
    const off = imageSettings({ sampling: { guidanceScale: 1, temperature: 1 }, previewAt: [] }, defaults);
    assert.equal(off.cfg, false, 'guidance 1 decodes no unconditional row');
    assert.equal(off.sampling.temperature, 1);
  });

  test("best_of: the client's, else the bundle's, else 1 when previews are asked for; both at once is refused", () => {
    const settle = (bestOf: number | null | undefined, previewAt: number[] = []) =>
      imageSettings({ sampling: bestOf === undefined ? {} : { bestOf }, previewAt }, defaults).bestOf;
    assert.equal(settle(undefined), 4, "the bundle's sampling.image.best_of");
    assert.equal(settle(null), 4, 'null means "the model\'s default"');
    assert.equal(settle(2), 2);
    assert.equal(settle(undefined, [8]), 1, 'a preview shows one drawing as it is made');
    assert.equal(settle(1, [8]), 1);
    for (const bad of [0, 17, 2.5]) {
      assert.throws(
        () => settle(bad),
        (err: InvalidRequestError) => err instanceof InvalidRequestError && err.param === 'best_of',
      );
    }
    assert.throws(
      () => settle(3, [8]),
      (err: InvalidRequestError) => err.param === 'best_of' && /previews/.test(err.message),
    );
  });

  test("the published defaults are the bundle's", () => {
    assert.deepEqual(publishedDefaults(defaults), {
      text: { temperature: 0, topP: 1, topK: 0, seed: null, maxTokens: 128 },
      image: { temperature: 0.6, topP: 1, topK: 0, seed: null, guidanceScale: 1.5, bestOf: 4 },
    });
  });
});

describe("the bundle's max_new_tokens through the engine", () => {
  // models/tiny with max_new_tokens 3: every file linked, config.json rewritten.
  const dir = mkdtempSync(join(tmpdir(), 'unitok-max-new-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of readdirSync('models/tiny')) {
    if (name !== 'config.json') symlinkSync(resolve('models/tiny', name), join(dir, name));
  }
  const config = JSON.parse(readFileSync('models/tiny/config.json', 'utf8'));
  config.sampling.text.max_new_tokens = 3;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));

  test('a chat without max_tokens generates at most max_new_tokens', async () => {
    const engine = await startEngine({ model: dir, device: 'cpu', maxQueue: 2, maxBatch: 1 });
    await engine.loaded;
    try {
      assert.equal(engine.info().defaults.text.maxTokens, 3);
      const stream = await engine.submitChat({
        id: 'default-length',
        n: 1,
        signal: new AbortController().signal,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Tell me a long story.' }] }],
        sampling: {},
        stop: [],
      });
      let finish: Extract<ChatEvent, { type: 'finish' }> | undefined;
      for await (const e of stream) if (e.type === 'finish') finish = e;
      // The tiny model's greedy answer to this prompt has no EOS in its first tokens: it runs into the limit.
      assert.deepEqual([finish?.reason, finish?.completionTokens], ['length', 3]);
    } finally {
      await engine.close();
    }
  });
});
