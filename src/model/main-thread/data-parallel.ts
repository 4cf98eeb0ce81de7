// Data parallelism on one machine (vLLM's data-parallel ranks, inside one process): R model runners, each a worker
// thread with its own sessions, weights and KV slots, each driven by a Scheduler of its own. A small model's step is
// made of many short ops that one intra-op thread runs best (devices.ts), so a second core helps only by stepping a
// second batch at the same time: at 8 streams two runners of 4 rows beat one of 8 (bench/floor-parallel.ts,
// docs/step-profile.md). Each sequence of a request goes to the rank with the fewest rows placed and queued, so
// the n images of one request are drawn on every rank.

import type { QueueFullError } from '../engine-types.ts';
import type { GenerationRequest } from './request.ts';
import type { Scheduler, SchedulerStats } from './scheduler.ts';

export class DataParallel {
  constructor(private readonly ranks: Scheduler[]) {
    if (ranks.length === 0) throw new Error('DataParallel needs at least one scheduler');
  }

  get size(): number {
    return this.ranks.length;
  }

  /**
   * Queues every sequence of `request`, each on the least loaded rank. A rank that refuses (its queue is full)
   * refuses the whole request: the sequences already queued elsewhere are dropped again before the refusal.
   */
  submit(request: GenerationRequest): void {
    const shares = new Map<Scheduler, typeof request.sequences>();
    const rows = this.ranks.map((r) => r.rows);
    for (const seq of request.sequences) {
      let best = 0;
      for (let i = 1; i < rows.length; i++) if (rows[i] < rows[best]) best = i;
      rows[best] += seq.rows;
      const share = shares.get(this.ranks[best]) ?? [];
      share.push(seq);
      shares.set(this.ranks[best], share);
    }
    const done: Scheduler[] = [];
    try {
      for (const [rank, sequences] of shares) {
        rank.submit(request, sequences);
        done.push(rank);
      }
    } catch (err) {
      for (const rank of done) rank.cancel(request);
      throw err;
    }
  }

  /** True when every rank would refuse a new request. */
  saturated(): boolean {
    return this.ranks.every((r) => r.saturated());
  }

  cancel(request: GenerationRequest): void {
    for (const rank of this.ranks) rank.cancel(request);
  }

  /** The refusal of the rank a new request would go to. */
  queueFull(): QueueFullError {
    return this.leastLoaded().queueFull();
  }

  /** The ranks' figures added up; a request with sequences on two ranks counts once. */
  stats(): SchedulerStats {
    const all = this.ranks.map((r) => r.stats());
    const sum = (key: 'slotsUsed' | 'slots' | 'steps' | 'calls' | 'lastBatch') =>
      all.reduce((n, s) => n + s[key], 0);
    const busy = { ...all[0].busy };
    for (const s of all.slice(1))
      for (const key of Object.keys(busy) as (keyof typeof busy)[]) busy[key] += s.busy[key];
    const running = new Set<GenerationRequest>();
    const waiting = new Set<GenerationRequest>();
    for (const rank of this.ranks) {
      const r = rank.requests();
      for (const req of r.running) running.add(req);
      for (const req of r.waiting) waiting.add(req);
    }
    return {
      waiting: waiting.size,
      running: running.size,
      slotsUsed: sum('slotsUsed'),
      slots: sum('slots'),
      steps: sum('steps'),
      calls: sum('calls'),
      lastBatch: sum('lastBatch'),
      busy,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.ranks.map((r) => r.close()));
  }

  private leastLoaded(): Scheduler {
    return this.ranks.reduce((best, r) => (r.rows < best.rows ? r : best));
  }
}
