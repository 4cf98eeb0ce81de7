// POST /v1/chat/completions against the fake engine: responses, streaming, image inputs, image replies, and a
// failing engine. Every way a request can be wrong: server-chat-errors.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import request from 'supertest';
import type {
  CreateChatCompletionResponse,
  CreateChatCompletionStreamResponse,
} from '../src/server/api-types.generated.ts';
import { dataUrl, solidPng } from './helpers/png.ts';
import { assertError, assertSchema, useServer } from './helpers/server.ts';
import { sseJson } from './helpers/sse.ts';

const MODEL = 'unitok-fake';
const user = (content: unknown) => ({ role: 'user', content });
const imagePart = (url: string) => ({ type: 'image_url', image_url: { url } });

describe('chat completions', { timeout: 30_000 }, () => {
  const s = useServer({ config: { images: { maxPerRequest: 2, maxBytes: 4096, maxPixels: 512 * 512 } } });
  const post = (body: unknown) =>
    request(s.app.server)
      .post('/v1/chat/completions')
      .send(body as object);

  test('answers a text chat with the OpenAI response shape and usage', async () => {
    const res = await post({
      model: MODEL,
      messages: [{ role: 'system', content: 'be brief' }, user('hello there')],
    });
    assert.equal(res.status, 200);
    assertSchema('CreateChatCompletionResponse', res.body);
    const body = res.body as CreateChatCompletionResponse;
    assert.equal(body.id, res.headers['x-request-id']);
    assert.equal(body.model, MODEL);
    assert.deepEqual(body.choices[0].message, {
      role: 'assistant',
      content: 'You said: hello there',
      refusal: null,
    });
    assert.equal(body.choices[0].finish_reason, 'stop');
    // fake: 1 per message + words = (1 + 2) + (1 + 2)
    assert.deepEqual(body.usage, {
      prompt_tokens: 6,
      completion_tokens: 4,
      total_tokens: 10,
      prompt_tokens_details: { text_tokens: 6, image_tokens: 0 },
      completion_tokens_details: { text_tokens: 4, image_tokens: 0 },
    });
  });

  test('passes sampling as the client sent it (the engine fills the model defaults), stop, max tokens and n', async () => {
    const res = await post({
      model: MODEL,
      messages: [user('one two three four')],
      temperature: 0.5,
      top_k: 40,
      seed: 7,
      stop: 'three',
      max_tokens: 9,
      n: 2,
    });
    assert.equal(res.status, 200);
    const req = s.engine.chatRequests.at(-1);
    assert.ok(req);
    assert.deepEqual(req.sampling, { temperature: 0.5, topK: 40, seed: 7 });
    assert.deepEqual(req.stop, ['three']);
    assert.equal(req.maxTokens, 9);
    assert.equal(req.ignoreEos, false, 'ignore_eos defaults to false');
    assert.equal(req.n, 2);
    assert.equal(req.messages[0].role, 'user');
    const body = res.body as CreateChatCompletionResponse;
    assert.deepEqual(
      body.choices.map((c) => [c.index, c.message.content]),
      [
        [0, 'You said: one two '],
        [1, 'You said: one two '],
      ],
    );
    assert.equal(body.usage.completion_tokens, 10, '5 tokens per choice');
  });

  test('max_completion_tokens wins over max_tokens and reports finish_reason length', async () => {
    const res = await post({
      model: MODEL,
      messages: [user('a b c d e f')],
      max_tokens: 20,
      max_completion_tokens: 3,
    });
    assert.equal(s.engine.chatRequests.at(-1)?.maxTokens, 3);
    const body = res.body as CreateChatCompletionResponse;
    const ignoring = await post({ model: MODEL, messages: [user('a b')], ignore_eos: true });
    assert.equal(ignoring.status, 200);
    assert.equal(s.engine.chatRequests.at(-1)?.ignoreEos, true, 'ignore_eos reaches the engine');
    const bad = await post({ model: MODEL, messages: [user('a b')], ignore_eos: 'yes' });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /ignore_eos/);
    assert.equal(body.choices[0].message.content, 'You said: a');
    assert.equal(body.choices[0].finish_reason, 'length');
  });

  test('streams chunks, a usage chunk with include_usage, then [DONE]', async () => {
    const res = await post({
      model: MODEL,
      messages: [user('stream me')],
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    const chunks = sseJson(res.text, { done: true }) as CreateChatCompletionStreamResponse[];
    for (const chunk of chunks) assertSchema('CreateChatCompletionStreamResponse', chunk);
    assert.ok(chunks.every((c) => c.id === res.headers['x-request-id'] && c.created === chunks[0].created));
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    const text = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
    assert.equal(text, 'You said: stream me');
    const finish = chunks.at(-2);
    assert.deepEqual(finish?.choices[0], { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' });
    const usageChunk = chunks.at(-1);
    assert.deepEqual(usageChunk?.choices, []);
    assert.equal(usageChunk?.usage?.completion_tokens, 4);
    assert.ok(
      chunks.slice(0, -1).every((c) => c.usage === null),
      'other chunks carry usage: null',
    );
  });

  test('streams without usage fields unless asked', async () => {
    const res = await post({ model: MODEL, messages: [user('x')], stream: true });
    const chunks = sseJson(res.text, { done: true }) as CreateChatCompletionStreamResponse[];
    assert.ok(chunks.every((c) => !('usage' in c) && c.choices.length === 1));
  });

  test('streams n choices told apart by index', async () => {
    const res = await post({ model: MODEL, messages: [user('hi')], stream: true, n: 2 });
    const chunks = sseJson(res.text, { done: true }) as CreateChatCompletionStreamResponse[];
    for (const index of [0, 1]) {
      const mine = chunks.flatMap((c) => c.choices).filter((ch) => ch.index === index);
      assert.equal(mine.map((ch) => ch.delta.content ?? '').join(''), 'You said: hi');
      assert.equal(mine.at(-1)?.finish_reason, 'stop');
    }
  });

  test('decodes data: URL images and sends their bytes to the engine (VQA)', async () => {
    const png = solidPng(8, 8);
    const res = await post({
      model: MODEL,
      messages: [user([{ type: 'text', text: 'what is this' }, imagePart(dataUrl(png))])],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const part = s.engine.chatRequests.at(-1)?.messages[0].content[1];
    assert.equal(part?.type, 'image');
    assert.ok(part?.type === 'image' && part.data.equals(png));
    const body = res.body as CreateChatCompletionResponse;
    assert.equal(body.usage.prompt_tokens_details?.image_tokens, 16);
    assert.equal(body.choices[0].message.content, 'You said: what is this [image]');
  });

  test('answers with a generated image for modalities ["text","image"]', async () => {
    const res = await post({
      model: MODEL,
      messages: [user('a red fox')],
      modalities: ['text', 'image'],
      guidance_scale: 3,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assertSchema('CreateChatCompletionResponse', res.body);
    const req = s.engine.imageRequests.at(-1);
    assert.equal(req?.prompt, 'a red fox');
    assert.equal(req?.sampling.guidanceScale, 3);
    const body = res.body as CreateChatCompletionResponse;
    const content = body.choices[0].message.content;
    assert.ok(Array.isArray(content));
    assert.equal(content[0].type, 'image_url');
    assert.match(content[0].image_url.url, /^data:image\/png;base64,iVBORw0KGgo/);
    assert.deepEqual(body.usage.completion_tokens_details, { text_tokens: 0, image_tokens: 16 });
  });

  test('streams an image reply as one image_url content delta per choice', async () => {
    const res = await post({
      model: MODEL,
      messages: [user('a blue bird')],
      modalities: ['image'],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = sseJson(res.text, { done: true }) as CreateChatCompletionStreamResponse[];
    for (const chunk of chunks) assertSchema('CreateChatCompletionStreamResponse', chunk);
    const imageDeltas = chunks.flatMap((c) => c.choices).filter((ch) => Array.isArray(ch.delta.content));
    assert.equal(imageDeltas.length, 1);
    assert.equal(chunks.at(-1)?.usage?.completion_tokens, 16);
  });

  test('rejects image replies from image inputs, naming modalities', async () => {
    const res = await post({
      model: MODEL,
      messages: [user([{ type: 'text', text: 'edit' }, imagePart(dataUrl(solidPng(2, 2)))])],
      modalities: ['text', 'image'],
    });
    assertError(res, 400, { param: 'modalities', code: 'unsupported_modalities' });
  });

  test('uses and echoes a client-chosen x-request-id; a duplicate in flight is 409', async () => {
    const res = await post({ model: MODEL, messages: [user('hi')] }).set('x-request-id', 'my-id.1');
    assert.equal(res.headers['x-request-id'], 'my-id.1');
    assert.equal((res.body as CreateChatCompletionResponse).id, 'my-id.1');
    const bad = await post({ model: MODEL, messages: [user('hi')] }).set('x-request-id', 'no spaces allowed');
    assertError(bad, 400, { param: 'x-request-id' });
  });
});

describe('chat completions: engine failure mid-stream', { timeout: 30_000 }, () => {
  const s = useServer({ engine: { failAfterTokens: 2 } });

  test('is sent in-band as data: {"error":...} without [DONE]', async () => {
    const res = await request(s.app.server)
      .post('/v1/chat/completions')
      .send({ model: MODEL, messages: [user('a b c d')], stream: true });
    assert.equal(res.status, 200);
    const events = sseJson(res.text, { done: false }) as { error?: unknown }[];
    const last = events.at(-1);
    assertSchema('ErrorResponse', last);
    assert.deepEqual(last?.error, {
      message: 'The server had an error while processing your request',
      type: 'server_error',
      param: null,
      code: 'internal_error',
    });
    assert.equal(events.filter((e) => 'choices' in e).length, 3, 'role chunk + 2 tokens before the failure');
  });

  test('is a 500 envelope when not streaming', async () => {
    const res = await request(s.app.server)
      .post('/v1/chat/completions')
      .send({ model: MODEL, messages: [user('a b c d')] });
    assertError(res, 500, { type: 'server_error' });
  });
});
