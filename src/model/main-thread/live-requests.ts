// The requests in flight, each with its event stream and its abort listener: ended exactly once, by its last
// output, a cancel (client, signal, close) or a failure, whichever comes first.
import { CancelledError } from '../engine-types.ts';
import { placement } from './admission.ts';
import type { EventChannel } from './channel.ts';
import type { GenerationRequest } from './request.ts';

interface Live {
  channel: EventChannel<unknown>;
  detach: () => void;
}

export class LiveRequests {
  private readonly live = new Map<GenerationRequest, Live>();

  /** `onError`: what else ending with an error takes (the scheduler dropping the request's sequences). */
  constructor(private readonly onError: (req: GenerationRequest) => void) {}

  /** Tracks `req` until it ends; its signal cancels it. Runs `submit`, and forgets `req` again if that throws. */
  add<E>(req: GenerationRequest, channel: EventChannel<E>, signal: AbortSignal, submit: () => void): void {
    const onAbort = () => this.end(req, new CancelledError());
    signal.addEventListener('abort', onAbort, { once: true });
    const detach = () => signal.removeEventListener('abort', onAbort);
    this.live.set(req, { channel: channel as EventChannel<unknown>, detach });
    channel.scheduled = placement(req);
    try {
      submit();
    } catch (err) {
      detach();
      this.live.delete(req);
      throw err;
    }
  }

  /** Ends a request's stream and forgets it; with an error, the stream throws it after what it buffered. */
  end(req: GenerationRequest, err?: Error): void {
    const live = this.live.get(req);
    if (!live) return;
    this.live.delete(req);
    live.detach();
    if (err) {
      this.onError(req);
      live.channel.fail(err);
    } else live.channel.end();
  }

  endAll(err: Error): void {
    for (const req of [...this.live.keys()]) this.end(req, err);
  }
}
