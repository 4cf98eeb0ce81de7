// POST /v1/images/generations: JSON, or SSE events image_generation.partial_image / .completed as OpenAI names them.
import type { FastifyPluginAsync } from 'fastify';
import type {
  CreateImageRequest,
  ImageGenCompletedEvent,
  ImageGenPartialImageEvent,
  ImagesResponse,
} from '../api-types.generated.ts';
import type { ServerContext } from '../context.ts';
import { invalidRequest } from '../errors.ts';
import {
  admitImages,
  checkModel,
  checkSize,
  collectImages,
  evenlySpaced,
  imageSampling,
  imagesUsage,
  nowSeconds,
  streamSse,
  withInFlight,
} from '../generation.ts';
import { encodeImage, imageOutput } from '../image-output.ts';

const imagesPlugin: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  app.route<{ Body: CreateImageRequest }>({
    ...ctx.spec.route('createImage'),
    handler: async (request, reply) => {
      const body = request.body;
      checkModel(ctx, body.model);
      if (body.response_format === 'url') {
        throw invalidRequest(
          "response_format 'url' is not supported: this server keeps no images to link to; use 'b64_json' (the default)",
          'response_format',
          'unsupported_response_format',
        );
      }
      const output = imageOutput(body);
      const info = ctx.engine.info();
      const size = checkSize(info, body.size);
      const n = body.n ?? 1;
      const stream = body.stream === true;
      const total = info.image.visualTokens;
      return withInFlight(ctx, request, reply, 'image', 'img', async (inflight) => {
        const { prompt, events } = await admitImages(ctx, inflight, {
          prompt: body.prompt,
          n,
          sampling: imageSampling(body),
          previewAt: stream ? evenlySpaced(total, body.partial_images ?? 0) : [],
        });
        const created = nowSeconds();
        const common = {
          created_at: created,
          size,
          quality: 'auto',
          background: 'opaque',
          output_format: output.format,
        } as const;
        const b64 = async (png: Buffer) => (await encodeImage(png, output)).toString('base64');

        if (!stream) {
          const pngs = await collectImages(events, n);
          const response: ImagesResponse = {
            created,
            data: await Promise.all(pngs.map(async (png) => ({ b64_json: await b64(png) }))),
            output_format: output.format,
            size,
            quality: 'auto',
            background: 'opaque',
            usage: imagesUsage(prompt, n * total),
          };
          return response;
        }

        const partialIndex: number[] = new Array(n).fill(0);
        return streamSse(
          ctx,
          request,
          reply,
          inflight,
          async (sse) => {
            for await (const e of events) {
              if (e.type === 'preview') {
                const event: ImageGenPartialImageEvent = {
                  type: 'image_generation.partial_image',
                  b64_json: await b64(e.png),
                  ...common,
                  partial_image_index: partialIndex[e.image]++,
                  image_index: e.image,
                };
                await sse.send(event, event.type);
              } else if (e.type === 'image') {
                const event: ImageGenCompletedEvent = {
                  type: 'image_generation.completed',
                  b64_json: await b64(e.png),
                  ...common,
                  usage: imagesUsage(prompt, total),
                  image_index: e.image,
                };
                await sse.send(event, event.type);
              }
            }
          },
          'error',
        );
      });
    },
  });
};

export default imagesPlugin;
