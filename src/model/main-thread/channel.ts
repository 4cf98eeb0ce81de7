// An async event stream with one producer (the engine) and one consumer (the server iterating it once).
// Events are buffered while the consumer is busy; `fail` delivers what is buffered, then throws.
export class EventChannel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private closed = false;
  private error: Error | null = null;
  private notify: (() => void) | null = null;
  private iterated = false;
  /** Resolves when the request gets its KV slot(s): EngineStream.scheduled (set by LiveRequests.add). */
  scheduled?: Promise<void>;

  /** `onAbandon` runs when the consumer stops iterating before the end (break, return, throw in the loop body). */
  constructor(private readonly onAbandon: () => void = () => {}) {}

  get open(): boolean {
    return !this.closed;
  }

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    this.wakeConsumer();
  }

  end(): void {
    this.closed = true;
    this.wakeConsumer();
  }

  fail(err: Error): void {
    if (this.closed) return;
    this.error = err;
    this.end();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) throw new Error('an engine stream can be iterated only once');
    this.iterated = true;
    return {
      next: async (): Promise<IteratorResult<T>> => {
        while (this.items.length === 0 && !this.closed) {
          await new Promise<void>((resolve) => {
            this.notify = resolve;
          });
        }
        if (this.items.length > 0) return { value: this.items.shift() as T, done: false };
        if (this.error) throw this.error;
        return { value: undefined, done: true };
      },
      return: async (): Promise<IteratorResult<T>> => {
        if (!this.closed) {
          this.closed = true;
          this.onAbandon();
        }
        return { value: undefined, done: true };
      },
    };
  }

  private wakeConsumer(): void {
    const notify = this.notify;
    this.notify = null;
    notify?.();
  }
}
