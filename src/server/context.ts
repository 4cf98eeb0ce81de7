// What every route plugin receives: the engine, the config and the shared serving state.
import type { Engine } from '../model/engine-types.ts';
import type { ServerConfig } from './config.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { ServerMetrics } from './metrics.ts';
import type { ApiSpec } from './openapi.ts';
import type { RequestRegistry } from './requests.ts';

export interface ServerContext {
  engine: Engine;
  config: ServerConfig;
  spec: ApiSpec;
  requests: RequestRegistry;
  metrics: ServerMetrics;
  /** Serving or draining (SIGTERM). */
  lifecycle: Lifecycle;
}
