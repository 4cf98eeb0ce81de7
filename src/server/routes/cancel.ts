// Explicit cancellation by request id (the x-request-id of a chat, image or WebSocket job).
import type { FastifyPluginAsync } from 'fastify';
import type { CancelResponse } from '../api-types.generated.ts';
import type { ServerContext } from '../context.ts';
import { notFound } from '../errors.ts';

const cancelPlugin: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  app.route<{ Params: { request_id: string } }>({
    ...ctx.spec.route('cancelRequest'),
    handler: async (request): Promise<CancelResponse> => {
      const id = request.params.request_id;
      if (!ctx.requests.abort(id, 'cancelled')) {
        throw notFound(`No in-flight request with id '${id}'`, 'request_id', 'request_not_found');
      }
      return { id, object: 'request.cancel', cancelled: true };
    },
  });
};

export default cancelPlugin;
