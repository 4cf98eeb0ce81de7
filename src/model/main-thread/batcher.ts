// Coalesces the items of concurrent requests into batched runs: one run at a time per batcher; items that arrive
// while it runs go together into the next one (at most `maxBatch` items a run, a larger request spanning runs).
// A request whose signal fired before its items ran is dropped from the queue and rejects with CancelledError.
import { CancelledError } from '../engine-types.ts';

interface Job<I, O> {
  items: I[];
  results: O[];
  /** Items not yet handed to a run. */
  next: number;
  /** Items whose results are in. */
  done: number;
  signal: AbortSignal;
  resolve: (results: O[]) => void;
  reject: (err: Error) => void;
}

export class Batcher<I, O> {
  private readonly queue: Job<I, O>[] = [];
  private running = false;
  /** Runs made and items they carried (for benches and tests). */
  readonly stats = { runs: 0, items: 0 };

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly maxBatch: number,
  ) {}

  submit(items: I[], signal: AbortSignal): Promise<O[]> {
    if (items.length === 0) return Promise.resolve([]);
    if (signal.aborted) return Promise.reject(new CancelledError());
    return new Promise<O[]>((resolve, reject) => {
      this.queue.push({ items, results: new Array(items.length), next: 0, done: 0, signal, resolve, reject });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        this.dropAborted();
        const taken: { job: Job<I, O>; from: number; count: number }[] = [];
        let size = 0;
        for (const job of this.queue) {
          if (size === this.maxBatch) break;
          const count = Math.min(job.items.length - job.next, this.maxBatch - size);
          if (count === 0) continue;
          taken.push({ job, from: job.next, count });
          job.next += count;
          size += count;
        }
        if (taken.length === 0) return;
        const batch = taken.flatMap((t) => t.job.items.slice(t.from, t.from + t.count));
        let outputs: O[];
        try {
          outputs = await this.run(batch);
          this.stats.runs++;
          this.stats.items += batch.length;
        } catch (err) {
          for (const t of taken) this.finish(t.job, err as Error);
          continue;
        }
        let offset = 0;
        for (const t of taken) {
          for (let i = 0; i < t.count; i++) t.job.results[t.from + i] = outputs[offset + i];
          offset += t.count;
          t.job.done += t.count;
          if (t.job.done === t.job.items.length) this.finish(t.job);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private dropAborted(): void {
    for (const job of [...this.queue]) if (job.signal.aborted) this.finish(job, new CancelledError());
  }

  private finish(job: Job<I, O>, err?: Error): void {
    const i = this.queue.indexOf(job);
    if (i < 0) return;
    this.queue.splice(i, 1);
    if (err) job.reject(err);
    else job.resolve(job.results);
  }
}
