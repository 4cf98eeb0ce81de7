// The machinery both WebSocket endpoints share: JSON frames validated against an openapi.yaml schema, a table of
// running jobs (each an in-flight request, so the HTTP cancel endpoint reaches it too), cancel by id, the error
// message for anything that fails, and every job aborted when the socket closes. What a job does is the route's.
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { ImageStreamErrorMessage } from './api-types.generated.ts';
import type { ServerContext } from './context.ts';
import { ApiError, invalidRequest, toApiError, validationError } from './errors.ts';
import { logIfServerError } from './generation.ts';
import { parseJsonText } from './json-text.ts';
import { explainMessageTooBig } from './plugins/ws-errors.ts';
import type { InFlightRequest, RequestKind } from './requests.ts';

/** 1001 Going Away: the server is shutting down (RFC 6455). */
const GOING_AWAY = 1001;

/** The connection-level error message; `id` is the job's, or null for a message that started none. */
export function errorMessage(id: string | null, err: ApiError): ImageStreamErrorMessage {
  const retry = err.headers['retry-after'];
  return { type: 'error', id, ...err.body(), ...(retry ? { retry_after_seconds: Number(retry) } : {}) };
}

export interface JobStart {
  kind: RequestKind;
  prefix: string;
  /** The client's id for the job, if it chose one. */
  id?: string;
}

export interface SessionOptions<M extends { type: string }> {
  /** components.schemas entry every client message must match. */
  schema: string;
  /** Jobs that may run at once on one connection. */
  maxJobs: number;
  /** Message type that stops jobs; its optional `id` names one job, otherwise all of them stop. */
  cancelType: string;
  /** How a message starts a job (null: the message is not a job). */
  jobOf: (message: M) => JobStart | null;
  /** Runs the job; its events go out through `send`. Throwing ends it with an error message. */
  run: (inflight: InFlightRequest, message: M, send: (message: object) => void) => Promise<void>;
}

/** Serves one connection until it closes. */
export function openSession<M extends { type: string; id?: string }>(
  ctx: ServerContext,
  socket: WebSocket,
  request: FastifyRequest,
  options: SessionOptions<M>,
): void {
  new SocketSession(ctx, socket, request, options).listen();
}

class SocketSession<M extends { type: string; id?: string }> {
  private readonly jobs = new Map<string, InFlightRequest>();
  private readonly validate;

  constructor(
    private readonly ctx: ServerContext,
    private readonly socket: WebSocket,
    private readonly request: FastifyRequest,
    private readonly options: SessionOptions<M>,
  ) {
    this.validate = ctx.spec.validator(options.schema);
  }

  /** Handlers are attached synchronously, as @fastify/websocket requires, so no message is lost. */
  listen(): void {
    explainMessageTooBig(this.socket, this.ctx.config.limits.wsMaxMessageBytes);
    this.socket.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    // On a drain an idle connection closes at once, a busy one after its last job: the client reconnects elsewhere.
    const stopWatching = this.ctx.lifecycle.onDrain(() => {
      if (this.jobs.size === 0) this.goAway();
    });
    this.socket.on('close', () => {
      stopWatching();
      for (const job of this.jobs.values()) job.abort('client_closed');
    });
  }

  private goAway(): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(GOING_AWAY, 'server shutting down');
  }

  readonly send = (message: object): void => {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  };

  private parse(data: Buffer, isBinary: boolean): M {
    if (isBinary) throw invalidRequest('Messages must be JSON text frames', null, 'invalid_json');
    const message = parseJsonText(data.toString('utf8'), 'message');
    if (!this.validate(message)) throw validationError(this.validate.errors ?? []);
    return message as M;
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    let message: M;
    try {
      message = this.parse(data, isBinary);
    } catch (err) {
      this.send(errorMessage(null, toApiError(err)));
      return;
    }
    try {
      if (message.type === this.options.cancelType) this.cancel(message.id);
      else this.start(message);
    } catch (err) {
      this.send(errorMessage(message.id ?? null, toApiError(err)));
      if (this.ctx.lifecycle.draining && this.jobs.size === 0) this.goAway(); // refused: server_draining
    }
  }

  private cancel(id: string | undefined): void {
    if (id === undefined) {
      if (this.jobs.size === 0) {
        throw invalidRequest('No job is running on this connection', 'type', 'no_active_request');
      }
      for (const job of this.jobs.values()) job.abort('cancelled');
      return;
    }
    const job = this.jobs.get(id);
    if (!job)
      throw new ApiError(
        404,
        `No job '${id}' is running on this connection`,
        'not_found_error',
        'id',
        'request_not_found',
      );
    job.abort('cancelled');
  }

  private start(message: M): void {
    const start = this.options.jobOf(message);
    if (!start) return;
    if (this.jobs.size >= this.options.maxJobs) {
      const running = [...this.jobs.keys()].join("', '");
      const text =
        this.options.maxJobs === 1
          ? `Job '${running}' is still running; cancel it or wait`
          : `${this.jobs.size} jobs are running on this connection ('${running}'), the most it allows; cancel one or wait`;
      throw new ApiError(409, text, 'invalid_request_error', 'type', 'request_in_progress');
    }
    let inflight: InFlightRequest;
    try {
      inflight = this.ctx.requests.start(start.kind, start.prefix, start.id);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'duplicate_request_id') {
        throw new ApiError(409, err.message, err.type, 'id', err.code);
      }
      throw err;
    }
    this.jobs.set(inflight.id, inflight);
    void this.run(inflight, message).finally(() => {
      inflight.finish();
      this.jobs.delete(inflight.id);
      if (this.ctx.lifecycle.draining && this.jobs.size === 0) this.goAway();
    });
  }

  private async run(inflight: InFlightRequest, message: M): Promise<void> {
    try {
      await this.options.run(inflight, message, this.send);
    } catch (err) {
      if (inflight.cause === 'cancelled') return this.send({ type: 'cancelled', id: inflight.id });
      const apiError = inflight.error(err);
      logIfServerError(this.request, apiError, err);
      this.send(errorMessage(inflight.id, apiError));
    }
  }
}
