// WebSocket /v1/images/stream: one image job at a time per connection, with per-visual-token codes and progress,
// previews at a client-chosen cadence, and cancel. Messages are validated against openapi.yaml's schemas.
// /v1/stream (stream-ws.ts) speaks the same image messages and adds chat; this endpoint stays for its clients.
import type { FastifyPluginAsync } from 'fastify';
import type { ImageStreamClientMessage } from '../api-types.generated.ts';
import type { ServerContext } from '../context.ts';
import { runImageJob } from '../ws-jobs.ts';
import { openSession } from '../ws-session.ts';
import { refuseWhileDraining, upgradeRequired } from './stream-ws.ts';

const imagesWsPlugin: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  app.route({
    ...ctx.spec.route('streamImages'),
    // With `wsHandler`, @fastify/websocket sends upgrades there and plain GETs (no Upgrade header) here.
    handler: upgradeRequired,
    onRequest: refuseWhileDraining(ctx),
    wsHandler: (socket, request) =>
      openSession<ImageStreamClientMessage>(ctx, socket, request, {
        schema: 'ImageStreamClientMessage',
        maxJobs: 1,
        cancelType: 'cancel',
        jobOf: () => ({ kind: 'image_ws', prefix: 'imgws' }),
        run: (inflight, message, send) =>
          message.type === 'generate'
            ? runImageJob(ctx, inflight, message, send, { session: false })
            : Promise.resolve(),
      }),
  });
};

export default imagesWsPlugin;
