// Server-Sent Events over a hijacked Fastify reply: `data:` events (optionally named), `: ping` keep-alive
// comments (clients, including the OpenAI SDK, skip lines starting with ':'), and client-disconnect detection.
import type { FastifyReply } from 'fastify';

export interface SseOptions {
  keepAliveMs: number;
  headers?: Record<string, string>;
  /** Called once if the client goes away before `end()`. */
  onClientClose?: () => void;
}

export class SseWriter {
  private ended = false;
  private closedByClient = false;
  private corked = false;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly reply: FastifyReply,
    options: SseOptions,
  ) {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      // Stop reverse proxies (nginx) from buffering the stream.
      'x-accel-buffering': 'no',
      ...options.headers,
    });
    raw.flushHeaders();
    raw.on('close', () => {
      if (this.ended) return;
      this.closedByClient = true;
      this.stopTimer();
      options.onClientClose?.();
    });
    if (options.keepAliveMs > 0) {
      this.timer = setInterval(() => this.write(': ping\n\n'), options.keepAliveMs);
      this.timer.unref();
    }
  }

  /** True once the client has disconnected; writes are then dropped. */
  get clientClosed(): boolean {
    return this.closedByClient;
  }

  /** Sends one event; resolves when the socket can take more (back-pressure for large image payloads). */
  send(data: unknown, event?: string): Promise<void> {
    const json = JSON.stringify(data);
    return this.write(event ? `event: ${event}\ndata: ${json}\n\n` : `data: ${json}\n\n`);
  }

  /** The OpenAI chat stream terminator. */
  done(): Promise<void> {
    return this.write('data: [DONE]\n\n');
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.stopTimer();
    if (!this.closedByClient) this.reply.raw.end();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private write(text: string): Promise<void> {
    const raw = this.reply.raw;
    if (this.ended || this.closedByClient || raw.destroyed) return Promise.resolve();
    // The tokens of a multi-step runner call arrive together: cork the socket for the rest of this tick so that
    // they leave as one chunk (one writev) instead of one syscall and one TCP segment per token.
    if (!this.corked) {
      this.corked = true;
      raw.cork();
      process.nextTick(() => {
        this.corked = false;
        raw.uncork();
      });
    }
    if (raw.write(text)) return Promise.resolve();
    return new Promise((resolve) => {
      const settle = () => {
        raw.off('drain', settle);
        raw.off('close', settle);
        resolve();
      };
      raw.on('drain', settle);
      raw.on('close', settle);
    });
  }
}
