// The error envelope for everything Fastify itself rejects (bad JSON, schema violations, unknown routes, body
// too large) and for whatever a route throws. Registered first, with fastify-plugin, so it covers every route.
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError, invalidRequest, toApiError } from '../errors.ts';

const errorsPlugin: FastifyPluginAsync = async (app) => {
  // Fastify's own JSON parser reports every syntax error with one fixed text; JSON.parse says where it broke.
  // Prototype poisoning is not a concern: request objects are only read, never merged into other objects.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '')
      return done(invalidRequest('The request body is empty; expected a JSON object', null, 'invalid_json'));
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(
        invalidRequest(
          `We could not parse the JSON body of your request: ${(err as Error).message}`,
          null,
          'invalid_json',
        ),
      );
    }
  });

  app.setErrorHandler((err, request, reply) => {
    const apiError = toApiError(err);
    // ApiErrors were thrown on purpose (generation routes log their engine failures themselves).
    if (!(err instanceof ApiError) && apiError.status >= 500) request.log.error({ err }, 'request failed');
    return reply.code(apiError.status).headers(apiError.responseHeaders()).send(apiError.body());
  });

  app.setNotFoundHandler((request, reply) => {
    const apiError = new ApiError(
      404,
      `Unknown request URL: ${request.method} ${request.url.split('?')[0]}`,
      'invalid_request_error',
      null,
      'unknown_url',
    );
    return reply.code(404).headers(apiError.responseHeaders()).send(apiError.body());
  });
};

export default fp(errorsPlugin, { name: 'unitok-errors' });
