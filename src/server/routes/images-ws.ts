// WebSocket /v1/images/stream: one image job at a time per connection, with per-visual-token codes and progress,
// previews at a client-chosen cadence, and cancel. Messages are validated against openapi.yaml's schemas.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type {
  ImageStreamClientMessage,
  ImageStreamErrorMessage,
  ImageStreamGenerateMessage,
  ImageStreamServerMessage,
} from '../api-types.generated.ts';
import type { ServerContext } from '../context.ts';
import { ApiError, invalidRequest, toApiError, validationError } from '../errors.ts';
import {
  admitImages,
  checkModel,
  checkSize,
  everyN,
  imageSampling,
  imagesUsage,
  logIfServerError,
} from '../generation.ts';
import type { InFlightRequest } from '../requests.ts';

/** The connection-level error for a message that started no job (bad JSON, schema, busy). */
function errorMessage(id: string | null, err: ApiError): ImageStreamErrorMessage {
  const retry = err.headers['retry-after'];
  return { type: 'error', id, ...err.body(), ...(retry ? { retry_after_seconds: Number(retry) } : {}) };
}

function connection(ctx: ServerContext, socket: WebSocket, request: FastifyRequest) {
  let job: InFlightRequest | null = null;
  const send = (message: ImageStreamServerMessage) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };
  const validate = ctx.spec.validator('ImageStreamClientMessage');

  function parse(data: Buffer, isBinary: boolean): ImageStreamClientMessage {
    if (isBinary) throw invalidRequest('Messages must be JSON text frames', null, 'invalid_json');
    let message: unknown;
    try {
      message = JSON.parse(data.toString('utf8'));
    } catch (err) {
      throw invalidRequest(`Message is not valid JSON: ${(err as Error).message}`, null, 'invalid_json');
    }
    if (!validate(message)) throw validationError(validate.errors ?? []);
    return message as ImageStreamClientMessage;
  }

  async function run(inflight: InFlightRequest, message: ImageStreamGenerateMessage): Promise<void> {
    const { id } = inflight;
    try {
      checkModel(ctx, message.model);
      const info = ctx.engine.info();
      const size = checkSize(info, message.size);
      const total = info.image.visualTokens;
      const n = message.n ?? 1;
      const { prompt, events } = await admitImages(ctx, inflight, {
        prompt: message.prompt,
        n,
        sampling: imageSampling(message),
        previewAt: everyN(total, message.preview_every ?? ctx.config.previewEvery),
      });
      send({ type: 'started', id, n, total, codes_per_token: info.image.codesPerToken, size });
      const previews: number[] = new Array(n).fill(0);
      for await (const e of events) {
        if (e.type === 'codes') {
          if (message.send_codes !== false)
            send({ type: 'codes', id, image: e.image, index: e.index, codes: e.codes });
          send({ type: 'progress', id, image: e.image, done: e.index + 1, total });
        } else if (e.type === 'preview') {
          const index = previews[e.image]++;
          send({
            type: 'preview',
            id,
            image: e.image,
            index,
            done: e.done,
            png_b64: e.png.toString('base64'),
          });
        } else {
          send({
            type: 'completed',
            id,
            image: e.image,
            png_b64: e.png.toString('base64'),
            usage: imagesUsage(prompt, total),
          });
        }
      }
    } catch (err) {
      if (inflight.cause === 'cancelled') return send({ type: 'cancelled', id });
      const apiError = inflight.error(err);
      logIfServerError(request, apiError, err);
      send(errorMessage(id, apiError));
    }
  }

  /** The error for a message that cannot start or stop a job now, or null when it can. */
  function refusal(message: ImageStreamClientMessage): ApiError | null {
    if (message.type === 'cancel' && !job) {
      return invalidRequest('No job is running on this connection', 'type', 'no_active_request');
    }
    if (message.type === 'generate' && job) {
      const text = `Job '${job.id}' is still running; cancel it or wait`;
      return new ApiError(409, text, 'invalid_request_error', 'type', 'request_in_progress');
    }
    return null;
  }

  function onMessage(data: Buffer, isBinary: boolean): void {
    let message: ImageStreamClientMessage;
    try {
      message = parse(data, isBinary);
    } catch (err) {
      send(errorMessage(null, toApiError(err)));
      return;
    }
    const refused = refusal(message);
    if (refused) {
      send(errorMessage(null, refused));
      return;
    }
    if (message.type === 'cancel') {
      job?.abort('cancelled');
      return;
    }
    const inflight = ctx.requests.start('image_ws', 'imgws');
    job = inflight;
    void run(inflight, message).finally(() => {
      inflight.finish();
      job = null;
    });
  }

  // Handlers are attached synchronously, as @fastify/websocket requires, so no message is lost.
  socket.on('message', onMessage);
  socket.on('close', () => job?.abort('client_closed'));
}

const imagesWsPlugin: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  app.route({
    ...ctx.spec.route('streamImages'),
    // With `wsHandler`, @fastify/websocket sends upgrades there and plain GETs (no Upgrade header) here.
    handler: async () => {
      throw new ApiError(
        426,
        'This endpoint speaks WebSocket; connect with an Upgrade: websocket request',
        'invalid_request_error',
        null,
        'upgrade_required',
        {
          upgrade: 'websocket',
        },
      );
    },
    wsHandler: (socket, request) => connection(ctx, socket, request),
  });
};

export default imagesWsPlugin;
