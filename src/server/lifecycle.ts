// Graceful drain. On SIGTERM the server stops admitting (new generations get 503 `server_draining` with
// Retry-After, the readiness probe turns 503 so load balancers stop sending), lets the requests and streams in
// flight finish up to the shutdown timeout, then ends the rest with an in-band `server_shutdown` error.
// The process (serve.ts) then closes the listener and the engine and exits 0.
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.ts';
import type { RequestRegistry } from './requests.ts';

/** Seconds a refused client should wait: long enough for a load balancer to take this replica out. */
export const DRAIN_RETRY_AFTER_SECONDS = 2;

export function drainingError(): ApiError {
  return new ApiError(
    503,
    'The server is shutting down and takes no new requests; retry, another replica will answer',
    'unavailable_error',
    null,
    'server_draining',
    { 'retry-after': String(DRAIN_RETRY_AFTER_SECONDS) },
  );
}

/** What a drain did, for the log line and the operator. */
export interface DrainReport {
  /** Generation requests (HTTP and WebSocket jobs) in flight when the drain began. */
  inFlight: number;
  /** Of those, how many finished on their own (completed, failed or cancelled by their client). */
  finished: number;
  /** Of those, how many were still running at the deadline and were ended with `server_shutdown`. */
  ended: number;
  /** Milliseconds from the start of the drain until no request was left. */
  ms: number;
}

export class Lifecycle {
  private drainingSince: number | null = null;
  private readonly drainListeners = new Set<() => void>();

  get draining(): boolean {
    return this.drainingSince !== null;
  }

  /** Runs `listener` when the drain begins (at once if it has); returns the unsubscribe function. */
  onDrain(listener: () => void): () => void {
    if (this.draining) {
      listener();
      return () => {};
    }
    this.drainListeners.add(listener);
    return () => this.drainListeners.delete(listener);
  }

  beginDrain(): void {
    if (this.draining) return;
    this.drainingSince = performance.now();
    for (const listener of [...this.drainListeners]) listener();
    this.drainListeners.clear();
  }
}

/**
 * Stops admitting and waits for the in-flight requests, at most `timeoutMs`; then ends the rest (their
 * routes send `server_shutdown`, in-band for streams) and waits up to `graceMs` for those answers to go out.
 */
export async function drain(
  app: FastifyInstance,
  lifecycle: Lifecycle,
  requests: RequestRegistry,
  { timeoutMs, graceMs = 2000 }: { timeoutMs: number; graceMs?: number },
): Promise<DrainReport> {
  const started = performance.now();
  const inFlight = requests.snapshot();
  lifecycle.beginDrain();
  // Keep-alive connections with no request on them would otherwise carry new requests to a draining replica.
  app.server.closeIdleConnections?.();
  if (timeoutMs > 0) await requests.idle(timeoutMs);
  const ended = [...inFlight].filter((r) => requests.has(r.id)).length;
  if (requests.size > 0) await requests.abortAll('shutdown', graceMs);
  return { inFlight: inFlight.size, finished: inFlight.size - ended, ended, ms: performance.now() - started };
}
