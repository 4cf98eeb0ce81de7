// Every failure leaves the server as the OpenAI error envelope {error:{message,type,param,code}}.
// This module holds the error type the routes throw and the one mapping from anything thrown to it.
import type { ErrorObject } from 'ajv';
import {
  CancelledError,
  ContextLengthError,
  InvalidImageError,
  InvalidRequestError,
  NotReadyError,
  QueueFullError,
} from '../model/engine-types.ts';
import type { ErrorResponse } from './api-types.generated.ts';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): ErrorResponse {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  /** Headers to send: the error's own plus `x-should-retry: false` where retrying cannot help. */
  responseHeaders(): Record<string, string> {
    // The OpenAI SDKs retry 408/409/429/5xx by default; tell them not to when the answer would be the same.
    const retryable = this.status === 408 || this.status === 429 || this.status === 503;
    return retryable ? this.headers : { 'x-should-retry': 'false', ...this.headers };
  }
}

export function invalidRequest(message: string, param: string | null, code = 'invalid_value'): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}

export function notFound(message: string, param: string | null, code: string): ApiError {
  return new ApiError(404, message, 'not_found_error', param, code);
}

/** Why a request's AbortSignal fired; decides what (if anything) the client is told. */
export type AbortCause = 'cancelled' | 'timeout' | 'client_closed' | 'shutdown';

function abortError(cause: AbortCause | undefined, timeoutMs: number): ApiError {
  switch (cause) {
    case 'timeout':
      return new ApiError(
        504,
        `The request ran longer than the server's limit of ${timeoutMs / 1000} s and was stopped`,
        'timeout_error',
        null,
        'request_timeout',
      );
    case 'shutdown':
      return new ApiError(503, 'The server is shutting down', 'unavailable_error', null, 'server_shutdown', {
        'retry-after': '5',
      });
    default:
      // 499 is nginx's "client closed request" and gRPC's HTTP mapping of CANCELLED.
      return new ApiError(499, 'The request was cancelled', 'cancelled_error', null, 'request_cancelled');
  }
}

/** The request-side facts needed to explain an error: why it was aborted, and the server's timeout. */
export interface ErrorContext {
  cause?: AbortCause;
  timeoutMs?: number;
}

/** Maps engine errors, Fastify errors and our own ApiErrors to an ApiError; anything unknown is a 500. */
export function toApiError(err: unknown, ctx: ErrorContext = {}): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof CancelledError) return abortError(ctx.cause, ctx.timeoutMs ?? 0);
  if (err instanceof QueueFullError) {
    return new ApiError(429, err.message, 'rate_limit_error', null, 'queue_full', {
      'retry-after': String(Math.max(1, Math.ceil(err.retryAfterSeconds))),
    });
  }
  if (err instanceof NotReadyError) {
    return new ApiError(503, err.message, 'unavailable_error', null, 'model_not_ready', {
      'retry-after': String(Math.max(1, Math.ceil(err.retryAfterSeconds))),
    });
  }
  if (err instanceof ContextLengthError) {
    // llama.cpp's type for the same condition; OpenAI's code.
    const param = err.maxTokens === null ? 'messages' : 'max_tokens';
    return new ApiError(400, err.message, 'exceed_context_size_error', param, 'context_length_exceeded');
  }
  if (err instanceof InvalidImageError) {
    const where = `messages[${err.messageIndex}].content[${err.partIndex}].image_url`;
    return invalidRequest(`Invalid image at '${where}': ${err.message}`, where, 'invalid_image');
  }
  if (err instanceof InvalidRequestError) return invalidRequest(err.message, err.param, err.code);
  return fromFastifyError(err);
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: ErrorObject[];
  validationContext?: string;
}

function fromFastifyError(err: unknown): ApiError {
  const e = (err ?? {}) as FastifyLikeError;
  if (e.validation && e.validation.length > 0) return validationError(e.validation, e.validationContext);
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(
        413,
        'Request body is too large for this server',
        'invalid_request_error',
        null,
        'body_too_large',
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(
        415,
        'Unsupported Content-Type; send application/json',
        'invalid_request_error',
        null,
        'unsupported_media_type',
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidRequest('The request body is empty; expected a JSON object', null, 'invalid_json');
  }
  const status = e.statusCode ?? 500;
  if (status >= 400 && status < 500)
    return new ApiError(status, e.message ?? 'Bad request', 'invalid_request_error');
  return new ApiError(
    500,
    'The server had an error while processing your request',
    'server_error',
    null,
    'internal_error',
  );
}

/** `/messages/0/content` -> `messages[0].content`. */
export function paramPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').slice(1);
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const raw of parts) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  }
  return out;
}

const typeName = (value: unknown) =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;

/**
 * Turns Ajv errors into one message naming the field. With oneOf, Ajv reports every branch; the error at the
 * deepest path belongs to the branch the client was most likely aiming for, and among errors at one path a
 * non-`type` error (e.g. maxItems) means the type matched, so it is the informative one.
 */
export function validationError(errors: ErrorObject[], context = 'body'): ApiError {
  const relevant = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf');
  const pool = relevant.length > 0 ? relevant : errors;
  const depth = (e: ErrorObject) => e.instancePath.split('/').length;
  const deepest = Math.max(...pool.map(depth));
  const atDeepest = pool.filter((e) => depth(e) === deepest);
  const nonType = atDeepest.filter((e) => e.keyword !== 'type');
  const where =
    context === 'headers' || context === 'params'
      ? `${context === 'headers' ? 'header' : 'path parameter'} `
      : '';

  if (nonType.length === 0) {
    const first = atDeepest[0];
    const types = [...new Set(atDeepest.flatMap((e) => [e.params.type as string | string[]].flat()))].join(
      ' or ',
    );
    const param = paramPath(first.instancePath);
    if (param === '') {
      return invalidRequest(
        `The ${context === 'body' ? 'request body' : context} must be a JSON ${types}, but got ${typeName(first.data)}`,
        null,
        'invalid_type',
      );
    }
    return invalidRequest(
      `Invalid type for ${where}'${param}': expected ${types}, but got ${typeName(first.data)}`,
      param,
      'invalid_type',
    );
  }
  const e = nonType[0];
  switch (e.keyword) {
    case 'required': {
      const param = paramPath(e.instancePath, e.params.missingProperty as string);
      return invalidRequest(
        `Missing required ${where || 'parameter '}'${param}'`,
        param,
        'missing_required_parameter',
      );
    }
    case 'additionalProperties': {
      const param = paramPath(e.instancePath, e.params.additionalProperty as string);
      return invalidRequest(`Unrecognized parameter '${param}'`, param, 'unknown_parameter');
    }
    case 'discriminator': {
      const param = paramPath(e.instancePath, e.params.tag as string);
      const branches = (
        (e.parentSchema?.oneOf ?? []) as { properties?: Record<string, { const?: unknown }> }[]
      )
        .map((b) => b.properties?.[e.params.tag as string]?.const)
        .filter((v) => v !== undefined);
      return invalidRequest(
        `Invalid value for '${param}': expected one of ${branches.join(', ')}, but got ${JSON.stringify(e.params.tagValue)}`,
        param,
      );
    }
    case 'enum':
    case 'const': {
      const param = paramPath(e.instancePath);
      const allowed = (e.keyword === 'enum' ? (e.params.allowedValues as unknown[]) : [e.params.allowedValue])
        .filter((v) => v !== null)
        .map((v) => JSON.stringify(v));
      return invalidRequest(
        `Invalid value for ${where}'${param}': expected ${allowed.length > 1 ? 'one of ' : ''}${allowed.join(', ')}, but got ${JSON.stringify(e.data)}`,
        param,
      );
    }
    default: {
      const param = paramPath(e.instancePath);
      return invalidRequest(`Invalid value for ${where}'${param}': ${e.message ?? 'not allowed'}`, param);
    }
  }
}
