// The serving layer's entry point: buildServer({engine, config}) -> a Fastify instance with every route of
// openapi.yaml. It knows the engine only through src/model/engine-types.ts.
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Engine } from '../model/engine-types.ts';
import { resolveConfig, type ServerConfigInput } from './config.ts';
import type { ServerContext } from './context.ts';
import { ServerMetrics } from './metrics.ts';
import { ApiSpec } from './openapi.ts';
import authPlugin from './plugins/auth.ts';
import errorsPlugin from './plugins/errors.ts';
import { RequestRegistry } from './requests.ts';
import cancelPlugin from './routes/cancel.ts';
import chatPlugin from './routes/chat.ts';
import imagesPlugin from './routes/images.ts';
import imagesWsPlugin from './routes/images-ws.ts';
import opsPlugin from './routes/ops.ts';
import responsesPlugin from './routes/responses.ts';
import streamWsPlugin from './routes/stream-ws.ts';
import understandingPlugin from './routes/understanding.ts';
import webPlugin from './routes/web.ts';

export interface BuildServerOptions {
  engine: Engine;
  config?: ServerConfigInput;
  /** Fastify logger option; default: JSON logs at config.logLevel. Tests pass false. */
  logger?: FastifyServerOptions['logger'];
}

export function buildServer({ engine, config: input, logger }: BuildServerOptions): FastifyInstance {
  const config = resolveConfig(input);
  const spec = ApiSpec.default();
  const app = Fastify({
    logger: logger ?? { level: config.logLevel },
    bodyLimit: config.bodyLimitBytes,
    // SSE and WebSocket connections would otherwise hold close() open until clients leave.
    forceCloseConnections: true,
  });
  // Route schemas come from openapi.yaml and compile with the spec's Ajv (no coercion, defaults applied).
  app.setValidatorCompiler(({ schema }) => spec.ajv.compile(schema));

  const ctx: ServerContext = {
    engine,
    config,
    spec,
    requests: new RequestRegistry(config.requestTimeoutMs),
    metrics: new ServerMetrics(),
  };

  app.register(errorsPlugin);
  // Before auth: its onRequest hook marks upgrade requests, so a refused upgrade's socket gets closed.
  app.register(websocket, { options: { maxPayload: config.bodyLimitBytes } });
  app.register(authPlugin, { apiKeys: config.apiKeys });
  app.register(opsPlugin, ctx);
  app.register(cancelPlugin, ctx);
  app.register(chatPlugin, ctx);
  app.register(imagesPlugin, ctx);
  app.register(imagesWsPlugin, ctx);
  app.register(responsesPlugin, ctx);
  app.register(streamWsPlugin, ctx);
  app.register(understandingPlugin, ctx);
  app.register(webPlugin);

  // Stop generations on shutdown and give their routes a moment to tell clients (503 / in-band error event)
  // before connections are closed.
  app.addHook('preClose', () => ctx.requests.abortAll('shutdown', 2000));
  return app;
}
