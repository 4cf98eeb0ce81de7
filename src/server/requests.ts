// In-flight generation requests by id: the one place that aborts them (client gone, explicit cancel, timeout,
// shutdown) and remembers why, so the route can tell the client what happened.
import { randomBytes } from 'node:crypto';
import { type AbortCause, ApiError, type ErrorContext, toApiError } from './errors.ts';
import { drainingError, type Lifecycle } from './lifecycle.ts';

export type RequestKind =
  | 'chat'
  | 'chat_image'
  | 'image'
  | 'image_ws'
  | 'response'
  | 'response_image'
  | 'stream_chat'
  | 'stream_image'
  | 'embeddings'
  | 'zero_shot'
  | 'image_tokenize'
  | 'image_detokenize';

export class InFlightRequest {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  cause: AbortCause | undefined;
  readonly startedAt = performance.now();

  constructor(
    readonly id: string,
    readonly kind: RequestKind,
    private readonly timeoutMs: number,
    private readonly onFinish: (r: InFlightRequest) => void,
  ) {
    if (timeoutMs > 0) {
      this.timer = setTimeout(() => this.abort('timeout'), timeoutMs);
      this.timer.unref();
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** First cause wins: a timeout after a client disconnect is still a disconnect. */
  abort(cause: AbortCause): void {
    if (this.controller.signal.aborted) return;
    this.cause = cause;
    this.controller.abort(cause);
  }

  /** The client-facing error for `err`, knowing why this request was aborted. */
  error(err: unknown): ApiError {
    const ctx: ErrorContext = { cause: this.cause, timeoutMs: this.timeoutMs };
    return toApiError(err, ctx);
  }

  finish(): void {
    clearTimeout(this.timer);
    this.onFinish(this);
  }
}

export class RequestRegistry {
  private readonly inflight = new Map<string, InFlightRequest>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly timeoutMs: number,
    private readonly lifecycle?: Lifecycle,
  ) {}

  /**
   * Registers a request under the client's id (x-request-id) or a fresh `${prefix}-…` one. The one door for
   * every generation, so a draining server refuses them all here (503 server_draining).
   */
  start(kind: RequestKind, prefix: string, requestedId?: string): InFlightRequest {
    if (this.lifecycle?.draining) throw drainingError();
    const id = requestedId ?? `${prefix}-${randomBytes(12).toString('hex')}`;
    if (this.inflight.has(id)) {
      throw new ApiError(
        409,
        `Request id '${id}' is already in use by an in-flight request`,
        'invalid_request_error',
        'x-request-id',
        'duplicate_request_id',
      );
    }
    const request = new InFlightRequest(id, kind, this.timeoutMs, (r) => {
      this.inflight.delete(r.id);
      if (this.inflight.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    });
    this.inflight.set(id, request);
    return request;
  }

  /** Aborts request `id` with `cause`; false when no such request is in flight. */
  abort(id: string, cause: AbortCause): boolean {
    const request = this.inflight.get(id);
    if (!request) return false;
    request.abort(cause);
    return true;
  }

  /** Aborts every in-flight request and waits (at most `waitMs`) for their routes to answer and finish. */
  async abortAll(cause: AbortCause, waitMs = 0): Promise<void> {
    for (const request of this.inflight.values()) request.abort(cause);
    await this.idle(waitMs);
  }

  /** Resolves when no request is in flight, or after `waitMs`, whichever comes first. */
  async idle(waitMs: number): Promise<void> {
    if (this.inflight.size === 0 || waitMs <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The requests in flight now. */
  snapshot(): Set<InFlightRequest> {
    return new Set(this.inflight.values());
  }

  has(id: string): boolean {
    return this.inflight.has(id);
  }

  get size(): number {
    return this.inflight.size;
  }
}
