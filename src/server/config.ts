// Every server knob in one object with its defaults. The CLI/environment parser that fills it is cli-options.ts.
import { fileURLToPath } from 'node:url';
import type { EngineOptions } from '../model/engine-types.ts';
import { DEFAULT_IMAGE_LIMITS } from '../tokenizer/image-io.ts';

export interface ImageInputLimits {
  /** Decoded bytes per input image. */
  maxBytes: number;
  /** Images per request, all messages together. */
  maxPerRequest: number;
  /** Pixels (width x height) per input image; enforced by the engine while decoding. */
  maxPixels: number;
  /** Hosts whose http(s) image URLs are fetched (`*.example.org` matches subdomains); empty = data: URLs only. */
  allowedHosts: string[];
  fetchTimeoutMs: number;
}

/** What one client connection may hold; the defence against slow and oversized clients. */
export interface ConnectionLimits {
  /** Longest a client may take to send a whole request, headers and body (slow-body clients get 408); 0 = none. */
  requestReceiveTimeoutMs: number;
  /** Longest a client may take to send the request headers. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long; above a load balancer's idle timeout. */
  keepAliveTimeoutMs: number;
  /** Requests served on one keep-alive connection before it is closed; 0 = unlimited. */
  maxRequestsPerConnection: number;
  /** Open connections (WebSockets included); more are refused at accept; 0 = unlimited. */
  maxConnections: number;
  /** Largest WebSocket message; a bigger one closes the socket with 1009 and a reason. */
  wsMaxMessageBytes: number;
}

export interface ServerConfig {
  host: string;
  port: number;
  /** Accepted bearer keys; empty = no authentication. */
  apiKeys: string[];
  /** Model id clients must send; null = the engine's own id. */
  servedModelName: string | null;
  /** Whole request body (base64 images included). */
  bodyLimitBytes: number;
  images: ImageInputLimits;
  /** WebSocket preview cadence (visual tokens) when a `generate` message does not say. */
  previewEvery: number;
  /** SSE keep-alive comment interval; 0 = none. */
  sseKeepAliveMs: number;
  /** Longest a generation may run before it is stopped with 504; 0 = unlimited. */
  requestTimeoutMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  limits: ConnectionLimits;
  /** On SIGTERM, how long in-flight requests and streams may run on before they are ended; 0 = end them at once. */
  shutdownTimeoutMs: number;
  /** Origins allowed to call the API from a browser (CORS); ['*'] = any, [] = no CORS headers. */
  corsOrigins: string[];
}

export const MB = 1024 * 1024;

export const DEFAULT_CONFIG: ServerConfig = {
  host: '127.0.0.1',
  port: 8000,
  apiKeys: [],
  servedModelName: null,
  bodyLimitBytes: 32 * MB,
  images: {
    maxBytes: DEFAULT_IMAGE_LIMITS.maxBytes,
    maxPerRequest: 4,
    maxPixels: DEFAULT_IMAGE_LIMITS.maxPixels,
    allowedHosts: [],
    fetchTimeoutMs: 5000,
  },
  previewEvery: 32,
  sseKeepAliveMs: 15_000,
  requestTimeoutMs: 600_000,
  logLevel: 'info',
  limits: {
    requestReceiveTimeoutMs: 30_000,
    headersTimeoutMs: 10_000,
    keepAliveTimeoutMs: 65_000,
    maxRequestsPerConnection: 0,
    maxConnections: 1024,
    wsMaxMessageBytes: 16 * MB,
  },
  shutdownTimeoutMs: 30_000,
  // As vLLM and llama.cpp: the API authenticates with bearer keys, not cookies, so any origin may call it.
  corsOrigins: ['*'],
};

export type ServerConfigInput = Partial<Omit<ServerConfig, 'images' | 'limits'>> & {
  images?: Partial<ImageInputLimits>;
  limits?: Partial<ConnectionLimits>;
};

export function resolveConfig(input: ServerConfigInput = {}): ServerConfig {
  return {
    ...DEFAULT_CONFIG,
    ...input,
    images: { ...DEFAULT_CONFIG.images, ...input.images },
    limits: { ...DEFAULT_CONFIG.limits, ...input.limits },
  };
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  // The bundle shipped in this repository, wherever the server is started from.
  model: fileURLToPath(new URL('../../models/demo', import.meta.url)),
  device: 'cpu',
  maxQueue: 16,
  maxBatch: 8,
};
/** Module exporting `createEngine: EngineFactory`, relative to the working directory unless absolute. */
export const DEFAULT_ENGINE_MODULE = 'src/model/main-thread/engine.ts';

export interface CliConfig {
  server: ServerConfig;
  engine: EngineOptions;
  engineModule: string;
  help: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}
