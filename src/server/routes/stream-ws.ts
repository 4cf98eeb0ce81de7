// WebSocket /v1/stream: one connection for a whole conversation. Chat turns stream text deltas, image jobs stream
// codes, progress and previews (the /v1/images/stream messages), several jobs at once, each cancellable by id.
// The protocol is openapi.yaml's StreamClientMessage / StreamServerMessage, documented in docs/websocket.md.
import type { FastifyPluginAsync } from 'fastify';
import type { StreamClientMessage } from '../api-types.generated.ts';
import type { ServerContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { drainingError } from '../lifecycle.ts';
import { runChatJob, runImageJob } from '../ws-jobs.ts';
import { openSession } from '../ws-session.ts';

/** Jobs one connection may run at once; more are refused (409) rather than queued behind the socket. */
export const MAX_JOBS_PER_CONNECTION = 4;

/** The answer to a plain GET on a WebSocket endpoint. */
export async function upgradeRequired(): Promise<never> {
  throw new ApiError(
    426,
    'This endpoint speaks WebSocket; connect with an Upgrade: websocket request',
    'invalid_request_error',
    null,
    'upgrade_required',
    { upgrade: 'websocket' },
  );
}

/** A draining replica refuses new connections with 503, which a load balancer can retry elsewhere. */
export function refuseWhileDraining(ctx: ServerContext) {
  return async (): Promise<void> => {
    if (ctx.lifecycle.draining) throw drainingError();
  };
}

const streamWsPlugin: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  app.route({
    ...ctx.spec.route('openStream'),
    handler: upgradeRequired,
    onRequest: refuseWhileDraining(ctx),
    wsHandler: (socket, request) =>
      openSession<StreamClientMessage>(ctx, socket, request, {
        schema: 'StreamClientMessage',
        maxJobs: MAX_JOBS_PER_CONNECTION,
        cancelType: 'cancel',
        jobOf: (m) =>
          m.type === 'chat'
            ? { kind: 'stream_chat', prefix: 'chat', id: m.id }
            : m.type === 'image'
              ? { kind: 'stream_image', prefix: 'img', id: m.id }
              : null,
        run: async (inflight, message, send) => {
          if (message.type === 'chat') await runChatJob(ctx, inflight, message, send);
          else if (message.type === 'image')
            await runImageJob(ctx, inflight, message, send, { session: true });
        },
      }),
  });
};

export default streamWsPlugin;
