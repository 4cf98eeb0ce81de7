import type {
  ImageStreamGenerateMessage,
  StreamChatMessage,
  StreamImageMessage,
} from './api-types.generated.ts';
import type { ServerContext } from './context.ts';
import {
  admitChat,
  admitImages,
  checkModel,
  checkSize,
  everyN,
  imageSampling,
  imagesUsage,
  textSampling,
} from './generation.ts';
import { toEngineMessages } from './image-input.ts';
import type { InFlightRequest } from './requests.ts';
import { completionUsage } from './usage.ts';

type Send = (message: object) => void;

export interface ImageJobOptions {
  /** /v1/stream's additions: `kind` and `prompt_tokens` on `started`, and a closing `done` with the job's usage. */
  session: boolean;
}

export async function runImageJob(
  ctx: ServerContext,
  inflight: InFlightRequest,
  message: ImageStreamGenerateMessage | StreamImageMessage,
  send: Send,
  { session }: ImageJobOptions,
): Promise<void> {
  const { id } = inflight;
  checkModel(ctx, message.model);
  const info = ctx.engine.info();
  const size = checkSize(info, message.size);
  const total = info.image.visualTokens;
  const n = message.n ?? 1;
  const { prompt, events } = await admitImages(ctx, inflight, {
    prompt: message.prompt,
    n,
    sampling: imageSampling(message),
    // The server's preview cadence is a default: a job that asks for best_of above 1 gets none (a preview shows
    // one drawing as it is made); only a preview_every it sets itself conflicts with best_of.
    previewAt: everyN(
      total,
      message.preview_every ?? ((message.best_of ?? 1) > 1 ? 0 : ctx.config.previewEvery),
    ),
  });
  const extra = session ? { kind: 'image', prompt_tokens: prompt.tokens } : {};
  send({ type: 'started', id, ...extra, n, total, codes_per_token: info.image.codesPerToken, size });
  const previews: number[] = new Array(n).fill(0);
  for await (const e of events) {
    if (e.type === 'codes') {
      if (message.send_codes !== false)
        send({ type: 'codes', id, image: e.image, index: e.index, codes: e.codes });
      send({ type: 'progress', id, image: e.image, done: e.index + 1, total });
    } else if (e.type === 'preview') {
      const index = previews[e.image]++;
      send({ type: 'preview', id, image: e.image, index, done: e.done, png_b64: e.png.toString('base64') });
    } else {
      const usage = imagesUsage(prompt, total);
      send({ type: 'completed', id, image: e.image, png_b64: e.png.toString('base64'), usage });
    }
  }
  if (session) send({ type: 'done', id, usage: completionUsage(prompt, n * total, 'image') });
}

export async function runChatJob(
  ctx: ServerContext,
  inflight: InFlightRequest,
  message: StreamChatMessage,
  send: Send,
): Promise<void> {
  const { id } = inflight;
  checkModel(ctx, message.model);
  const n = message.n ?? 1;
  const messages = await toEngineMessages(message.messages, ctx.config.images, inflight.signal);
  const stop = message.stop == null ? [] : typeof message.stop === 'string' ? [message.stop] : message.stop;
  const { prompt, events } = await admitChat(ctx, inflight, {
    n,
    messages,
    sampling: textSampling(message),
    maxTokens: message.max_tokens ?? null,
    stop,
  });
  send({ type: 'started', id, kind: 'chat', n, prompt_tokens: prompt.tokens });
  let completionTokens = 0;
  for await (const e of events) {
    if (e.type === 'text') {
      if (e.text !== '') send({ type: 'delta', id, index: e.index, text: e.text });
    } else {
      completionTokens += e.completionTokens;
      send({ type: 'finish', id, index: e.index, finish_reason: e.reason });
    }
  }
  send({ type: 'done', id, usage: completionUsage(prompt, completionTokens, 'text') });
}
