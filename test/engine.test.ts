// The engine through its interface (engine-types.ts) on the committed tiny bundle: chat and VQA streams,
// stop strings, n > 1 and seeds, admission errors, text-to-image with previews, cancellation and lifecycle.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import {
  CancelledError,
  type ChatEvent,
  type ChatMessage,
  type ChatRequest,
  ContextLengthError,
  type EngineOptions,
  type ImageEvent,
  type ImageRequest,
  InvalidImageError,
  InvalidRequestError,
  NotReadyError,
} from '../src/model/engine-types.ts';
import { type EngineTuning, MAX_N, startEngine, type UniTokEngine } from '../src/model/main-thread/engine.ts';
import { LlamaTokenizer } from '../src/model/main-thread/text-tokenizer.ts';
import type { RunnerClient } from '../src/model/main-thread/workers.ts';
import { UniTokTokenizer } from '../src/tokenizer/unitok.ts';

const MODEL = 'models/tiny';
const SYSTEM =
  "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.";
const tokenizer = LlamaTokenizer.load(MODEL);

const user = (...content: ChatMessage['content']): ChatMessage => ({ role: 'user', content });
const text = (t: string) => ({ type: 'text' as const, text: t });

function chat(over: Partial<ChatRequest> = {}): ChatRequest {
  return {
    id: 'chat',
    n: 1,
    signal: new AbortController().signal,
    messages: [user(text('Hello, who are you?'))],
    sampling: { temperature: 0, topK: 0, topP: 1, seed: null },
    maxTokens: 8,
    stop: [],
    ...over,
  };
}

function image(over: Partial<ImageRequest> = {}): ImageRequest {
  return {
    id: 'image',
    n: 1,
    signal: new AbortController().signal,
    prompt: 'a red cube on a wooden table',
    sampling: { temperature: 1, topK: 0, topP: 1, seed: 1, guidanceScale: 7 },
    previewAt: [],
    ...over,
  };
}

const tinyEngine = (over: Partial<EngineOptions & EngineTuning> = {}) =>
  startEngine({ model: MODEL, device: 'cpu', maxQueue: 4, maxBatch: 1, ...over });

async function collect<E>(stream: AsyncIterable<E>): Promise<E[]> {
  const events: E[] = [];
  for await (const e of stream) events.push(e);
  return events;
}

/** Per choice: the concatenated text, the finish event, and the sum of the text events' token counts. */
function choices(events: ChatEvent[], n: number) {
  return Array.from({ length: n }, (_, i) => {
    const mine = events.filter((e) => e.index === i);
    const finish = mine.filter((e) => e.type === 'finish');
    assert.equal(finish.length, 1, `choice ${i} finishes once`);
    assert.equal(mine.at(-1)?.type, 'finish', `choice ${i} ends with its finish`);
    const texts = mine.flatMap((e) => (e.type === 'text' ? [e] : []));
    return {
      text: texts.map((e) => e.text).join(''),
      tokens: texts.reduce((s, e) => s + e.tokens, 0),
      finish: finish[0] as Extract<ChatEvent, { type: 'finish' }>,
    };
  });
}

async function png(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3, 0).map((_, i) => (i * 37) % 256);
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

describe('engine on models/tiny', () => {
  let engine: UniTokEngine;
  before(async () => {
    // 5000 pixels: the 40x24 test image passes, the 100x100 one is refused.
    engine = await tinyEngine({
      maxQueue: 16,
      maxBatch: 4,
      imageLimits: { maxBytes: 1 << 20, maxPixels: 5000 },
    });
    await engine.loaded;
    assert.equal(engine.info().status, 'ready', engine.info().statusMessage);
  });
  after(() => engine.close());

  test('info() describes the bundle', () => {
    const info = engine.info();
    assert.equal(info.contextLength, 512);
    assert.deepEqual(info.image, { width: 32, height: 32, visualTokens: 4, codesPerToken: 4 });
    assert.equal(info.defaults.image.guidanceScale, 7);
    assert.equal(info.defaults.text.temperature, 0);
  });

  test('multi-turn chat uses the vicuna_v1 template; streamed text is the decode of the generated tokens', async () => {
    const messages: ChatMessage[] = [
      user(text('Hi')),
      { role: 'assistant', content: [text('Hello')] },
      user(text('How are you?')),
    ];
    const stream = await engine.submitChat(chat({ messages, maxTokens: 10 }));
    const prompt = `${SYSTEM} USER: Hi ASSISTANT: Hello</s>USER: How are you? ASSISTANT:`;
    assert.deepEqual(stream.prompt, { tokens: tokenizer.encode(prompt).length, imageTokens: 0 });
    const [c] = choices(await collect(stream), 1);
    assert.equal(c.finish.reason, 'length');
    assert.equal(c.finish.completionTokens, 10);
    assert.ok(c.tokens <= 10 && c.tokens > 0);
    assert.ok(c.text.length > 0);
  });

  test('a system message replaces the template system line', async () => {
    const stream = await engine.submitChat(
      chat({ messages: [{ role: 'system', content: [text('Be brief.')] }, user(text('Hi'))] }),
    );
    assert.equal(stream.prompt.tokens, tokenizer.encode('Be brief. USER: Hi ASSISTANT:').length);
    await collect(stream);
  });

  test('n > 1: choice i draws from seed + i; the same seed gives the same text', async () => {
    const sampling = { temperature: 1, topK: 0, topP: 1, seed: 5 };
    const three = choices(await collect(await engine.submitChat(chat({ n: 3, sampling, maxTokens: 6 }))), 3);
    const again = choices(await collect(await engine.submitChat(chat({ n: 1, sampling, maxTokens: 6 }))), 1);
    const shifted = choices(
      await collect(
        await engine.submitChat(chat({ n: 1, sampling: { ...sampling, seed: 7 }, maxTokens: 6 })),
      ),
      1,
    );
    assert.equal(again[0].text, three[0].text);
    assert.equal(shifted[0].text, three[2].text);
    assert.notEqual(three[0].text, three[1].text);
  });

  test('a stop string ends the choice before it; the stop text is never sent', async () => {
    const full = choices(await collect(await engine.submitChat(chat({ maxTokens: 16 }))), 1)[0];
    const at = Math.floor(full.text.length / 2);
    const stop = full.text.slice(at, at + 3);
    const cut = choices(
      await collect(await engine.submitChat(chat({ maxTokens: 16, stop: ['never-there', stop] }))),
      1,
    )[0];
    assert.equal(cut.text, full.text.slice(0, full.text.indexOf(stop)));
    assert.equal(cut.finish.reason, 'stop');
    assert.ok(cut.finish.completionTokens < 16);
  });

  test('VQA: an image part becomes N visual tokens spliced into the prompt', async () => {
    const messages = [user({ type: 'image', data: await png(40, 24) }, text('What is in this image?'))];
    const stream = await engine.submitChat(chat({ messages }));
    const prompt = `${SYSTEM} USER: <image>\nWhat is in this image? ASSISTANT:`;
    const textTokens = tokenizer
      .encodePrompt(prompt)
      .reduce((n, s) => n + (s.type === 'text' ? s.ids.length : 0), 0);
    assert.deepEqual(stream.prompt, { tokens: textTokens + 4, imageTokens: 4 });
    const [c] = choices(await collect(stream), 1);
    assert.equal(c.finish.completionTokens, 8);
  });

  test('admission errors: context length, bad or oversized images, n, reserved text', async () => {
    const long = user(text('word '.repeat(600)));
    await assert.rejects(engine.submitChat(chat({ messages: [long] })), ContextLengthError);
    await assert.rejects(
      engine.submitChat(chat({ maxTokens: 500 })),
      // The prompt fits; max_tokens is what does not (the server names it as the param).
      (err: unknown) =>
        err instanceof ContextLengthError &&
        err.maxTokens === 500 &&
        err.promptTokens < err.contextLength &&
        err.promptTokens + 500 > err.contextLength,
    );
    await assert.rejects(engine.submitImage(image({ prompt: 'word '.repeat(600) })), ContextLengthError);
    const bad = [
      { role: 'system' as const, content: [text('x')] },
      user(text('look'), { type: 'image', data: Buffer.from('not an image') }),
    ];
    await assert.rejects(
      engine.submitChat(chat({ messages: bad })),
      (err: unknown) => err instanceof InvalidImageError && err.messageIndex === 1 && err.partIndex === 1,
    );
    const big = [user({ type: 'image', data: await png(100, 100) })];
    await assert.rejects(engine.submitChat(chat({ messages: big })), InvalidImageError);
    await assert.rejects(
      engine.submitChat(chat({ n: MAX_N + 1 })),
      (err: unknown) => err instanceof InvalidRequestError && err.param === 'n',
    );
    await assert.rejects(
      engine.submitChat(chat({ messages: [user(text('an <image> here'))] })),
      InvalidRequestError,
    );
    assert.equal(engine.stats().running + engine.stats().waiting, 0);
  });

  test('text to image: one codes event per visual token, previews at the asked points, then the PNG', async () => {
    const events = await collect(await engine.submitImage(image({ previewAt: [1, 3] })));
    const codes = events.filter((e) => e.type === 'codes');
    assert.deepEqual(
      codes.map((e) => e.index),
      [0, 1, 2, 3],
    );
    assert.ok(
      codes.every(
        (e) => e.codes.length === 4 && e.codes.every((c) => Number.isInteger(c) && c >= 0 && c < 64),
      ),
    );
    const previews = events.filter((e) => e.type === 'preview');
    assert.deepEqual(
      previews.map((e) => e.done),
      [1, 3],
    );
    const final = events.at(-1) as Extract<ImageEvent, { type: 'image' }>;
    assert.equal(final.type, 'image');

    // The final PNG is the UniTok decoder's rendering of exactly the streamed codes.
    const grid = new Int32Array(16);
    for (const e of codes) {
      e.codes.forEach((c, k) => {
        grid[k * 4 + e.index] = c;
      });
    }
    const decoder = await UniTokTokenizer.load(MODEL, { graphs: ['decode'] });
    const [want] = await decoder.decodeToPng({ data: grid, batch: 1, numCodebooks: 4, numTokens: 4 });
    await decoder.release();
    assert.ok(final.png.equals(want));

    // Preview after 3 of 4 tokens: the unknown bottom-right 16x16 cell is flat, the mean colour of the rest.
    const { data, info } = await sharp(previews[1].png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [32, 32]);
    const px = (x: number, y: number) =>
      Array.from(data.subarray((y * 32 + x) * info.channels, (y * 32 + x) * info.channels + 3));
    const flat = px(16, 16);
    for (let y = 16; y < 32; y++) for (let x = 16; x < 32; x++) assert.deepEqual(px(x, y), flat);
    const known = [0, 1, 2].map((c) => {
      let sum = 0;
      for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) if (x < 16 || y < 16) sum += px(x, y)[c];
      return sum / (32 * 32 - 16 * 16);
    });
    known.forEach((m, c) => {
      assert.ok(Math.abs(m - flat[c]) <= 1, `channel ${c}: ${flat[c]} vs mean ${m}`);
    });
  });

  test('n images use seeds seed + i', async () => {
    const grids = async (n: number, seed: number) => {
      const events = await collect(
        await engine.submitImage(image({ n, sampling: { ...image().sampling, seed } })),
      );
      return Array.from({ length: n }, (_, i) =>
        events.filter((e) => e.type === 'codes' && e.image === i).map((e) => e.type === 'codes' && e.codes),
      );
    };
    const [a, b] = await grids(2, 40);
    const [c] = await grids(1, 41);
    assert.deepEqual(c, b);
    assert.notDeepEqual(a, b);
  });

  test('aborting the signal ends the stream with CancelledError and frees the slot', async () => {
    const ac = new AbortController();
    const stream = await engine.submitChat(chat({ signal: ac.signal, maxTokens: 400 }));
    let seen = 0;
    await assert.rejects(async () => {
      for await (const _ of stream) if (++seen === 2) ac.abort('client_closed');
    }, CancelledError);
    await until(() => engine.stats().slotsUsed === 0);
  });

  test('leaving the loop early (break) cancels the request', async () => {
    const stream = await engine.submitImage(image({ n: 2 }));
    for await (const _ of stream) break;
    await until(() => engine.stats().slotsUsed === 0 && engine.stats().running === 0);
  });

  test('an already aborted signal is refused at submit', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(engine.submitChat(chat({ signal: ac.signal })), CancelledError);
  });
});

describe('engine lifecycle', () => {
  test('submits are refused with NotReadyError (Retry-After) while loading, then accepted', async () => {
    const engine = await tinyEngine();
    assert.equal(engine.info().status, 'loading');
    await assert.rejects(
      engine.submitChat(chat()),
      (err: unknown) => err instanceof NotReadyError && err.retryAfterSeconds === 5,
    );
    await engine.loaded;
    await collect(await engine.submitChat(chat({ maxTokens: 2 })));
    await engine.close();
  });

  test('a missing model fails to load with a message naming it', async () => {
    const engine = await tinyEngine({ model: 'models/does-not-exist' });
    await engine.loaded;
    assert.equal(engine.info().status, 'failed');
    assert.match(engine.info().statusMessage ?? '', /does-not-exist/);
    await assert.rejects(
      engine.submitChat(chat()),
      (err: unknown) => err instanceof NotReadyError && err.retryAfterSeconds === 60,
    );
    await engine.close();
  });

  test('--device webgpu never falls back to the CPU: without an adapter the engine fails, saying so', async () => {
    const engine = await tinyEngine({ device: 'webgpu' });
    await engine.loaded;
    const { status, statusMessage } = engine.info();
    if (status === 'failed') {
      assert.match(statusMessage ?? '', /--device webgpu/);
      assert.match(statusMessage ?? '', /does not fall back/);
    } else assert.equal(status, 'ready'); // a machine with a WebGPU adapter
    await engine.close();
  });

  test('a shorter context shrinks every KV slot, and admission follows it; an impossible KV size fails the load', async () => {
    const engine = await tinyEngine({ contextLength: 64 });
    await engine.loaded;
    assert.equal(engine.info().contextLength, 64);
    await assert.rejects(
      engine.submitChat(chat({ messages: [user(text('word '.repeat(40)))] })),
      ContextLengthError,
    );
    await collect(await engine.submitChat(chat({ maxTokens: 4 })));
    await engine.close();
    const huge = await tinyEngine({ maxBatch: 1_000_000, runners: 1 });
    await huge.loaded;
    assert.equal(huge.info().status, 'failed');
    assert.match(
      huge.info().statusMessage ?? '',
      /KV cache would take .* GiB \(1000000 slots x 512 positions\)/,
    );
    await huge.close();
    // Each runner holds its share of the slots; the check counts every runner's cache.
    const split = await tinyEngine({ maxBatch: 1_000_000, runners: 2 });
    await split.loaded;
    assert.equal(split.info().status, 'failed');
    assert.match(
      split.info().statusMessage ?? '',
      /KV cache would take .* GiB \(2 runners x 500000 slots x 512 positions\)/,
    );
    await split.close();
  });

  test('when the model runner thread dies, its requests fail and the engine reports failed', async () => {
    const engine = await tinyEngine();
    await engine.loaded;
    await (engine as unknown as { model: { runners: RunnerClient[] } }).model.runners[0].close(); // white box: stop a worker
    const stream = await engine.submitChat(chat());
    await assert.rejects(collect(stream), /model-runner worker was stopped/);
    assert.equal(engine.info().status, 'failed');
    await assert.rejects(engine.submitChat(chat()), NotReadyError);
    await engine.close();
  });

  test('close() ends in-flight streams with CancelledError', async () => {
    const engine = await tinyEngine({ maxQueue: 4, maxBatch: 2 });
    await engine.loaded;
    const stream = await engine.submitChat(chat({ maxTokens: 400 }));
    const drained = assert.rejects(collect(stream), CancelledError);
    await engine.close();
    await drained;
    await assert.rejects(engine.submitChat(chat()), NotReadyError);
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
