// openapi.yaml is the single source of the API contract: this module turns its operations into Fastify route
// definitions (method, URL, JSON schemas) so paths and validation are never written a second time.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchema, HTTPMethods } from 'fastify';
import { parse } from 'yaml';

export const SPEC_PATH = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));

export type JsonSchema = { [key: string]: unknown };

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema: JsonSchema;
  description?: string;
}

interface Operation {
  operationId: string;
  security?: unknown[];
  parameters?: Parameter[];
  requestBody?: { content: { 'application/json'?: { schema: JsonSchema } } };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

/** A route as Fastify wants it, built from one OpenAPI operation. */
export interface SpecRoute {
  method: HTTPMethods;
  url: string;
  schema: FastifySchema;
  /** `public` is true for operations with `security: []` (no API key even when the server has one). */
  config: { operationId: string; public: boolean };
}

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * One Ajv configuration for every place that validates against the spec (routes, WebSocket messages, tests).
 * No type coercion: the OpenAI API rejects `"n": "2"`, and so do we. Defaults are filled in (n, stream...).
 */
export function createAjv(): Ajv {
  const ajv = new Ajv({
    allErrors: false,
    coerceTypes: false,
    useDefaults: true,
    removeAdditional: false,
    discriminator: true,
    strict: true,
    // verbose: errors carry the offending value and schema, which the messages quote (errors.ts).
    verbose: true,
    allowUnionTypes: true,
  });
  return addFormats(ajv);
}

export class ApiSpec {
  private readonly operations = new Map<string, { method: string; path: string; op: Operation }>();
  private readonly routes = new Map<string, SpecRoute>();
  private readonly validators = new Map<string, ValidateFunction>();
  /** Shared by every server built from this spec: Ajv caches compiled code per schema object. */
  readonly ajv: Ajv = createAjv();

  constructor(readonly document: JsonSchema) {
    const paths = (document.paths ?? {}) as Record<string, Record<string, Operation>>;
    for (const [path, item] of Object.entries(paths)) {
      for (const method of METHODS) {
        const op = item[method];
        if (op) this.operations.set(op.operationId, { method, path, op });
      }
    }
  }

  private static cached: ApiSpec | undefined;

  /** The project's openapi.yaml, parsed once per process. */
  static default(): ApiSpec {
    ApiSpec.cached ??= ApiSpec.load();
    return ApiSpec.cached;
  }

  static load(path = SPEC_PATH): ApiSpec {
    return new ApiSpec(parse(readFileSync(path, 'utf8')) as JsonSchema);
  }

  /** Compiled validator for a components.schemas entry (WebSocket messages, tests). */
  validator(name: string): ValidateFunction {
    let validate = this.validators.get(name);
    if (!validate) {
      validate = this.ajv.compile(this.schema(name));
      this.validators.set(name, validate);
    }
    return validate;
  }

  operationIds(): string[] {
    return [...this.operations.keys()];
  }

  /** A components.schemas entry with every $ref inlined, ready for Ajv. */
  schema(name: string): JsonSchema {
    return this.resolve({ $ref: `#/components/schemas/${name}` }) as JsonSchema;
  }

  /** Method, Fastify URL (`{id}` -> `:id`) and body/params/headers schemas of an operation. */
  route(operationId: string): SpecRoute {
    let route = this.routes.get(operationId);
    if (!route) {
      route = this.buildRoute(operationId);
      this.routes.set(operationId, route);
    }
    return route;
  }

  private buildRoute(operationId: string): SpecRoute {
    const entry = this.operations.get(operationId);
    if (!entry) throw new Error(`openapi.yaml has no operation '${operationId}'`);
    const { method, path, op } = entry;
    const schema: FastifySchema = {};
    const body = op.requestBody?.content['application/json']?.schema;
    if (body) schema.body = this.resolve(body);
    const parameters = (op.parameters ?? []).map((p) => this.resolve(p) as Parameter);
    const params = this.parameterSchema(parameters, 'path');
    if (params) schema.params = params;
    const headers = this.parameterSchema(parameters, 'header');
    if (headers) schema.headers = headers;
    const querystring = this.parameterSchema(parameters, 'query');
    if (querystring) schema.querystring = querystring;
    return {
      method: method.toUpperCase() as HTTPMethods,
      url: path.replace(/\{([^}]+)\}/g, ':$1'),
      schema,
      config: { operationId, public: Array.isArray(op.security) && op.security.length === 0 },
    };
  }

  private parameterSchema(parameters: Parameter[], where: Parameter['in']): JsonSchema | undefined {
    const selected = parameters.filter((p) => p.in === where);
    if (selected.length === 0) return undefined;
    // Node lower-cases header names; match the spec's header parameters the same way.
    const key = (p: Parameter) => (where === 'header' ? p.name.toLowerCase() : p.name);
    return {
      type: 'object',
      properties: Object.fromEntries(selected.map((p) => [key(p), p.schema])),
      required: selected.filter((p) => p.required).map(key),
    };
  }

  /** Inline local $refs (siblings of a $ref override the target, as 3.1 allows); drop `x-` extensions. */
  resolve(node: unknown, seen: string[] = []): unknown {
    if (Array.isArray(node)) return node.map((item) => this.resolve(item, seen));
    if (node === null || typeof node !== 'object') return node;
    const { $ref, ...rest } = node as JsonSchema;
    let base: JsonSchema = {};
    if (typeof $ref === 'string') {
      if (seen.includes($ref))
        throw new Error(`openapi.yaml: recursive $ref ${[...seen, $ref].join(' -> ')}`);
      base = this.resolve(this.pointer($ref), [...seen, $ref]) as JsonSchema;
    }
    const out: JsonSchema = { ...base };
    for (const [key, value] of Object.entries(rest)) {
      if (key.startsWith('x-')) continue;
      // Ajv's discriminator takes only propertyName; `mapping` is there for openapi-typescript's tag types.
      if (key === 'discriminator') out[key] = { propertyName: (value as JsonSchema).propertyName };
      else out[key] = this.resolve(value, seen);
    }
    return out;
  }

  private pointer(ref: string): unknown {
    if (!ref.startsWith('#/')) throw new Error(`openapi.yaml: only local $refs are supported, got ${ref}`);
    let node: unknown = this.document;
    for (const raw of ref.slice(2).split('/')) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      node = (node as JsonSchema | undefined)?.[key];
      if (node === undefined) throw new Error(`openapi.yaml: unresolved $ref ${ref}`);
    }
    return node;
  }
}
