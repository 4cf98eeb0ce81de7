// POST /v1/responses: the OpenAI Responses API for this model, a text answer or a drawing through the
// image_generation tool (responses-input.ts decides which), as one JSON Response or as OpenAI's SSE event sequence.
import type { FastifyPluginAsync } from 'fastify';
import type { CreateResponseRequest } from '../api-types.generated.ts';
import type { ServerContext } from '../context.ts';
import {
  admitChat,
  admitImages,
  checkModel,
  evenlySpaced,
  imageSampling,
  logIfServerError,
  streamSse,
  textSampling,
  withInFlight,
} from '../generation.ts';
import { toEngineMessages } from '../image-input.ts';
import type { InFlightRequest } from '../requests.ts';
import {
  decideMode,
  inputItems,
  inputParam,
  type Mode,
  refuseUnsupported,
  renameEngineError,
  toChatMessages,
} from './responses-input.ts';
import {
  type Emit,
  imageCallOutput,
  ResponseState,
  textOutput,
  type UnnumberedEvent,
} from './responses-output.ts';

type Body = CreateResponseRequest;

/** Admits the request (a 4xx here is still a plain HTTP error) and returns the routine that produces the output. */
async function admitOutput(
  ctx: ServerContext,
  body: Body,
  mode: Mode,
  inflight: InFlightRequest,
  stream: boolean,
): Promise<(state: ResponseState, emit: Emit) => Promise<void>> {
  const info = ctx.engine.info();
  if (mode.kind === 'image') {
    const { prompt, events } = await admitImages(ctx, inflight, {
      prompt: mode.caption,
      n: 1,
      sampling: imageSampling(body),
      previewAt: stream ? evenlySpaced(info.image.visualTokens, mode.tool.partialImages) : [],
    });
    return (state, emit) => imageCallOutput(state, prompt, events, mode.tool, mode.caption, emit);
  }
  const param = inputParam(Boolean(body.instructions));
  try {
    const chat = toChatMessages(body.instructions, inputItems(body));
    const messages = await toEngineMessages(chat, ctx.config.images, inflight.signal, {
      list: 'input',
      image: param,
    });
    const { prompt, events } = await admitChat(ctx, inflight, {
      n: 1,
      messages,
      sampling: textSampling(body),
      maxTokens: body.max_output_tokens ?? null,
      stop: [],
    });
    return (state, emit) => textOutput(state, prompt, events, emit);
  } catch (err) {
    throw renameEngineError(err, param);
  }
}

const responsesPlugin: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  app.route<{ Body: Body }>({
    ...ctx.spec.route('createResponse'),
    handler: async (request, reply) => {
      const body = request.body;
      const model = checkModel(ctx, body.model);
      refuseUnsupported(body);
      const mode = decideMode(ctx, body, inputItems(body));
      const stream = body.stream === true;
      const kind = mode.kind === 'image' ? 'response_image' : 'response';
      return withInFlight(ctx, request, reply, kind, 'resp', async (inflight) => {
        const produce = await admitOutput(ctx, body, mode, inflight, stream);
        const state = new ResponseState(inflight.id, model, body);
        if (!stream) {
          await produce(state, async () => {});
          return state.snapshot();
        }
        return streamSse(ctx, request, reply, inflight, async (sse) => {
          let sequence = 0;
          const emit: Emit = (event: UnnumberedEvent) =>
            sse.send({ ...event, sequence_number: sequence++ }, event.type);
          const lifecycle = (type: 'created' | 'in_progress' | 'completed' | 'incomplete' | 'failed') =>
            emit({ type: `response.${type}`, response: state.snapshot() });
          await lifecycle('created');
          await lifecycle('in_progress');
          try {
            await produce(state, emit);
          } catch (err) {
            // The status line is out: the failure goes in-band, as OpenAI does (an error event, then
            // response.failed), and the stream ends.
            const apiError = inflight.error(err);
            logIfServerError(request, apiError, err);
            await emit({
              type: 'error',
              code: apiError.code,
              message: apiError.message,
              param: apiError.param,
            });
            state.status = inflight.cause === 'cancelled' ? 'cancelled' : 'failed';
            state.error = apiError;
            await lifecycle('failed');
            return;
          }
          await lifecycle(state.status === 'incomplete' ? 'incomplete' : 'completed');
        });
      });
    },
  });
};

export default responsesPlugin;
