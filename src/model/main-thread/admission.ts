// Admission control: how much may wait for a KV slot before a new request is refused (429), and the moment a
// request leaves the queue (queue-time metrics). The scheduler asks the policy; it keeps no bound of its own.
//
// Counting requests treats a 16-token chat like a 256-visual-token CFG image (two KV rows for every step), so a
// count small enough to bound the wait of images refuses chats that would have waited a few steps. Work counts
// what the queue will cost the slots: each waiting sequence's KV rows times the steps it may still take.
import { QueueFullError } from '../engine-types.ts';
import type { GenerationRequest, Sequence } from './request.ts';

/** Slot-steps a sequence still needs: its KV rows times the steps it may still take (its token cap). */
export const work = (seq: Sequence): number => seq.rows * seq.stepsLeft;

export interface AdmissionPolicy {
  /** True when `request`, whose sequences are already at the end of `queue`, must be refused. */
  refuses(queue: readonly Sequence[], request: GenerationRequest): boolean;
  /** True when any new request would be refused now (the engine refuses before decoding input images). */
  saturated(queue: readonly Sequence[]): boolean;
  /** The refusal, with a Retry-After of about one request's duration. */
  refusal(queue: readonly Sequence[], retryAfterSeconds: number): QueueFullError;
}

/** Requests in `queue` that have no sequence placed yet. */
function waitingRequests(queue: readonly Sequence[]): Set<GenerationRequest> {
  return new Set(queue.map((s) => s.request).filter((r) => !r.started));
}

/** At most `maxQueue` requests wait, whatever their size (the scheduler's default; scheduler tests use it). */
export class CountAdmission implements AdmissionPolicy {
  constructor(private readonly maxQueue: number) {}

  refuses(queue: readonly Sequence[], request: GenerationRequest): boolean {
    return !request.started && waitingRequests(queue).size > this.maxQueue;
  }

  saturated(queue: readonly Sequence[]): boolean {
    return queue.length > 0 && waitingRequests(queue).size >= this.maxQueue;
  }

  refusal(_queue: readonly Sequence[], retryAfterSeconds: number): QueueFullError {
    return new QueueFullError(
      `the server is busy: ${this.maxQueue} requests are already waiting`,
      retryAfterSeconds,
    );
  }
}

export interface WorkAdmissionOptions {
  /** `--max-queue`: how many full-size requests may wait. */
  maxQueue: number;
  /** Slot-steps of one full-size request: a text sequence that fills the context (the longest a row can run). */
  requestWork: number;
}

/**
 * The queue holds `maxQueue` full-size requests' worth of work: as many requests as --max-queue when each may
 * fill the context, many more when they are short (max_tokens set, images of N visual tokens). A request is
 * never refused when nothing else waits, however large.
 */
export class WorkAdmission implements AdmissionPolicy {
  readonly budget: number;

  constructor(options: WorkAdmissionOptions) {
    this.budget = options.maxQueue * options.requestWork;
  }

  private waitingWork(queue: readonly Sequence[]): number {
    let sum = 0;
    for (const seq of queue) if (!seq.request.started) sum += work(seq);
    return sum;
  }

  refuses(queue: readonly Sequence[], request: GenerationRequest): boolean {
    if (request.started) return false;
    const others = [...waitingRequests(queue)].filter((r) => r !== request);
    return others.length > 0 && this.waitingWork(queue) > this.budget;
  }

  saturated(queue: readonly Sequence[]): boolean {
    return this.waitingWork(queue) >= this.budget;
  }

  refusal(queue: readonly Sequence[], retryAfterSeconds: number): QueueFullError {
    const n = waitingRequests(queue).size;
    return new QueueFullError(
      `the server is busy: ${n} requests are already waiting, ${this.waitingWork(queue)} slot-steps of work (limit ${this.budget})`,
      retryAfterSeconds,
    );
  }
}

// ---- When a request got its slot(s): a promise per request, settled by the scheduler's placement hook.

const placements = new WeakMap<GenerationRequest, { promise: Promise<void>; resolve: () => void }>();

function entry(request: GenerationRequest) {
  let e = placements.get(request);
  if (!e) {
    let resolve = () => {};
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    e = { promise, resolve };
    placements.set(request, e);
  }
  return e;
}

/** Resolves when the scheduler places the first sequence of `request`; never, if it is refused or cancelled. */
export function placement(request: GenerationRequest): Promise<void> {
  return entry(request).promise;
}

/** The scheduler's hook: a sequence of `request` got its slot(s). */
export function placed(request: GenerationRequest): void {
  entry(request).resolve();
}
