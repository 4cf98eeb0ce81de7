// Optional bearer-key authentication. Operations declared `security: []` in openapi.yaml (/health, /metrics)
// stay public; WebSocket upgrades go through the same hook.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.ts';

const digest = (key: string) => createHash('sha256').update(key).digest();

export interface AuthOptions {
  apiKeys: string[];
}

const authPlugin: FastifyPluginAsync<AuthOptions> = async (app, { apiKeys }) => {
  if (apiKeys.length === 0) return;
  // Comparing fixed-length digests in constant time leaks neither key contents nor lengths.
  const accepted = apiKeys.map(digest);
  app.addHook('onRequest', async (request) => {
    if ((request.routeOptions.config as { public?: boolean } | undefined)?.public) return;
    const auth = request.headers.authorization;
    const presented = auth?.startsWith('Bearer ')
      ? auth.slice(7).trim()
      : (request.headers['x-api-key'] as string | undefined);
    const candidate = presented ? digest(presented) : undefined;
    if (!candidate || !accepted.some((key) => timingSafeEqual(key, candidate))) {
      throw new ApiError(
        401,
        presented ? 'Incorrect API key provided' : 'Missing API key; send it as Authorization: Bearer <key>',
        'authentication_error',
        null,
        'invalid_api_key',
        { 'www-authenticate': 'Bearer' },
      );
    }
  });
};

export default fp(authPlugin, { name: 'unitok-auth' });
