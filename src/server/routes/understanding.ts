// The understanding side over HTTP: POST /v1/embeddings (OpenAI's schema), /v1/zero-shot-image-classification
// (the Hugging Face pipeline's names), /v1/images/tokenize and /v1/images/detokenize (an image <-> its UniTok
// codes). Image URLs are resolved here (image-input.ts: data: URLs, allow-listed hosts, limits); the engine
// tokenises, decodes pixels, validates codes and runs the graphs.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { CancelledError, type EmbeddingInput } from '../../model/engine-types.ts';
import type {
  CreateEmbeddingRequest,
  CreateEmbeddingResponse,
  ImageDetokenizeRequest,
  ImageDetokenizeResponse,
  ImageTokenizeRequest,
  ImageTokenizeResponse,
  ZeroShotImageClassificationRequest,
  ZeroShotImageClassificationResponse,
} from '../api-types.generated.ts';
import type { ServerContext } from '../context.ts';
import { invalidRequest } from '../errors.ts';
import { checkModel, withInFlight } from '../generation.ts';
import { loadImage } from '../image-input.ts';
import type { InFlightRequest, RequestKind } from '../requests.ts';

/** Little-endian float32 bytes, base64 (OpenAI's encoding_format: base64; x86 and ARM are little-endian). */
const base64Floats = (v: Float32Array) =>
  Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');

const usage = (promptTokens: number) => ({ prompt_tokens: promptTokens, total_tokens: promptTokens });

const understandingPlugin: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  const limits = ctx.config.images;

  /** One request: in flight (cancellable, timed out), counted in /metrics with its prompt tokens. */
  function run<T>(
    request: FastifyRequest,
    reply: FastifyReply,
    kind: RequestKind,
    work: (inflight: InFlightRequest) => Promise<{ body: T; promptTokens: number }>,
  ): Promise<T> {
    return withInFlight(ctx, request, reply, kind, kind.replace('_', '-'), async (inflight) => {
      const tracker = ctx.metrics.track(kind, 'text', inflight.startedAt);
      try {
        const { body, promptTokens } = await work(inflight);
        tracker.prompt(promptTokens);
        tracker.end('ok');
        return body;
      } catch (err) {
        tracker.end(err instanceof CancelledError ? 'cancelled' : 'error');
        throw err;
      }
    });
  }

  app.route<{ Body: CreateEmbeddingRequest }>({
    ...ctx.spec.route('createEmbedding'),
    handler: async (request, reply) => {
      const body = request.body;
      const model = checkModel(ctx, body.model);
      const dim = ctx.engine.info().understanding.embeddingDim;
      // Before loading, dim is 0 and the engine answers 503 itself.
      if (body.dimensions !== undefined && dim > 0 && body.dimensions !== dim) {
        throw invalidRequest(
          `This model's embeddings have ${dim} dimensions; 'dimensions' must be ${dim} or left out, got ${body.dimensions}`,
          'dimensions',
          'unsupported_dimensions',
        );
      }
      const items = typeof body.input === 'string' ? [body.input] : body.input;
      const images = items.filter((item) => typeof item !== 'string').length;
      if (images > limits.maxPerRequest) {
        throw invalidRequest(
          `Too many images: ${images} in this request; the limit is ${limits.maxPerRequest}`,
          'input',
          'too_many_images',
        );
      }
      return run(request, reply, 'embeddings', async (inflight) => {
        const inputs = await Promise.all(
          items.map(
            async (item, i): Promise<EmbeddingInput> =>
              typeof item === 'string'
                ? { type: 'text', text: item }
                : {
                    type: 'image',
                    data: await loadImage(
                      item.image_url.url,
                      limits,
                      `input[${i}].image_url.url`,
                      inflight.signal,
                    ),
                  },
          ),
        );
        const result = await ctx.engine.embed({
          id: inflight.id,
          signal: inflight.signal,
          inputs,
          param: 'input',
        });
        const base64 = body.encoding_format === 'base64';
        const response: CreateEmbeddingResponse = {
          object: 'list',
          data: result.embeddings.map((v, index) => ({
            object: 'embedding',
            index,
            embedding: base64 ? base64Floats(v) : Array.from(v),
          })),
          model,
          usage: usage(result.promptTokens),
        };
        return { body: response, promptTokens: result.promptTokens };
      });
    },
  });

  app.route<{ Body: ZeroShotImageClassificationRequest }>({
    ...ctx.spec.route('createZeroShotImageClassification'),
    handler: async (request, reply) => {
      const body = request.body;
      const model = checkModel(ctx, body.model);
      return run(request, reply, 'zero_shot', async (inflight) => {
        const image = await loadImage(body.image, limits, 'image', inflight.signal);
        const result = await ctx.engine.classifyImage({
          id: inflight.id,
          signal: inflight.signal,
          image,
          labels: body.candidate_labels,
          template: body.hypothesis_template ?? null,
        });
        const response: ZeroShotImageClassificationResponse = {
          object: 'list',
          data: result.scores,
          model,
          usage: usage(result.promptTokens),
        };
        return { body: response, promptTokens: result.promptTokens };
      });
    },
  });

  app.route<{ Body: ImageTokenizeRequest }>({
    ...ctx.spec.route('tokenizeImage'),
    handler: async (request, reply) => {
      const body = request.body;
      const model = checkModel(ctx, body.model);
      return run(request, reply, 'image_tokenize', async (inflight) => {
        const image = await loadImage(body.image, limits, 'image', inflight.signal);
        const codes = await ctx.engine.tokenizeImage({
          id: inflight.id,
          signal: inflight.signal,
          image,
        });
        const info = ctx.engine.info();
        const { codebooks, tokens, grid, codebookSize } = info.understanding;
        const response: ImageTokenizeResponse = {
          object: 'image.codes',
          model,
          codes,
          shape: [codebooks, tokens],
          grid: [grid, grid],
          codebook_size: codebookSize,
          size: `${info.image.width}x${info.image.height}`,
        };
        return { body: response, promptTokens: tokens };
      });
    },
  });

  app.route<{ Body: ImageDetokenizeRequest }>({
    ...ctx.spec.route('detokenizeImage'),
    handler: async (request, reply) => {
      const body = request.body;
      const model = checkModel(ctx, body.model);
      return run(request, reply, 'image_detokenize', async (inflight) => {
        const png = await ctx.engine.detokenizeImage({
          id: inflight.id,
          signal: inflight.signal,
          codes: body.codes,
        });
        const info = ctx.engine.info();
        const response: ImageDetokenizeResponse = {
          object: 'image',
          model,
          b64_json: png.toString('base64'),
          output_format: 'png',
          size: `${info.image.width}x${info.image.height}`,
        };
        return { body: response, promptTokens: info.understanding.tokens };
      });
    },
  });
};

export default understandingPlugin;
