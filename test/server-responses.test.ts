// POST /v1/responses: the official `openai` client's responses.create / responses.stream on loopback (text and image,
// streamed and not), the event sequence and its schema, the text-or-image rule, and every refused input as a 400.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import sharp from 'sharp';
import request from 'supertest';
import type { ResponseObject } from '../src/server/api-types.generated.ts';
import { dataUrl, PNG_SIGNATURE, solidPng } from './helpers/png.ts';
import { assertError, assertSchema, useServer } from './helpers/server.ts';
import { parseSse } from './helpers/sse.ts';

const MODEL = 'unitok-fake';
const DRAW = [{ type: 'image_generation' as const }];

describe('responses', { timeout: 30_000 }, () => {
  const s = useServer({ listen: true });
  const client = () => new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'none', maxRetries: 0, timeout: 5000 });
  const post = (body: object) => request(s.app.server).post('/v1/responses').send(body);

  test('responses.create: a text answer, with instructions as the system message', async () => {
    const response = await client().responses.create({
      model: MODEL,
      instructions: 'Be brief.',
      input: 'hello there',
      temperature: 0.5,
      metadata: { run: '7' },
    });
    assertSchema('ResponseObject', response);
    assert.equal(response.status, 'completed');
    assert.equal(response.output_text, 'You said: hello there');
    assert.equal(response.output[0].type, 'message');
    assert.equal(response.temperature, 0.5);
    assert.deepEqual(response.metadata, { run: '7' });
    assert.match(response.id, /^resp-/);
    // fake: 2 messages (+2) + 2 + 2 words; 4 reply words
    assert.equal(response.usage?.input_tokens, 6);
    assert.equal(response.usage?.output_tokens, 4);
    const req = s.engine.chatRequests.at(-1);
    assert.deepEqual(
      req?.messages.map((m) => m.role),
      ['system', 'user'],
    );
    assert.equal(req?.sampling.temperature, 0.5);
  });

  test('message items with input_text / input_image parts and earlier output_text answers (VQA)', async () => {
    const response = await client().responses.create({
      model: MODEL,
      tools: DRAW,
      input: [
        { role: 'user', content: 'first' },
        {
          type: 'message',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'ok', annotations: [] }],
        },
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'what is this' },
            { type: 'input_image', image_url: dataUrl(solidPng(4, 4)), detail: 'auto' },
          ],
        },
      ],
    } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    // tool offered, tool_choice auto, an input image: a text answer about it
    assert.equal(response.output_text, 'You said: what is this [image]');
    assert.equal(
      (response.usage?.input_tokens_details as { image_tokens?: number } | undefined)?.image_tokens,
      16,
    );
  });

  test('max_output_tokens cuts the answer: status incomplete, reason max_output_tokens', async () => {
    const response = await client().responses.create({
      model: MODEL,
      input: 'one two three four',
      max_output_tokens: 2,
    });
    assert.equal(response.status, 'incomplete');
    assert.deepEqual(response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(response.output_text, 'You said:');
    assert.equal(s.engine.chatRequests.at(-1)?.maxTokens, 2);
  });

  test('responses.create with the image_generation tool draws: image_generation_call with a PNG', async () => {
    const response = await client().responses.create({ model: MODEL, input: 'a red circle', tools: DRAW });
    assertSchema('ResponseObject', response);
    const call = response.output[0];
    assert.equal(call.type, 'image_generation_call');
    assert.equal(call.status, 'completed');
    assert.ok(
      Buffer.from(call.result ?? '', 'base64')
        .subarray(0, 8)
        .equals(PNG_SIGNATURE),
    );
    assert.equal((call as { revised_prompt?: string }).revised_prompt, 'a red circle');
    assert.equal(response.usage?.output_tokens, 16, 'visual tokens');
    assert.equal(s.engine.imageRequests.at(-1)?.prompt, 'a red circle');
    assert.deepEqual(s.engine.imageRequests.at(-1)?.previewAt, [], 'no previews unless streaming');
  });

  test('responses.stream: text deltas and the final response', async () => {
    const stream = client().responses.stream({ model: MODEL, input: 'stream me please' });
    let text = '';
    stream.on('response.output_text.delta', (e) => {
      text += e.delta;
    });
    const final = await stream.finalResponse();
    assert.equal(text, 'You said: stream me please');
    assert.equal(final.output_text, text);
    assert.equal(final.status, 'completed');
  });

  test('streamed text follows OpenAI event order with increasing sequence_number, each matching the schema', async () => {
    const res = await post({ input: 'a b', stream: true });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    const events = parseSse(res.text).events.map((e) => ({
      name: e.event,
      data: JSON.parse(e.data),
    }));
    for (const e of events) {
      assert.equal(e.name, e.data.type, 'the SSE event name is the type');
      assertSchema('ResponseStreamEvent', e.data);
    }
    assert.deepEqual(
      events.map((e) => e.data.sequence_number),
      events.map((_, i) => i),
    );
    assert.deepEqual(
      events.map((e) => e.data.type),
      [
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.delta',
        'response.output_text.delta',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ],
    );
    const done = events.at(-1)?.data.response as ResponseObject;
    assert.equal(done.status, 'completed');
    assert.ok(done.usage);
  });

  test('streamed drawing: in_progress, generating, partial images, completed, in the requested format', async () => {
    const stream = await client().responses.create({
      model: MODEL,
      input: 'a blue square',
      stream: true,
      tools: [{ type: 'image_generation', partial_images: 2, output_format: 'jpeg', output_compression: 80 }],
      tool_choice: { type: 'image_generation' },
    });
    const types: string[] = [];
    const partials: string[] = [];
    let final: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      assertSchema('ResponseStreamEvent', event);
      if (event.type === 'response.image_generation_call.partial_image')
        partials.push(event.partial_image_b64);
      if (event.type === 'response.completed') final = event.response;
    }
    assert.deepEqual(types, [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.image_generation_call.in_progress',
      'response.image_generation_call.generating',
      'response.image_generation_call.partial_image',
      'response.image_generation_call.partial_image',
      'response.image_generation_call.completed',
      'response.output_item.done',
      'response.completed',
    ]);
    assert.deepEqual(s.engine.imageRequests.at(-1)?.previewAt, [5, 11]);
    const call = final?.output[0];
    assert.equal(call?.type, 'image_generation_call');
    const result = Buffer.from((call as { result: string }).result, 'base64');
    assert.equal((await sharp(result).metadata()).format, 'jpeg');
    assert.equal((await sharp(Buffer.from(partials[0], 'base64')).metadata()).format, 'jpeg');
  });

  test('responses.stream of a drawing resolves to the final response with the image', async () => {
    const stream = client().responses.stream({
      model: MODEL,
      input: 'a dot',
      tools: DRAW,
      tool_choice: 'required',
    });
    const final = await stream.finalResponse();
    assert.equal(final.output[0].type, 'image_generation_call');
    assert.ok((final.output[0] as { result: string }).result.length > 0);
  });

  test("tool_choice 'none' keeps text while the tool is offered", async () => {
    const response = await client().responses.create({
      model: MODEL,
      input: 'hi',
      tools: DRAW,
      tool_choice: 'none',
    });
    assert.equal(response.output[0].type, 'message');
  });

  test('a failure after the stream started: an error event, then response.failed', async () => {
    s.engine.options.failAfterTokens = 0;
    try {
      const stream = await client().responses.create({ model: MODEL, input: 'x y', stream: true });
      const events: OpenAI.Responses.ResponseStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      assert.deepEqual(
        events.slice(-2).map((e) => e.type),
        ['error', 'response.failed'],
      );
      const failed = events.at(-1) as OpenAI.Responses.ResponseFailedEvent;
      assert.equal(failed.response.status, 'failed');
      assert.equal(failed.response.error?.code, 'internal_error' as never);
    } finally {
      s.engine.options.failAfterTokens = undefined;
    }
  });

  test('errors before the stream are 400 envelopes naming the field, raised by the client as BadRequestError', async () => {
    await assert.rejects(
      client().responses.create({ model: MODEL, input: 'x', previous_response_id: 'resp_1' }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'previous_response_id',
    );
    await assert.rejects(
      client().responses.create({
        model: MODEL,
        input: 'x',
        tools: [{ type: 'image_generation', background: 'transparent' }],
      }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'tools[0].background',
    );
  });

  const bad: [string, object, string, RegExp?][] = [
    ['missing input', {}, 'input'],
    ['empty input', { input: '' }, 'input'],
    [
      'an unknown item type',
      { input: [{ type: 'function_call_output', role: 'user', content: 'x' }] },
      'input[0].type',
    ],
    ['an item reference', { input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type'],
    [
      'an unknown content part',
      { input: [{ role: 'user', content: [{ type: 'input_file' }] }] },
      'input[0].content[0].type',
    ],
    [
      'file_id images',
      { input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'f' }] }] },
      'input[0].content[0].file_id',
    ],
    [
      'an image without image_url',
      { input: [{ role: 'user', content: [{ type: 'input_image' }] }] },
      'input[0].content[0].image_url',
    ],
    [
      'a broken data URL',
      {
        input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'data:text/plain;base64,AA' }] }],
      },
      'input[0].content[0].image_url',
    ],
    ['a function tool', { input: 'x', tools: [{ type: 'function', name: 'f' }] }, 'tools[0].type'],
    ['tool_choice without the tool', { input: 'x', tool_choice: 'required' }, 'tool_choice'],
    [
      'a forced drawing from an image',
      {
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_image', image_url: dataUrl(solidPng(2, 2)) },
              { type: 'input_text', text: 'x' },
            ],
          },
        ],
        tools: DRAW,
        tool_choice: 'required',
      },
      'input[0]',
    ],
    ['a drawing with no caption', { input: [{ role: 'system', content: 'x' }], tools: DRAW }, 'input'],
    [
      'another size',
      { input: 'x', tools: [{ type: 'image_generation', size: '1024x1024' }] },
      'tools[0].size',
    ],
    [
      'png with compression',
      { input: 'x', tools: [{ type: 'image_generation', output_compression: 50 }] },
      'tools[0].output_compression',
    ],
    ['image edits', { input: 'x', tools: [{ type: 'image_generation', action: 'edit' }] }, 'tools[0].action'],
    [
      'another image model',
      { input: 'x', tools: [{ type: 'image_generation', model: 'gpt-image-1' }] },
      'tools[0].model',
    ],
    ['an unknown tool field', { input: 'x', tools: [{ type: 'image_generation', n: 2 }] }, 'tools[0].n'],
    [
      'partial_images over 3',
      { input: 'x', tools: [{ type: 'image_generation', partial_images: 4 }] },
      'tools[0].partial_images',
    ],
    ['json output', { input: 'x', text: { format: { type: 'json_object' } } }, 'text.format'],
    ['reasoning', { input: 'x', reasoning: { effort: 'high' } }, 'reasoning'],
    ['truncation auto', { input: 'x', truncation: 'auto' }, 'truncation'],
    ['include', { input: 'x', include: ['message.output_text.logprobs'] }, 'include'],
    ['background mode', { input: 'x', background: true }, 'background'],
    ['conversation', { input: 'x', conversation: 'conv_1' }, 'conversation'],
    ['top_logprobs', { input: 'x', top_logprobs: 2 }, 'top_logprobs'],
    ['temperature out of range', { input: 'x', temperature: 3 }, 'temperature'],
    ['max_output_tokens 0', { input: 'x', max_output_tokens: 0 }, 'max_output_tokens'],
  ];
  for (const [what, body, param] of bad) {
    test(`400 for ${what}, naming '${param}'`, async () => {
      const before = s.engine.chatRequests.length + s.engine.imageRequests.length;
      assertError(await post(body), 400, { type: 'invalid_request_error', param });
      assert.equal(
        s.engine.chatRequests.length + s.engine.imageRequests.length,
        before,
        'nothing reached the engine',
      );
    });
  }

  test('an over-long input is a 400 exceed_context_size_error naming input, even when streamed', async () => {
    const long = Array.from({ length: 80 }, (_, i) => `w${i}`).join(' ');
    assertError(await post({ input: long, stream: true }), 400, {
      type: 'exceed_context_size_error',
      param: 'input',
    });
  });

  test('an unknown model is a 404 naming model', async () => {
    assertError(await post({ model: 'gpt-4o', input: 'x' }), 404, {
      param: 'model',
      code: 'model_not_found',
    });
  });
});

describe('responses: cancel while streaming', { timeout: 30_000 }, () => {
  const s = useServer({ engine: { tokenDelayMs: 5 }, listen: true });

  test('POST /v1/requests/{id}/cancel ends the stream with an error event and response.failed, status cancelled', async () => {
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'none', maxRetries: 0, timeout: 5000 });
    const stream = await client.responses.create(
      { model: MODEL, input: 'one two three four five six seven eight', stream: true },
      { headers: { 'x-request-id': 'resp-cancel-me' } },
    );
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) {
      events.push(event);
      if (event.type === 'response.output_text.delta' && events.length < 6) {
        assert.equal((await request(s.app.server).post('/v1/requests/resp-cancel-me/cancel')).status, 200);
      }
    }
    const [error, failed] = events.slice(-2);
    assert.equal(error.type, 'error');
    assert.equal((error as OpenAI.Responses.ResponseErrorEvent).code, 'request_cancelled');
    assert.equal(failed.type, 'response.failed');
    assert.equal((failed as OpenAI.Responses.ResponseFailedEvent).response.status, 'cancelled');
    assert.equal((failed as OpenAI.Responses.ResponseFailedEvent).response.id, 'resp-cancel-me');
  });
});
