// Discovery and operations: /v1/models, the probes (/health/live, /health/ready and /health, for orchestrators
// and load balancers) and /metrics.
import type { FastifyPluginAsync } from 'fastify';
import type { HealthResponse, ListModelsResponse, Model } from '../api-types.generated.ts';
import type { ServerContext } from '../context.ts';
import { ApiError, notFound } from '../errors.ts';
import { servedModel } from '../generation.ts';
import { drainingError } from '../lifecycle.ts';

/** How long a probe waits for the engine's workers to answer (below the probes' timeoutSeconds in deploy/). */
export const PROBE_TIMEOUT_MS = 5000;

function describeModel(ctx: ServerContext): Model {
  const info = ctx.engine.info();
  const { text, image } = info.defaults;
  const u = info.understanding;
  return {
    id: servedModel(ctx),
    object: 'model',
    created: info.created,
    owned_by: info.ownedBy,
    context_length: info.contextLength,
    architecture: { input_modalities: ['text', 'image'], output_modalities: ['text', 'image'] },
    image: {
      size: `${info.image.width}x${info.image.height}`,
      visual_tokens_per_image: info.image.visualTokens,
      codes_per_visual_token: info.image.codesPerToken,
    },
    defaults: {
      text: { temperature: text.temperature, top_p: text.topP, top_k: text.topK, max_tokens: text.maxTokens },
      image: {
        temperature: image.temperature,
        top_p: image.topP,
        top_k: image.topK,
        guidance_scale: image.guidanceScale,
        best_of: image.bestOf,
      },
    },
    embeddings: {
      dimensions: u.embeddingDim,
      text_tokenizer: u.textTokenizer,
      text_context_length: u.textContextLength,
      zero_shot_template: u.zeroShotTemplate,
    },
  };
}

const opsPlugin: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  app.route({
    ...ctx.spec.route('listModels'),
    handler: async (): Promise<ListModelsResponse> => ({ object: 'list', data: [describeModel(ctx)] }),
  });

  app.route<{ Params: { model: string } }>({
    ...ctx.spec.route('retrieveModel'),
    handler: async (request): Promise<Model> => {
      const model = describeModel(ctx);
      if (request.params.model !== model.id) {
        throw notFound(
          `The model '${request.params.model}' does not exist on this server`,
          'model',
          'model_not_found',
        );
      }
      return model;
    },
  });

  /** 503 unless the model is loaded and the server is not draining. */
  const checkServing = () => {
    const info = ctx.engine.info();
    if (info.status !== 'ready') {
      const detail = info.statusMessage ? `: ${info.statusMessage}` : '';
      throw new ApiError(
        503,
        info.status === 'loading' ? `Loading model${detail}` : `Model failed to load${detail}`,
        'unavailable_error',
        null,
        info.status === 'loading' ? 'model_loading' : 'model_failed',
        { 'retry-after': info.status === 'loading' ? '5' : '60' },
      );
    }
    if (ctx.lifecycle.draining) throw drainingError();
  };
  /** 503 engine_lost unless every engine worker answers in time. */
  const checkWorkers = async () => {
    try {
      await ctx.engine.ping?.(PROBE_TIMEOUT_MS);
    } catch (err) {
      throw new ApiError(
        503,
        `The engine does not answer: ${(err as Error).message}`,
        'unavailable_error',
        null,
        'engine_lost',
        { 'retry-after': '60' },
      );
    }
  };

  app.route({
    ...ctx.spec.route('getHealth'),
    handler: async (): Promise<HealthResponse> => {
      checkServing();
      return { status: 'ok' };
    },
  });

  app.route({
    ...ctx.spec.route('getLiveness'),
    handler: async (): Promise<HealthResponse> => {
      await checkWorkers();
      return { status: 'ok' };
    },
  });

  app.route({
    ...ctx.spec.route('getReadiness'),
    handler: async (): Promise<HealthResponse> => {
      checkServing();
      await checkWorkers();
      return { status: 'ok' };
    },
  });

  app.route({
    ...ctx.spec.route('getMetrics'),
    handler: async (_request, reply) => {
      reply.type(ctx.metrics.contentType);
      return ctx.metrics.render();
    },
  });
};

export default opsPlugin;
