// Continuous batching in llama.cpp's vocabulary: a bounded queue of tasks (sequences of admitted requests), a
// fixed pool of KV slots, and a loop of steps. Each step:
//   1. frees the slots of finished and cancelled sequences, and gives free slots to queued sequences (FCFS);
//   2. plans one decode run over every generating sequence (text and image rows together, each at its own KV
//      length) and prefill runs for the newly placed ones, plus one head per sequence;
//   3. sends the plan through the runner's one door (a worker thread); when the result comes back, hands the
//      sampled tokens to the sequences, which pass them on to their request's output.
// The loop keeps one plan queued ahead of the step computing (protocol/steps.ts: 'sampled' inputs), so the runner
// never idles while the main thread streams results. New requests join between steps; a cancelled or finished
// sequence frees its slot as soon as the step in flight returns (the queued step may still compute its row once;
// the runner executes in order, so the slot's next prefill comes after it).
//
// Multi-step: when steps are short, one plan asks for several (protocol/steps.ts), so the round trip between the threads
// and the scheduling here are paid once per burst instead of once per token. The burst is kept under BURST_MS and
// drops to one step while a request waits for a slot, which bounds how late a stop or a cancel frees a slot.
import { CancelledError, type QueueFullError } from '../engine-types.ts';
import type { DecodeRun, PrefillRun, StepPlan, StepResult, StepTimings } from '../protocol/steps.ts';
import { type AdmissionPolicy, CountAdmission, placed, WorkAdmission } from './admission.ts';
import type { GenerationRequest, Sequence } from './request.ts';

/** How long one multi-step burst may take: the most a stream's tokens are held back to be sent together. */
export const BURST_MS = 10;

/** A step sent to the runner: whose heads it carries, in order, and its coming result. */
interface Sent {
  owners: Sequence[];
  rows: number;
  result: Promise<StepResult>;
}

/** The model runner as the scheduler sees it. */
export interface StepRunner {
  step(plan: StepPlan): Promise<StepResult>;
}

/** KV slots: row indices of the runner's cache buffers. A CFG image takes two consecutive ones. */
export class SlotPool {
  private readonly busy: boolean[];

  constructor(readonly size: number) {
    this.busy = new Array(size).fill(false);
  }

  /** The lowest run of `n` consecutive free slots (its first index), taken; -1 if none. Low slots keep the decode batch short. */
  acquire(n: number): number {
    for (let first = 0; first + n <= this.size; first++) {
      let free = true;
      for (let i = first; i < first + n && free; i++) free = !this.busy[i];
      if (!free) continue;
      for (let i = first; i < first + n; i++) this.busy[i] = true;
      return first;
    }
    return -1;
  }

  release(first: number, n: number): void {
    for (let i = first; i < first + n; i++) this.busy[i] = false;
  }

  get used(): number {
    return this.busy.filter(Boolean).length;
  }
}

export interface SchedulerOptions {
  slots: number;
  /** How much may wait for a slot (see requestWork); more is refused with QueueFullError. */
  maxQueue: number;
  /**
   * Slot-steps of one full-size request (the context length): when given, maxQueue bounds the waiting work
   * (admission.ts WorkAdmission), otherwise the number of waiting requests.
   */
  requestWork?: number;
  /** A step failed under `request` (its sequences are dropped; the engine ends its stream with the error). */
  onFailure: (request: GenerationRequest, err: Error) => void;
  /** Steps sent ahead of the one computing: 1 = none (the runner waits for every result to be handled). Default 2. */
  pipeline?: number;
  /** Most steps one plan may ask for (multi-step decoding); default 1. Fewer when steps are long (BURST_MS). */
  multiStep?: number;
}

export interface SchedulerStats {
  /** Admitted requests none of whose sequences has a slot yet. */
  waiting: number;
  /** Requests with a sequence in a slot. */
  running: number;
  slotsUsed: number;
  slots: number;
  steps: number;
  /** Runner calls: fewer than steps when calls ran several (multi-step). */
  calls: number;
  /** Sequences (rows) in the last step's runs. */
  lastBatch: number;
  /** Sum of the worker's step timings, ms. */
  busy: StepTimings;
}

export class Scheduler {
  private readonly queue: Sequence[] = [];
  private active: Sequence[] = [];
  private readonly pool: SlotPool;
  private steps = 0;
  private calls = 0;
  private lastBatch = 0;
  private readonly busy: StepTimings = { embed: 0, llm: 0, depth: 0, sample: 0, total: 0 };
  private wake: (() => void) | null = null;
  private closing = false;
  private readonly loop: Promise<void>;
  private readonly depth: number;
  /** Seconds a request lasted, averaged (for Retry-After). */
  private meanRequestSeconds = 1;
  /** The runner's ms per step in the last call (the current batch's cost); null until one came back. */
  private stepMs: number | null = null;
  private readonly admission: AdmissionPolicy;

  constructor(
    private readonly runner: StepRunner,
    private readonly options: SchedulerOptions,
  ) {
    this.pool = new SlotPool(options.slots);
    const { maxQueue, requestWork } = options;
    this.admission = requestWork
      ? new WorkAdmission({ maxQueue, requestWork })
      : new CountAdmission(maxQueue);
    this.depth = options.pipeline ?? 2;
    this.loop = this.run();
  }

  /**
   * Queues `sequences` (default: every sequence of `request`; DataParallel gives each rank its share); refuses the
   * request when the admission policy says the queue is full.
   */
  submit(request: GenerationRequest, sequences: readonly Sequence[] = request.sequences): void {
    if (this.closing) throw new CancelledError('the engine is shutting down');
    for (const seq of sequences) {
      if (seq.rows > this.pool.size)
        throw new Error(`a sequence needs ${seq.rows} KV slots; the pool has ${this.pool.size}`);
    }
    this.queue.push(...sequences);
    this.place();
    if (this.admission.refuses(this.queue, request)) {
      this.removeQueued(request);
      throw this.queueFull();
    }
    this.wake?.();
  }

  /** True when a new request would certainly have to wait behind a full queue (lets admission refuse early). */
  saturated(): boolean {
    return this.queue.length > 0 && this.admission.saturated(this.queue);
  }

  /** Drops a cancelled request: queued sequences at once, placed ones at the end of the step in flight. */
  cancel(request: GenerationRequest): void {
    request.cancelled = true;
    this.removeQueued(request);
    this.wake?.();
  }

  /** KV slots of this scheduler's runner. */
  get slots(): number {
    return this.pool.size;
  }

  /** KV rows placed and queued: the load DataParallel places by. */
  get rows(): number {
    let n = 0;
    for (const seq of this.active) n += seq.rows;
    for (const seq of this.queue) n += seq.rows;
    return n;
  }

  /** Requests with a sequence in a slot, and queued requests none of whose sequences has one yet. */
  requests(): { running: Set<GenerationRequest>; waiting: Set<GenerationRequest> } {
    return {
      running: new Set(this.active.map((s) => s.request)),
      waiting: new Set(this.queue.map((s) => s.request).filter((r) => !r.started)),
    };
  }

  stats(): SchedulerStats {
    const { running, waiting } = this.requests();
    return {
      waiting: waiting.size,
      running: running.size,
      slotsUsed: this.pool.used,
      slots: this.pool.size,
      steps: this.steps,
      calls: this.calls,
      lastBatch: this.lastBatch,
      busy: { ...this.busy },
    };
  }

  /** Stops the loop after the step in flight; every unfinished request is cancelled. */
  async close(): Promise<void> {
    this.closing = true;
    for (const seq of [...this.queue, ...this.active]) seq.request.cancelled = true;
    this.queue.length = 0;
    this.wake?.();
    await this.loop;
  }

  // ------------------------------------------------------------------------------------------------ the loop

  private async run(): Promise<void> {
    const inflight: Sent[] = [];
    while (!this.closing || inflight.length > 0) {
      if (!this.closing) {
        this.reap();
        this.place();
        // Keep the runner one step ahead: the next plan waits in its queue while the current step computes.
        while (inflight.length < this.depth && this.hasWork()) inflight.push(this.send());
      }
      const sent = inflight.shift();
      if (!sent) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = null;
        continue;
      }
      let result: StepResult;
      try {
        result = await sent.result;
      } catch (err) {
        // The step's sequences are in an unknown state: fail their requests, keep serving the rest.
        for (const seq of sent.owners) this.fail(seq.request, err as Error);
        continue;
      }
      const count = result.steps.length;
      this.steps += count;
      this.calls++;
      this.lastBatch = sent.rows;
      for (const key of Object.keys(this.busy) as (keyof StepTimings)[])
        this.busy[key] += result.timings[key];
      this.stepMs = result.timings.total / count;
      for (const heads of result.steps)
        sent.owners.forEach((seq, i) => {
          if (!seq.request.cancelled) seq.accept(heads[i]);
        });
    }
    this.reap();
  }

  /** Frees the slots of finished and cancelled sequences. */
  private reap(): void {
    this.active = this.active.filter((seq) => {
      if (seq.phase !== 'done' && !seq.request.cancelled) return true;
      this.pool.release(seq.slot, seq.rows);
      const request = seq.request;
      if (request.finished && !request.cancelled) {
        const seconds = (performance.now() - request.submittedAt) / 1000;
        this.meanRequestSeconds = 0.8 * this.meanRequestSeconds + 0.2 * seconds;
      }
      return false;
    });
  }

  /** Gives free slots to queued sequences in arrival order; the head of the queue is never overtaken. */
  private place(): void {
    while (this.queue.length > 0) {
      const seq = this.queue[0];
      const slot = this.pool.acquire(seq.rows);
      if (slot < 0) return;
      this.queue.shift();
      seq.slot = slot;
      seq.phase = 'prefill';
      this.active.push(seq);
      placed(seq.request);
    }
  }

  private hasWork(): boolean {
    return this.active.some((s) => s.phase === 'prefill' || (s.phase === 'decode' && s.wantsStep));
  }

  /** Plans the next step from every placed sequence that wants one and sends it to the runner. */
  private send(): Sent {
    const decoding = this.active.filter((s) => s.phase === 'decode' && s.wantsStep);
    const prefilling = this.active.filter((s) => s.phase === 'prefill').sort((a, b) => a.slot - b.slot);
    let decode: DecodeRun | null = null;
    if (decoding.length > 0) {
      const end = Math.max(...decoding.map((s) => s.slot + s.rows));
      const rows: DecodeRun['rows'] = Array.from({ length: end }, () => ({ input: null, position: 0 }));
      for (const seq of decoding) {
        const input = seq.input();
        for (let r = 0; r < seq.rows; r++) rows[seq.slot + r] = { input, position: seq.position(r) };
      }
      decode = { rows };
    }
    // A first-prompt run writes every row of its slot range from position 0, so only runs of adjacent new slots share one.
    const prefill: PrefillRun[] = [];
    let last = -1;
    for (const seq of prefilling) {
      if (seq.slot !== last || prefill.length === 0) prefill.push({ firstSlot: seq.slot, rows: [] });
      prefill[prefill.length - 1].rows.push(...seq.prompt);
      last = seq.slot + seq.rows;
    }
    const owners = [...decoding, ...prefilling];
    const steps = this.stepsPerPlan(owners, prefill.length > 0);
    const heads = owners.map((s) => s.plan(steps)); // after the rows: planning moves positions and inputs on
    const result = this.runner.step({ decode, prefill, heads, steps });
    result.catch(() => {}); // awaited in order later; until then a rejection is not unhandled
    return { owners, rows: owners.reduce((n, s) => n + s.rows, 0), result };
  }

  /**
   * Steps for the next plan: as many as fit the burst, none past any owner's last. One for a prefill, whose first
   * token is the request's TTFT, and one while a request waits for a slot that a finishing sequence will free.
   */
  private stepsPerPlan(owners: Sequence[], prefill: boolean): number {
    const most = this.options.multiStep ?? 1;
    if (most <= 1 || prefill || this.queue.length > 0 || this.stepMs === null) return 1;
    const fit = this.stepMs > 0 ? Math.floor(BURST_MS / this.stepMs) : most;
    return Math.max(1, Math.min(most, fit, ...owners.map((s) => s.stepsLeft)));
  }

  private fail(request: GenerationRequest, err: Error): void {
    if (request.cancelled) return;
    request.cancelled = true;
    this.removeQueued(request);
    this.options.onFailure(request, err);
  }

  private removeQueued(request: GenerationRequest): void {
    for (let i = this.queue.length - 1; i >= 0; i--)
      if (this.queue[i].request === request) this.queue.splice(i, 1);
  }

  /** The refusal for a full queue; Retry-After is about one request's duration. */
  queueFull(): QueueFullError {
    return this.admission.refusal(this.queue, Math.max(1, Math.ceil(this.meanRequestSeconds)));
  }
}
