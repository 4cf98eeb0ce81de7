// Builds the real server around the fake engine, and checks bodies against openapi.yaml's schemas.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.ts';
import type { ServerConfigInput } from '../../src/server/config.ts';
import { ApiSpec } from '../../src/server/openapi.ts';
import { FakeEngine, type FakeEngineOptions } from './fake-engine.ts';

export interface TestServer {
  app: FastifyInstance;
  engine: FakeEngine;
}

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  // As serve() does: the engine gets the server's pixel limit once, at creation.
  const maxImagePixels = options.config?.images?.maxPixels;
  const engine = new FakeEngine({ ...(maxImagePixels ? { maxImagePixels } : {}), ...options.engine });
  const app = buildServer({ engine, config: { sseKeepAliveMs: 0, ...options.config }, logger: false });
  await app.ready();
  return { app, engine };
}

export type ServerOptions = { engine?: FakeEngineOptions; config?: ServerConfigInput; listen?: boolean };

/**
 * A server for the enclosing describe(): built in before(), closed in after() (with a timeout, so a connection
 * that keeps close() waiting fails the suite instead of hanging it). `url` is set when `listen` is true.
 */
export function useServer(options: ServerOptions = {}): TestServer & { url: string } {
  const holder = {} as TestServer & { url: string };
  before(async () => {
    Object.assign(holder, await startServer(options));
    if (options.listen) holder.url = await listen(holder.app);
  });
  after(() => holder.app.close(), { timeout: 5000 });
  return holder;
}

/** Listens on an ephemeral loopback port; returns the base URL. */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address && typeof address === 'object');
  return `http://127.0.0.1:${address.port}`;
}

/** Asserts `value` matches components.schemas[name] in openapi.yaml. */
export function assertSchema(name: string, value: unknown): void {
  const validate = ApiSpec.default().validator(name);
  // Validate a copy: the spec's Ajv fills defaults, which must not hide what the server actually sent.
  const copy = structuredClone(value);
  assert.ok(
    validate(copy),
    `${name}: ${JSON.stringify(validate.errors, null, 1)}\n${JSON.stringify(value).slice(0, 500)}`,
  );
}

/** Asserts an OpenAI error envelope with the given status, and returns its `error` object. */
export function assertError(
  res: { status: number; body: unknown },
  status: number,
  expected: { type?: string; param?: string | null; code?: string | null; message?: RegExp } = {},
) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assertSchema('ErrorResponse', res.body);
  const error = (
    res.body as { error: { message: string; type: string; param: string | null; code: string | null } }
  ).error;
  if (expected.type !== undefined) assert.equal(error.type, expected.type);
  if (expected.param !== undefined) assert.equal(error.param, expected.param);
  if (expected.code !== undefined) assert.equal(error.code, expected.code);
  if (expected.message) assert.match(error.message, expected.message);
  return error;
}

/** Polls `check` until it is true (or fails after `ms`). */
export async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
