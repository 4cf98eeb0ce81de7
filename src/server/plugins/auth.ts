// Optional bearer-key authentication. Operations declared `security: []` in openapi.yaml (/health, /metrics)
// stay public; WebSocket upgrades go through the same hook.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.ts';

const digest = (key: string) => createHash('sha256').update(key).digest();

/** The WebSocket subprotocol prefix that carries a key: `bearer.<base64url(key)>`. */
export const BEARER_SUBPROTOCOL = 'bearer.';

/**
 * Browsers cannot set headers on a WebSocket upgrade, but they can offer subprotocols (as Kubernetes does for
 * its bearer tokens). Base64url keeps any key within the header's token characters.
 */
function subprotocolKey(header: string | string[] | undefined): string | undefined {
  const offered = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((p) => p.trim());
  const entry = offered.find((p) => p.startsWith(BEARER_SUBPROTOCOL));
  return entry && Buffer.from(entry.slice(BEARER_SUBPROTOCOL.length), 'base64url').toString('utf8');
}

export interface AuthOptions {
  apiKeys: string[];
}

const authPlugin: FastifyPluginAsync<AuthOptions> = async (app, { apiKeys }) => {
  if (apiKeys.length === 0) return;
  // Comparing fixed-length digests in constant time leaks neither key contents nor lengths.
  const accepted = apiKeys.map(digest);
  app.addHook('onRequest', async (request) => {
    if ((request.routeOptions.config as { public?: boolean } | undefined)?.public) return;
    // The scheme is case-insensitive (RFC 9110 section 11.1): `bearer KEY` is as good as `Bearer KEY`.
    const bearer = /^bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
    const presented = bearer
      ? bearer[1].trim()
      : ((request.headers['x-api-key'] as string | undefined) ??
        subprotocolKey(request.headers['sec-websocket-protocol']));
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
