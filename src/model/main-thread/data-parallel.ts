// Data parallelism on one machine (vLLM's data-parallel ranks, inside one process): R model runners, each a worker
// thread with its own sessions, weights and KV slots, each driven by a Scheduler of its own. A small model's step is
// made of many short ops that one intra-op thread runs best (threads.ts), so a second core helps only by stepping a
// second batch at the same time.
//
// Sequences are packed, not spread: each goes to the fullest runner that still has room for it, and only when none
// has room to the least loaded one, to wait there. A batch of 4 on one runner outruns two batches of 2 on two (the
// per-step cost grows slowly with rows), while 8 rows run faster as 4 + 4 than as 8 on one
// (bench/floor-parallel.ts, docs/step-profile.md). The n outputs of one request may land on several runners.
import type { QueueFullError } from '../engine-types.ts';
import type { GenerationRequest } from './request.ts';
import type { Scheduler, SchedulerStats } from './scheduler.ts';

export class DataParallel {
  constructor(private readonly ranks: Scheduler[]) {
    if (ranks.length === 0) throw new Error('DataParallel needs at least one scheduler');
  }

  /**
   * Queues every sequence of `request`: on the fullest rank with room for it, else on the least loaded one (it
   * waits there for a slot). A rank that refuses (its queue is full) refuses the whole request: the sequences
   * already queued on other ranks are dropped again before the refusal.
   */
  submit(request: GenerationRequest): void {
    const shares = new Map<Scheduler, typeof request.sequences>();
    const rows = this.ranks.map((r) => r.rows);
    const room = (i: number) => this.ranks[i].slots - rows[i];
    for (const seq of request.sequences) {
      let best = -1;
      for (let i = 0; i < rows.length; i++)
        if (room(i) >= seq.rows && (best < 0 || room(i) < room(best))) best = i;
      if (best < 0) {
        best = 0;
        for (let i = 1; i < rows.length; i++) if (rows[i] < rows[best]) best = i;
      }
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

  /** The refusal of the rank a new request would wait on. */
  queueFull(): QueueFullError {
    return this.ranks.reduce((best, r) => (r.rows < best.rows ? r : best)).queueFull();
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
}
