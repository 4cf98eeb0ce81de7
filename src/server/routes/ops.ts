// Discovery and operations: /v1/models, /health (503 while loading, for orchestrators) and /metrics.
import type { FastifyPluginAsync } from 'fastify';
import type { HealthResponse, ListModelsResponse, Model } from '../api-types.generated.ts';
import type { ServerContext } from '../context.ts';
import { ApiError, notFound } from '../errors.ts';
import { servedModel } from '../generation.ts';

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

  app.route({
    ...ctx.spec.route('getHealth'),
    handler: async (): Promise<HealthResponse> => {
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
      return { status: 'ok' };
    },
  });

  app.route({
    ...ctx.spec.route('getMetrics'),
    handler: async (_request, reply) => {
      reply.type('text/plain; version=0.0.4; charset=utf-8');
      return ctx.metrics.render(ctx.engine.stats(), ctx.engine.info());
    },
  });
};

export default opsPlugin;
