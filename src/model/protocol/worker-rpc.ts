// Typed request/response calls to a worker thread. onnxruntime-node's session.run blocks the thread it runs on
// for the whole inference, so every ONNX session of the engine lives in a worker and the main thread only
// posts messages: it keeps answering HTTP while a batch computes.
//
// Worker side: serve({method: handler}). Calls run one at a time, in arrival order.
// Main side:   const w = WorkerClient.spawn<typeof handlers>(url); await w.call('method', arg).
import { parentPort, type Transferable, Worker } from 'node:worker_threads';

// biome-ignore lint/suspicious/noExplicitAny: handler argument types are checked at the call site through H.
export type Handlers = Record<string, (arg: any) => unknown>;

/** A handler's result whose buffers are moved to the caller instead of copied. */
export class Transfer<T> {
  constructor(
    readonly value: T,
    readonly list: Transferable[],
  ) {}
}

type Unwrap<T> = T extends Transfer<infer V> ? V : T;
type Reply =
  | { id: number; value: unknown }
  | { id: number; error: { name: string; message: string; stack?: string } };

/** Raised in the caller for an exception thrown by a worker handler (name and message kept). */
export class WorkerCallError extends Error {
  constructor(name: string, message: string, stack?: string) {
    super(message);
    this.name = name;
    if (stack) this.stack = stack;
  }
}

export function serve(handlers: Handlers): void {
  const port = parentPort;
  if (!port) throw new Error('serve() must be called in a worker thread');
  let queue: Promise<void> = Promise.resolve();
  port.on('message', ({ id, method, arg }: { id: number; method: string; arg: unknown }) => {
    queue = queue.then(async () => {
      try {
        const handler = handlers[method];
        if (!handler) throw new Error(`unknown worker method '${method}'`);
        const out = await handler(arg);
        if (out instanceof Transfer) port.postMessage({ id, value: out.value } satisfies Reply, out.list);
        else port.postMessage({ id, value: out } satisfies Reply);
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        port.postMessage({ id, error: { name: e.name, message: e.message, stack: e.stack } } satisfies Reply);
      }
    });
  });
}

export class WorkerClient<H extends Handlers> {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly name: string,
  ) {
    worker.on('message', (reply: Reply) => {
      const call = this.pending.get(reply.id);
      if (!call) return;
      this.pending.delete(reply.id);
      if ('error' in reply)
        call.reject(new WorkerCallError(reply.error.name, reply.error.message, reply.error.stack));
      else call.resolve(reply.value);
    });
    worker.on('error', (err) => this.die(new Error(`${name} worker crashed: ${err.message}`)));
    worker.on('exit', (code) => this.die(new Error(`${name} worker exited (code ${code})`)));
  }

  /**
   * Starts `url` in a worker. A .ts module (running from source under tsx) gets tsx registered in the worker
   * first: workers do not inherit the parent's --import loaders.
   */
  static spawn<H extends Handlers>(url: URL, name: string): WorkerClient<H> {
    const worker = url.pathname.endsWith('.ts')
      ? new Worker(
          `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(url.href)}); });`,
          { eval: true, name },
        )
      : new Worker(url, { name });
    return new WorkerClient<H>(worker, name);
  }

  call<M extends keyof H & string>(
    method: M,
    arg: Parameters<H[M]>[0],
    transfer: Transferable[] = [],
  ): Promise<Unwrap<Awaited<ReturnType<H[M]>>>> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, method, arg }, transfer);
    });
  }

  /** Why the worker can take no more calls (crashed, exited or terminated); null while it can. */
  get failure(): Error | null {
    return this.dead;
  }

  async terminate(): Promise<void> {
    this.die(new Error(`${this.name} worker was stopped`));
    await this.worker.terminate();
  }

  private die(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    for (const call of this.pending.values()) call.reject(err);
    this.pending.clear();
  }
}
