// The official `openai` npm client against the server on 127.0.0.1: the compatibility that matters in practice.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { dataUrl, PNG_SIGNATURE, solidPng } from './helpers/png.ts';
import { useServer } from './helpers/server.ts';

const MODEL = 'unitok-fake';

describe('openai client', { timeout: 30_000 }, () => {
  const s = useServer({ config: { apiKeys: ['sk-test'] }, listen: true });
  const client = () =>
    new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sk-test', maxRetries: 0, timeout: 5000 });

  test('chat.completions.create', async () => {
    const completion = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hello client' }],
      max_completion_tokens: 10,
      seed: 1,
    });
    assert.equal(completion.choices[0].message.content, 'You said: hello client');
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.equal(completion.usage?.total_tokens, 7, '3 prompt + 4 completion');
  });

  test('streaming chat with include_usage, and VQA with a data: URL image', async () => {
    const stream = await client().chat.completions.create({
      model: MODEL,
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'describe' },
            { type: 'image_url', image_url: { url: dataUrl(solidPng(4, 4)) } },
          ],
        },
      ],
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'You said: describe [image]');
    // image_tokens is in OpenAI's spec but not in this SDK version's type.
    assert.equal((usage?.prompt_tokens_details as { image_tokens?: number } | undefined)?.image_tokens, 16);
  });

  test('images.generate, plain and streamed with partial images', async () => {
    const images = await client().images.generate({ model: MODEL, prompt: 'a teapot', n: 1, size: 'auto' });
    assert.ok(
      Buffer.from(images.data?.[0].b64_json ?? '', 'base64')
        .subarray(0, 8)
        .equals(PNG_SIGNATURE),
    );
    assert.equal(images.usage?.output_tokens, 16);

    const stream = await client().images.generate({
      model: MODEL,
      prompt: 'a teapot',
      stream: true,
      partial_images: 2,
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    assert.deepEqual(types, [
      'image_generation.partial_image',
      'image_generation.partial_image',
      'image_generation.completed',
    ]);
  });

  test('errors surface as the SDK error classes with the envelope', async () => {
    await assert.rejects(
      client().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) =>
        err instanceof OpenAI.NotFoundError && err.code === 'model_not_found' && err.param === 'model',
    );
    await assert.rejects(
      client().chat.completions.create({ model: MODEL, messages: [] }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'messages',
    );
    await assert.rejects(
      new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'wrong', maxRetries: 0 }).models.list(),
      (err: unknown) => err instanceof OpenAI.AuthenticationError,
    );
    s.engine.queueFullRetryAfter = 1;
    try {
      await assert.rejects(
        client().images.generate({ model: MODEL, prompt: 'x' }),
        (err: unknown) => err instanceof OpenAI.RateLimitError && err.headers.get('retry-after') === '1',
      );
    } finally {
      s.engine.queueFullRetryAfter = null;
    }
  });

  test('an error in the middle of a stream raises APIError from the iterator', async () => {
    s.engine.options.failAfterTokens = 0;
    try {
      const stream = await client().chat.completions.create({
        model: MODEL,
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
      });
      await assert.rejects(async () => {
        for await (const _ of stream) {
          // drain
        }
      }, OpenAI.APIError);
    } finally {
      s.engine.options.failAfterTokens = undefined;
    }
  });

  test('models.list', async () => {
    const models = await client().models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      [MODEL],
    );
  });
});
