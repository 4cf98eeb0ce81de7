// The browser page (web/) at `/`. Only the files found in web/ at startup get a route, one each, so nothing
// outside web/ can be named (no traversal) and unknown paths still get the API's JSON 404. The routes are public:
// the page must load before the person has typed an API key; its API calls send the key themselves.
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';

export const WEB_ROOT = fileURLToPath(new URL('../../../web/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

// The page talks only to this server: the browser itself blocks any other origin (and inline scripts).
// 'self' in connect-src covers the same-origin WebSocket; data:/blob: are the images the page builds.
const HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
    "form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // Revalidate every time, so a server upgrade never runs an old script against a new API.
  'cache-control': 'no-cache',
};

export interface WebOptions {
  root?: string;
}

const webPlugin: FastifyPluginAsync<WebOptions> = async (app, { root = WEB_ROOT }) => {
  let names: string[];
  try {
    names = readdirSync(root, { withFileTypes: true })
      .filter((entry) => entry.isFile() && extname(entry.name) in CONTENT_TYPES)
      .map((entry) => entry.name);
  } catch {
    app.log.warn({ root }, 'no web/ folder; the page is not served');
    return;
  }
  for (const name of names) {
    const body = readFileSync(join(root, name));
    const type = CONTENT_TYPES[extname(name)];
    const urls = name === 'index.html' ? ['/', '/index.html'] : [`/${name}`];
    for (const url of urls) {
      app.get(url, { config: { public: true } }, async (_request, reply) =>
        reply.headers(HEADERS).type(type).send(body),
      );
    }
  }
};

export default webPlugin;
