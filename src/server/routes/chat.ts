// POST /v1/chat/completions: text chat and VQA, or an image reply when `modalities` includes "image".
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { type ChatEvent, ContextLengthError, type ImageEvent } from '../../model/engine-types.ts';
import type {
  ChatCompletionChunkChoice,
  ChatCompletionRequestMessage,
  ChatCompletionResponseMessage,
  CompletionUsage,
  CreateChatCompletionRequest,
  CreateChatCompletionResponse,
  CreateChatCompletionStreamResponse,
  FinishReason,
} from '../api-types.generated.ts';
import type { ServerContext } from '../context.ts';
import { ApiError, invalidRequest, toApiError } from '../errors.ts';
import {
  type Admitted,
  admitChat,
  admitImages,
  checkModel,
  collectImages,
  imageSampling,
  nowSeconds,
  streamSse,
  textSampling,
  withInFlight,
} from '../generation.ts';
import { countImages, toEngineMessages } from '../image-input.ts';
import type { InFlightRequest } from '../requests.ts';
import { completionUsage } from '../usage.ts';

type Body = CreateChatCompletionRequest;

/** Identity shared by every chunk of one completion. */
interface Completion {
  id: string;
  created: number;
  model: string;
  n: number;
}

const pngDataUrl = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

/** One chat reply source: text tokens or generated images, as chunk choices plus the final usage. */
interface Reply {
  /** Streamed choice updates after the role chunks. */
  chunks(): AsyncIterable<ChatCompletionChunkChoice>;
  /** Whole messages, for the non-streamed response. */
  collect(): Promise<{ message: ChatCompletionResponseMessage; finish: FinishReason }[]>;
  usage(): CompletionUsage;
}

function textReply(admitted: Admitted<ChatEvent>, n: number): Reply {
  let completionTokens = 0;
  const count = (e: ChatEvent) => {
    if (e.type === 'finish') completionTokens += e.completionTokens;
  };
  return {
    async *chunks() {
      for await (const e of admitted.events) {
        count(e);
        if (e.type === 'text' && e.text === '') continue;
        yield e.type === 'text'
          ? { index: e.index, delta: { content: e.text }, logprobs: null, finish_reason: null }
          : { index: e.index, delta: {}, logprobs: null, finish_reason: e.reason };
      }
    },
    async collect() {
      const texts: string[] = new Array(n).fill('');
      const finish: FinishReason[] = new Array(n).fill('stop');
      for await (const e of admitted.events) {
        count(e);
        if (e.type === 'text') texts[e.index] += e.text;
        else finish[e.index] = e.reason;
      }
      return texts.map((content, i) => ({
        message: { role: 'assistant', content, refusal: null },
        finish: finish[i],
      }));
    },
    usage: () => completionUsage(admitted.prompt, completionTokens, 'text'),
  };
}

function imageReply(admitted: Admitted<ImageEvent>, n: number, visualTokens: number): Reply {
  const imagePart = (png: Buffer) => [{ type: 'image_url' as const, image_url: { url: pngDataUrl(png) } }];
  return {
    async *chunks() {
      for await (const e of admitted.events) {
        if (e.type !== 'image') continue;
        yield { index: e.image, delta: { content: imagePart(e.png) }, logprobs: null, finish_reason: null };
        yield { index: e.image, delta: {}, logprobs: null, finish_reason: 'stop' };
      }
    },
    async collect() {
      const pngs = await collectImages(admitted.events, n);
      return pngs.map((png) => ({
        message: { role: 'assistant', content: imagePart(png), refusal: null },
        finish: 'stop',
      }));
    },
    usage: () => completionUsage(admitted.prompt, n * visualTokens, 'image'),
  };
}

/** The caption for an image reply: the text of the last user message. */
function captionOf(messages: ChatCompletionRequestMessage[]): string {
  if (countImages(messages) > 0) {
    throw invalidRequest(
      "Image replies cannot take image inputs: remove the image_url parts, or drop 'image' from 'modalities'",
      'modalities',
      'unsupported_modalities',
    );
  }
  const index = messages.findLastIndex((m) => m.role === 'user');
  if (index < 0) throw invalidRequest('An image reply needs a user message holding the caption', 'messages');
  const content = messages[index].content;
  const text =
    typeof content === 'string' ? content : content.map((p) => (p.type === 'text' ? p.text : '')).join(' ');
  if (text.trim() === '') {
    throw invalidRequest(
      'The last user message has no text to use as the image caption',
      `messages[${index}].content`,
    );
  }
  return text.trim();
}

async function admitReply(
  ctx: ServerContext,
  body: Body,
  inflight: InFlightRequest,
  n: number,
): Promise<Reply> {
  const info = ctx.engine.info();
  if (body.modalities?.includes('image')) {
    const admitted = await admitImages(ctx, inflight, {
      prompt: captionOf(body.messages),
      n,
      sampling: imageSampling(body),
      previewAt: [],
    });
    return imageReply(admitted, n, info.image.visualTokens);
  }
  const messages = await toEngineMessages(body.messages, ctx.config.images, inflight.signal);
  const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  const admitted = await admitChat(ctx, inflight, {
    n,
    messages,
    sampling: textSampling(body),
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? null,
    stop,
    ignoreEos: body.ignore_eos ?? false,
  }).catch((err: unknown) => {
    // The engine names max_tokens; the client may have sent the newer max_completion_tokens.
    if (err instanceof ContextLengthError && err.maxTokens !== null && body.max_completion_tokens != null) {
      const e = toApiError(err);
      const message = e.message.replaceAll('max_tokens', 'max_completion_tokens');
      throw new ApiError(e.status, message, e.type, 'max_completion_tokens', e.code);
    }
    throw err;
  });
  return textReply(admitted, n);
}

function streamReply(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  inflight: InFlightRequest,
  c: Completion,
  source: Reply,
  includeUsage: boolean,
): Promise<FastifyReply> {
  const chunk = (
    choices: ChatCompletionChunkChoice[],
    u?: CompletionUsage,
  ): CreateChatCompletionStreamResponse => ({
    id: c.id,
    object: 'chat.completion.chunk',
    created: c.created,
    model: c.model,
    choices,
    // With include_usage every chunk carries `usage` (null until the last one), as OpenAI does.
    ...(includeUsage ? { usage: u ?? null } : {}),
  });
  // Errors after this point go in-band: the OpenAI SDK raises an APIError for a data payload with `error`.
  return streamSse(ctx, request, reply, inflight, async (sse) => {
    for (let index = 0; index < c.n; index++) {
      await sse.send(
        chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]),
      );
    }
    for await (const choice of source.chunks()) await sse.send(chunk([choice]));
    if (includeUsage) await sse.send(chunk([], source.usage()));
    await sse.done();
  });
}

const chatPlugin: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  app.route<{ Body: Body }>({
    ...ctx.spec.route('createChatCompletion'),
    handler: async (request, reply) => {
      const body = request.body;
      const model = checkModel(ctx, body.model);
      const n = body.n ?? 1;
      const kind = body.modalities?.includes('image') ? 'chat_image' : 'chat';
      return withInFlight(ctx, request, reply, kind, 'chatcmpl', async (inflight) => {
        // Admission (images decoded, prompt checked, queue slot taken) happens before any byte is sent, so
        // an over-long prompt is a plain 400 even for a streamed request.
        const source = await admitReply(ctx, body, inflight, n);
        const c: Completion = { id: inflight.id, created: nowSeconds(), model, n };
        if (body.stream) {
          return streamReply(
            ctx,
            request,
            reply,
            inflight,
            c,
            source,
            body.stream_options?.include_usage === true,
          );
        }
        const messages = await source.collect();
        const response: CreateChatCompletionResponse = {
          id: c.id,
          object: 'chat.completion',
          created: c.created,
          model,
          choices: messages.map(({ message, finish }, index) => ({
            index,
            message,
            logprobs: null,
            finish_reason: finish,
          })),
          usage: source.usage(),
        };
        return response;
      });
    },
  });
};

export default chatPlugin;
