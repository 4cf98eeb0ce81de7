// The contract itself: openapi.yaml is a valid OpenAPI 3.1 document, its schemas compile, the generated types
// are current, and the server serves exactly its operations.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { createConfig, lint } from '@redocly/openapi-core';
import { generateApiTypes, TYPES_PATH } from '../scripts/gen-api-types.mjs';
import { ApiSpec, createAjv, SPEC_PATH } from '../src/server/openapi.ts';
import { useServer } from './helpers/server.ts';

const spec = ApiSpec.default();
const doc = spec.document as {
  paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, unknown> };
};

describe('openapi.yaml', { timeout: 30_000 }, () => {
  test('lints clean against the OpenAPI 3.1 structure and Redocly recommended rules', async () => {
    const config = await createConfig({
      extends: ['recommended'],
      rules: {
        // The WebSocket operation succeeds with 101, and /health, /metrics have no 4xx: both by design.
        'operation-2xx-response': 'off',
        'operation-4xx-response': 'off',
        // The WebSocket message schemas are used by the server and tests, not by any HTTP operation.
        'no-unused-components': 'off',
      },
    });
    const problems = await lint({ ref: SPEC_PATH, config });
    assert.deepEqual(
      problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`),
      [],
    );
  });

  test('every component schema compiles in strict Ajv', () => {
    const ajv = createAjv();
    for (const name of Object.keys(doc.components.schemas)) {
      assert.doesNotThrow(() => ajv.compile(spec.schema(name)), name);
    }
  });

  test('every operation has an id and answers errors with ErrorResponse', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        assert.ok(op.operationId, `${method} ${path} has an operationId`);
        for (const [status, response] of Object.entries(op.responses)) {
          if (!/^[45]/.test(status) || status === '426') continue;
          const ref = (response as { $ref?: string }).$ref ?? '';
          assert.match(
            ref,
            /^#\/components\/responses\//,
            `${method} ${path} ${status} uses a shared error response`,
          );
          const resolved = spec.resolve(response) as { content: Record<string, { schema: unknown }> };
          assert.deepEqual(resolved.content['application/json'].schema, spec.schema('ErrorResponse'));
        }
      }
    }
  });

  test('the loader inlines $refs and turns paths into Fastify routes', () => {
    const route = spec.route('cancelRequest');
    assert.equal(route.method, 'POST');
    assert.equal(route.url, '/v1/requests/:request_id/cancel');
    assert.deepEqual(route.schema.params, {
      type: 'object',
      properties: { request_id: spec.schema('RequestId') },
      required: ['request_id'],
    });
    assert.equal(JSON.stringify(spec.route('createChatCompletion').schema.body).includes('$ref'), false);
    assert.equal(spec.route('getHealth').config.public, true);
    assert.equal(spec.route('createChatCompletion').config.public, false);
    assert.throws(() => spec.route('noSuchOperation'), /no operation 'noSuchOperation'/);
  });

  test('the loader rejects unresolved and recursive $refs', () => {
    const broken = new ApiSpec({
      components: {
        schemas: { A: { $ref: '#/components/schemas/B' }, B: { $ref: '#/components/schemas/A' } },
      },
    });
    assert.throws(() => broken.schema('A'), /recursive \$ref/);
    assert.throws(() => broken.schema('Missing'), /unresolved \$ref/);
  });
});

describe('generated types', { timeout: 30_000 }, () => {
  test(`${TYPES_PATH.split('/').slice(-3).join('/')} matches openapi.yaml (run npm run gen:api)`, async () => {
    assert.equal(readFileSync(TYPES_PATH, 'utf8'), await generateApiTypes());
  });
});

describe('server routes', { timeout: 30_000 }, () => {
  const server = useServer();

  test('every operation in openapi.yaml is served', () => {
    for (const id of spec.operationIds()) {
      const { method, url } = spec.route(id);
      assert.ok(server.app.hasRoute({ method, url }), `${method} ${url} (${id})`);
    }
  });
});
