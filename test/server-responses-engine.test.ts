// The real server around the real engine (models/tiny, random weights) on 127.0.0.1, driven by the official `openai`
// client: Responses text and drawings, streamed and not, and the image options, end to end through onnxruntime.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import sharp from 'sharp';
import { startEngine, type UniTokEngine } from '../src/model/main-thread/engine.ts';
import { buildServer } from '../src/server/app.ts';
import { assertSchema, listen } from './helpers/server.ts';

describe('openai client against the server on models/tiny', { timeout: 120_000 }, () => {
  let engine: UniTokEngine;
  let app: FastifyInstance;
  let client: OpenAI;
  let model: string;
  before(async () => {
    engine = await startEngine({ model: 'models/tiny', device: 'cpu', maxQueue: 4, maxBatch: 2 });
    await engine.loaded;
    assert.equal(engine.info().status, 'ready', engine.info().statusMessage);
    model = engine.info().id;
    app = buildServer({ engine, config: { sseKeepAliveMs: 0 }, logger: false });
    client = new OpenAI({
      baseURL: `${await listen(app)}/v1`,
      apiKey: 'none',
      maxRetries: 0,
      timeout: 60_000,
    });
  });
  after(async () => {
    await app?.close();
    await engine?.close();
  });

  test('responses.create answers in text, cut at max_output_tokens', async () => {
    const response = await client.responses.create({
      model,
      input: 'Hello, who are you?',
      max_output_tokens: 6,
    });
    assertSchema('ResponseObject', response);
    assert.equal(response.output[0].type, 'message');
    assert.equal(response.usage?.output_tokens, 6);
    assert.equal(response.status, 'incomplete', 'random weights do not stop within 6 tokens');
    assert.ok(response.usage && response.usage.input_tokens > 5);
  });

  test('responses.stream: the deltas add up to the final text', async () => {
    const stream = client.responses.stream({
      model,
      input: 'Tell me a story.',
      max_output_tokens: 5,
      temperature: 0,
    });
    let text = '';
    stream.on('response.output_text.delta', (e) => {
      text += e.delta;
    });
    const final = await stream.finalResponse();
    assert.equal(final.output_text, text);
    assert.equal(final.usage?.output_tokens, 5);
  });

  test('responses.create with the image_generation tool returns the decoded image in the asked format', async () => {
    const response = await client.responses.create({
      model,
      input: 'a red cube',
      tools: [{ type: 'image_generation', output_format: 'webp', output_compression: 90 }],
    });
    const call = response.output[0] as OpenAI.Responses.ResponseOutputItem.ImageGenerationCall;
    assert.equal(call.type, 'image_generation_call');
    const meta = await sharp(Buffer.from(call.result ?? '', 'base64')).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 32, 32]);
    assert.equal(response.usage?.output_tokens, 4, "the tiny bundle's 2x2 visual tokens");
  });

  test('a streamed drawing sends a partial image before the result', async () => {
    const stream = await client.responses.create({
      model,
      input: 'a blue sphere',
      stream: true,
      tools: [{ type: 'image_generation', partial_images: 1 }],
      tool_choice: 'required',
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    assert.ok(types.includes('response.image_generation_call.partial_image'), types.join());
    assert.equal(types.at(-1), 'response.completed');
  });

  test('images.generate with output_format jpeg', async () => {
    const images = await client.images.generate({ model, prompt: 'a cat', output_format: 'jpeg' });
    assert.equal(images.output_format, 'jpeg');
    const meta = await sharp(Buffer.from(images.data?.[0].b64_json ?? '', 'base64')).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(images.usage?.output_tokens, 4);
  });
});
