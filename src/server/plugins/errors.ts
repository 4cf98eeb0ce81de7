// The error envelope for everything Fastify itself rejects (bad JSON, schema violations, unknown routes, wrong
// methods, body too large, unsupported media types) and for whatever a route throws. Registered first, with
// fastify-plugin, so it covers every route.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError, invalidRequest, toApiError } from '../errors.ts';
import { parseJsonText } from '../json-text.ts';

/** `/v1/requests/:request_id/cancel` -> a regex matching its concrete URLs. */
const routePattern = (url: string) =>
  new RegExp(`^${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}$`);

const errorsPlugin: FastifyPluginAsync = async (app) => {
  // Fastify's own JSON parser reports every syntax error with one fixed text; JSON.parse says where it broke.
  // Prototype poisoning is not a concern: request objects are only read, never merged into other objects.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim() === '') {
      // A route that takes no body (cancel) accepts an empty one, as clients send `{}`-less POSTs with this type.
      if (!request.routeOptions.schema?.body) return done(null, undefined);
      return done(invalidRequest('The request body is empty; expected a JSON object', null, 'invalid_json'));
    }
    try {
      done(null, parseJsonText(text, 'body of your request'));
    } catch (err) {
      done(err as Error);
    }
  });
  // JSON only: text/plain is refused like any other media type (415), not parsed as a string.
  app.removeContentTypeParser('text/plain');

  // Methods by route pattern, for 405 Method Not Allowed on a known URL.
  const routes: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    if (route.url === '*' || route.url.includes('*')) return; // CORS's preflight catch-all
    const pattern = routePattern(route.url);
    let entry = routes.find((r) => r.pattern.source === pattern.source);
    if (!entry) {
      entry = { pattern, methods: new Set() };
      routes.push(entry);
    }
    for (const method of [route.method].flat()) entry.methods.add(method);
  });

  app.setErrorHandler((err, request, reply) => {
    const apiError = toApiError(err);
    // ApiErrors were thrown on purpose (generation routes log their engine failures themselves).
    if (!(err instanceof ApiError) && apiError.status >= 500) request.log.error({ err }, 'request failed');
    return reply.code(apiError.status).headers(apiError.responseHeaders()).send(apiError.body());
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allowed = routes.find((r) => r.pattern.test(path))?.methods;
    const apiError = allowed
      ? new ApiError(
          405,
          `Method ${request.method} is not allowed on ${path}; use ${[...allowed].join(', ')}`,
          'invalid_request_error',
          null,
          'method_not_allowed',
          { allow: [...allowed].join(', ') },
        )
      : new ApiError(
          404,
          `Unknown request URL: ${request.method} ${path}`,
          'invalid_request_error',
          null,
          'unknown_url',
        );
    return reply.code(apiError.status).headers(apiError.responseHeaders()).send(apiError.body());
  });
};

export default fp(errorsPlugin, { name: 'unitok-errors' });
