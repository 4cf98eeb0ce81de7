// Request plumbing shared by the chat, images and WebSocket routes: model/size checks, the client's sampling fields,
// preview schedules, the in-flight lifecycle of one HTTP request, and metrics around engine streams.
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  CancelledError,
  type ChatEvent,
  type ChatRequest,
  type EngineInfo,
  type EngineStream,
  type ImageEvent,
  type ImageSamplingRequest,
  type PromptUsage,
  type SamplingRequest,
} from '../model/engine-types.ts';
import type { ImagesUsage } from './api-types.generated.ts';
import type { ServerContext } from './context.ts';
import { type ApiError, invalidRequest, notFound } from './errors.ts';
import type { Modality, RequestTracker } from './metrics.ts';
import type { InFlightRequest, RequestKind } from './requests.ts';
import { SseWriter } from './sse.ts';

export const nowSeconds = () => Math.floor(Date.now() / 1000);

export const servedModel = (ctx: ServerContext) => ctx.config.servedModelName ?? ctx.engine.info().id;

/** The model clients asked for must be the one served; returns its id. */
export function checkModel(ctx: ServerContext, model: string | undefined): string {
  const served = servedModel(ctx);
  if (model !== undefined && model !== served) {
    throw notFound(
      `The model '${model}' does not exist on this server; it serves '${served}'`,
      'model',
      'model_not_found',
    );
  }
  return served;
}

/** `auto` or the model's own WxH; returns the WxH. `param` names the field in the request. */
export function checkSize(info: EngineInfo, size: string | null | undefined, param = 'size'): string {
  const own = `${info.image.width}x${info.image.height}`;
  if (size != null && size !== 'auto' && size !== own) {
    throw invalidRequest(
      `Invalid value for '${param}': this model generates ${own} images only (or 'auto'), got '${size}'`,
      param,
      'unsupported_size',
    );
  }
  return own;
}

interface SamplingFields {
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  seed?: number | null;
  guidance_scale?: number | null;
  best_of?: number | null;
}

/** The fields the client set, renamed for the engine; the engine fills the rest from the model's defaults. */
function sent<K extends string>(pairs: [K, number | null | undefined][]): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const [key, value] of pairs) if (value != null) out[key] = value;
  return out;
}

export function textSampling(body: SamplingFields): SamplingRequest {
  return sent([
    ['temperature', body.temperature],
    ['topP', body.top_p],
    ['topK', body.top_k],
    ['seed', body.seed],
  ]);
}

export function imageSampling(body: SamplingFields): ImageSamplingRequest {
  return {
    ...textSampling(body),
    ...sent([
      ['guidanceScale', body.guidance_scale],
      ['bestOf', body.best_of],
    ]),
  };
}

/** `count` preview points spread evenly over an image of `total` visual tokens (OpenAI partial_images). */
export function evenlySpaced(total: number, count: number): number[] {
  const points = Array.from({ length: count }, (_, k) => Math.round((total * (k + 1)) / (count + 1)));
  return [...new Set(points)].filter((p) => p >= 1 && p < total);
}

/** A preview every `step` visual tokens (WebSocket preview_every); 0 = none. */
export function everyN(total: number, step: number): number[] {
  if (step <= 0) return [];
  return Array.from({ length: Math.ceil(total / step) - 1 }, (_, k) => (k + 1) * step);
}

export function imagesUsage(prompt: PromptUsage, outputTokens: number): ImagesUsage {
  return {
    total_tokens: prompt.tokens + outputTokens,
    input_tokens: prompt.tokens,
    output_tokens: outputTokens,
    input_tokens_details: {
      text_tokens: prompt.tokens - prompt.imageTokens,
      image_tokens: prompt.imageTokens,
    },
  };
}

/**
 * Runs one HTTP generation request: registers it (client-chosen or fresh id, echoed as x-request-id), aborts
 * it if the client disconnects before the response is written, and maps whatever `run` throws to an ApiError.
 */
export async function withInFlight<T>(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  kind: RequestKind,
  prefix: string,
  run: (inflight: InFlightRequest) => Promise<T>,
): Promise<T> {
  const inflight = ctx.requests.start(kind, prefix, request.headers['x-request-id'] as string | undefined);
  reply.header('x-request-id', inflight.id);
  const onClose = () => {
    if (!reply.raw.writableFinished) inflight.abort('client_closed');
  };
  reply.raw.on('close', onClose);
  try {
    return await run(inflight);
  } catch (err) {
    const apiError = inflight.error(err);
    logIfServerError(request, apiError, err);
    throw apiError;
  } finally {
    reply.raw.off('close', onClose);
    inflight.finish();
  }
}

/** Logs what the client will see as a 5xx, with the original error for the operator. */
export function logIfServerError(request: FastifyRequest, apiError: ApiError, err: unknown): void {
  if (apiError.status >= 500 && apiError.status !== 503) request.log.error({ err }, 'generation failed');
}

/**
 * Streams a response as SSE: `produce` writes the events; an error thrown once the stream is open is sent
 * in-band as `{error:{...}}` (named `errorEvent` if given) because the status line is already out.
 * A client disconnect aborts the request; the stream always ends.
 */
export async function streamSse(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  inflight: InFlightRequest,
  produce: (sse: SseWriter) => Promise<void>,
  errorEvent?: string,
): Promise<FastifyReply> {
  const sse = new SseWriter(reply, {
    keepAliveMs: ctx.config.sseKeepAliveMs,
    headers: { 'x-request-id': inflight.id },
    onClientClose: () => inflight.abort('client_closed'),
  });
  try {
    await produce(sse);
  } catch (err) {
    const apiError = inflight.error(err);
    logIfServerError(request, apiError, err);
    await sse.send(apiError.body(), errorEvent);
  } finally {
    sse.end();
  }
  return reply;
}

/** An admitted engine request: its prompt accounting and its events, counted into the metrics. */
export interface Admitted<E> {
  prompt: PromptUsage;
  events: AsyncGenerator<E>;
}

/** Submits to the engine and wraps the stream so tokens, TTFT and the outcome reach /metrics. */
export async function admit<E>(
  ctx: ServerContext,
  inflight: InFlightRequest,
  modality: Modality,
  tokensOf: (event: E) => number,
  submit: () => Promise<EngineStream<E>>,
): Promise<Admitted<E>> {
  const tracker = ctx.metrics.track(inflight.kind, modality, inflight.startedAt);
  let stream: EngineStream<E>;
  try {
    stream = await submit();
  } catch (err) {
    tracker.end(err instanceof CancelledError ? 'cancelled' : 'rejected');
    throw err;
  }
  tracker.prompt(stream.prompt.tokens);
  const admittedAt = performance.now();
  void stream.scheduled?.then(
    () => tracker.scheduled(admittedAt),
    () => {},
  );
  return { prompt: stream.prompt, events: tracked(stream, tracker, tokensOf) };
}

async function* tracked<E>(stream: AsyncIterable<E>, tracker: RequestTracker, tokensOf: (e: E) => number) {
  let outcome: 'ok' | 'error' | 'cancelled' = 'error';
  try {
    for await (const event of stream) {
      tracker.token(tokensOf(event));
      if ((event as { type?: string }).type === 'image') tracker.image();
      yield event;
    }
    outcome = 'ok';
  } catch (err) {
    if (err instanceof CancelledError) outcome = 'cancelled';
    throw err;
  } finally {
    tracker.end(outcome);
  }
}

export interface ImageJob {
  prompt: string;
  n: number;
  sampling: ImageSamplingRequest;
  previewAt: number[];
}

/** Image generation as every route submits it; one visual token per `codes` event. */
export function admitImages(
  ctx: ServerContext,
  inflight: InFlightRequest,
  job: ImageJob,
): Promise<Admitted<ImageEvent>> {
  return admit(
    ctx,
    inflight,
    'image',
    (e: ImageEvent) => (e.type === 'codes' ? 1 : 0),
    () => ctx.engine.submitImage({ id: inflight.id, signal: inflight.signal, ...job }),
  );
}

/** A chat request as the routes build it; the request's id and signal are filled in here. */
export type ChatJob = Omit<ChatRequest, 'id' | 'signal'>;

/** Chat as every route submits it; generated tokens counted from the `text` events. */
export function admitChat(
  ctx: ServerContext,
  inflight: InFlightRequest,
  job: ChatJob,
): Promise<Admitted<ChatEvent>> {
  return admit(
    ctx,
    inflight,
    'text',
    (e: ChatEvent) => (e.type === 'text' ? e.tokens : 0),
    () =>
      ctx.engine.submitChat({
        id: inflight.id,
        signal: inflight.signal,
        ...job,
      }),
  );
}

/** Final PNGs of an image job, in image order (non-streamed responses). */
export async function collectImages(events: AsyncIterable<ImageEvent>, n: number): Promise<Buffer[]> {
  const pngs: Buffer[] = new Array(n);
  for await (const e of events) if (e.type === 'image') pngs[e.image] = e.png;
  return pngs;
}
