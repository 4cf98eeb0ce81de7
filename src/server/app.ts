// The serving layer's entry point: buildServer({engine, config}) -> a Fastify instance with every route of
// openapi.yaml. It knows the engine only through src/model/engine-types.ts.
import cors from '@fastify/cors';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Engine } from '../model/engine-types.ts';
import { resolveConfig, type ServerConfigInput } from './config.ts';
import type { ServerContext } from './context.ts';
import { type DrainReport, drain, Lifecycle } from './lifecycle.ts';
import { ServerMetrics } from './metrics.ts';
import { ApiSpec } from './openapi.ts';
import authPlugin from './plugins/auth.ts';
import errorsPlugin from './plugins/errors.ts';
import { wsErrorHandler } from './plugins/ws-errors.ts';
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

declare module 'fastify' {
  interface FastifyInstance {
    /** Graceful drain (lifecycle.ts): stop admitting, let in-flight requests finish up to `timeoutMs`, end the rest. */
    drain(options: { timeoutMs: number }): Promise<DrainReport>;
  }
}

export interface BuildServerOptions {
  engine: Engine;
  config?: ServerConfigInput;
  /** Fastify logger option; default: JSON logs (pino) at config.logLevel. Tests pass false. */
  logger?: FastifyServerOptions['logger'];
}

export function buildServer({ engine, config: input, logger }: BuildServerOptions): FastifyInstance {
  const config = resolveConfig(input);
  const { limits } = config;
  const spec = ApiSpec.default();
  const app = Fastify({
    logger: logger ?? { level: config.logLevel },
    bodyLimit: config.bodyLimitBytes,
    // A client's x-request-id names its log lines too.
    requestIdHeader: 'x-request-id',
    // Slow clients: the whole request (headers and body) must arrive within requestTimeout, checked every second.
    requestTimeout: limits.requestReceiveTimeoutMs,
    http: { connectionsCheckingInterval: 1000 },
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerConnection,
    // SSE and WebSocket connections would otherwise hold close() open until clients leave.
    forceCloseConnections: true,
  });
  const receive = limits.requestReceiveTimeoutMs;
  app.server.headersTimeout =
    receive > 0 ? Math.min(limits.headersTimeoutMs, receive) : limits.headersTimeoutMs;
  if (limits.maxConnections > 0) app.server.maxConnections = limits.maxConnections;
  // Route schemas come from openapi.yaml and compile with the spec's Ajv (no coercion, defaults applied).
  app.setValidatorCompiler(({ schema }) => spec.ajv.compile(schema));

  const lifecycle = new Lifecycle();
  const ctx: ServerContext = {
    engine,
    config,
    spec,
    requests: new RequestRegistry(config.requestTimeoutMs, lifecycle),
    metrics: new ServerMetrics({ lifecycle }),
    lifecycle,
  };
  ctx.metrics.bind(engine);

  app.register(errorsPlugin);
  // Before auth: a browser's preflight carries no key, so CORS answers it first.
  if (config.corsOrigins.length > 0) {
    app.register(cors, {
      origin: config.corsOrigins.includes('*') ? '*' : config.corsOrigins,
      exposedHeaders: ['x-request-id', 'retry-after', 'x-should-retry'],
      maxAge: 600,
    });
  }
  // Before auth: its onRequest hook marks upgrade requests, so a refused upgrade's socket gets closed.
  app.register(websocket, {
    options: { maxPayload: limits.wsMaxMessageBytes },
    errorHandler: wsErrorHandler,
  });
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

  // While draining, every response closes its connection, so keep-alive clients reconnect to another replica.
  app.addHook('onSend', async (_request, reply) => {
    if (lifecycle.draining) reply.header('connection', 'close');
  });
  app.decorate('drain', (options: { timeoutMs: number }) => drain(app, lifecycle, ctx.requests, options));
  // A close without a drain (tests, a second signal) still tells the clients in flight (503 / in-band error).
  app.addHook('preClose', () => ctx.requests.abortAll('shutdown', 2000));
  return app;
}
