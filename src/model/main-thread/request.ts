// Per-request state. A request has n sequences (choices or images); each sequence owns its KV slot(s), phase,
// positions, generator state and sampled tokens. The scheduler moves sequences through their phases; the
// model runner never sees these objects, only the plain heads and rows they describe.
import type { FinishReason } from '../engine-types.ts';
import { drawsPerToken, type SamplingSpec, skipDraws } from '../protocol/rng.ts';
import type { Head, HeadResult, Segment } from '../protocol/steps.ts';

/** waiting: queued, no slot. prefill: slot(s) assigned, prompt not yet planned. decode: generating. done: finished. */
export type Phase = 'waiting' | 'prefill' | 'decode' | 'done';

/** Where a text sequence's tokens go (the engine detokenizes and applies stop strings). */
export interface TextOutput {
  /** A sampled token (never EOS). Returns true when the text now ends (a stop string matched). */
  token(id: number): boolean;
  finish(reason: FinishReason, completionTokens: number): void;
}

/** Where an image sequence's visual tokens go. */
export interface ImageOutput {
  /** Visual token `index` (row-major) was sampled: its K codes, and the grid so far (valid up to `index`; borrowed). */
  codes(index: number, codes: number[], grid: Int32Array): void;
  /** All N visual tokens are done: the grid [K, N], codebook-major. */
  finish(grid: Int32Array): void;
}

export class GenerationRequest {
  cancelled = false;
  readonly sequences: Sequence[] = [];
  /** performance.now() at submission. */
  readonly submittedAt = performance.now();

  constructor(readonly id: string) {}

  add(sequence: Sequence): void {
    this.sequences.push(sequence);
  }

  get started(): boolean {
    return this.sequences.some((s) => s.phase !== 'waiting');
  }

  get finished(): boolean {
    return this.sequences.every((s) => s.phase === 'done');
  }
}

/** What every sequence is made of. */
interface SequenceOptions {
  request: GenerationRequest;
  /** The prompt of each KV row. */
  prompt: Segment[][];
  /** Positions each row's prompt takes. */
  promptLengths: number[];
  sampling: SamplingSpec;
  /** The generator's seed (state = seed mod 2^32). */
  seed: number;
  /** Generator draws one step of this sequence takes. */
  drawsPerStep: number;
}

export abstract class Sequence {
  /** First KV slot; a sequence with two rows (CFG) holds slot and slot + 1. */
  slot = -1;
  /** The phase of the next step to plan (prefill once, then decode), until it is done. */
  phase: Phase = 'waiting';
  /** Steps sent to the runner for this sequence, and results taken back (fewer while steps are in flight). */
  protected planned = 0;
  protected accepted = 0;
  readonly request: GenerationRequest;
  readonly prompt: Segment[][];
  readonly promptLengths: number[];
  readonly sampling: SamplingSpec;
  private readonly drawsPerStep: number;
  /** mulberry32 state at the next planned step: predicted, since each sampled token takes a known number of draws. */
  private rng: number;

  constructor(options: SequenceOptions) {
    ({
      request: this.request,
      prompt: this.prompt,
      promptLengths: this.promptLengths,
      sampling: this.sampling,
      drawsPerStep: this.drawsPerStep,
    } = options);
    this.rng = options.seed >>> 0;
    this.request.add(this);
  }

  get rows(): number {
    return this.prompt.length;
  }

  /** Steps that may still be planned (not every planned step need come back: an early stop drops the rest). */
  abstract get stepsLeft(): number;

  get wantsStep(): boolean {
    return this.stepsLeft > 0;
  }

  /** KV position where row `row` feeds its next decode input (the prompt, then one token per planned decode step). */
  position(row: number): number {
    return this.promptLengths[row] + this.planned - 1;
  }

  /** The next decode input: the last sampled token once its result is back, else the runner's 'sampled' register. */
  input(): Segment | 'sampled' {
    return this.accepted === this.planned ? this.lastSampled() : 'sampled';
  }

  /** The head of the next `steps` steps (at most stepsLeft); plans them (the phase, step count and generator state move on). */
  plan(steps = 1): Head {
    const head = this.head(this.rng);
    this.rng = skipDraws(this.rng, this.drawsPerStep * steps);
    this.planned += steps;
    this.phase = 'decode';
    return head;
  }

  /** Takes a step's result, in step order; results arriving after the sequence finished are dropped. */
  accept(result: HeadResult): void {
    if (this.phase === 'done') return;
    this.accepted++;
    this.take(result);
  }

  protected abstract head(rng: number): Head;
  protected abstract lastSampled(): Segment;
  protected abstract take(result: HeadResult): void;
}

export interface TextSequenceOptions {
  request: GenerationRequest;
  prompt: Segment[];
  promptLength: number;
  sampling: SamplingSpec;
  seed: number;
  /** The end-of-sequence id, or null to generate past it (ignore_eos). */
  eos: number | null;
  /** Already capped by the engine so prompt + maxTokens fits the context. */
  maxTokens: number;
  output: TextOutput;
}

export class TextSequence extends Sequence {
  private generated = 0;
  private last = -1;
  private readonly eos: number | null;
  private readonly maxTokens: number;
  private readonly output: TextOutput;

  constructor(options: TextSequenceOptions) {
    const { prompt, promptLength, sampling } = options;
    super({
      ...options,
      prompt: [prompt],
      promptLengths: [promptLength],
      drawsPerStep: drawsPerToken(sampling),
    });
    ({ eos: this.eos, maxTokens: this.maxTokens, output: this.output } = options);
  }

  get stepsLeft(): number {
    return this.maxTokens - this.planned;
  }

  protected head(rng: number): Head {
    return { kind: 'text', slot: this.slot, sampling: this.sampling, rng };
  }

  protected lastSampled(): Segment {
    return { ids: [this.last] };
  }

  protected take(result: HeadResult): void {
    if (result.kind !== 'text') throw new Error('text sequence got an image result');
    if (result.token === this.eos) {
      this.finish('stop');
      return;
    }
    this.generated++;
    this.last = result.token;
    if (this.output.token(result.token)) this.finish('stop');
    else if (this.generated >= this.maxTokens) this.finish('length');
  }

  private finish(reason: FinishReason): void {
    this.phase = 'done';
    this.output.finish(reason, this.generated);
  }
}

/** KV rows of an image sequence with classifier-free guidance: the conditional prompt's, then the unconditional one's. */
export const CFG_ROWS = 2;

export interface ImageSequenceOptions {
  request: GenerationRequest;
  /** The text-to-image prompt, and the unconditional one (used only with `cfg`). */
  prompts: { cond: number[]; uncond: number[] };
  sampling: SamplingSpec;
  seed: number;
  guidanceScale: number;
  /** Decode the unconditional row too (settings.ts decides it once per request). */
  cfg: boolean;
  codesPerToken: number;
  visualTokens: number;
  output: ImageOutput;
}

export class ImageSequence extends Sequence {
  private done = 0;
  private last = new Int32Array(0);
  private readonly grid: Int32Array;
  readonly cfg: boolean;
  private readonly guidanceScale: number;
  private readonly visualTokens: number;
  private readonly output: ImageOutput;

  constructor(options: ImageSequenceOptions) {
    const { prompts, cfg, codesPerToken, sampling } = options;
    const rows = cfg ? [prompts.cond, prompts.uncond] : [prompts.cond];
    super({
      ...options,
      prompt: rows.map((ids) => [{ ids }]),
      promptLengths: rows.map((ids) => ids.length),
      drawsPerStep: codesPerToken * drawsPerToken(sampling),
    });
    ({
      cfg: this.cfg,
      guidanceScale: this.guidanceScale,
      visualTokens: this.visualTokens,
      output: this.output,
    } = options);
    this.grid = new Int32Array(codesPerToken * this.visualTokens);
  }

  /** The last visual token is never fed back, so N steps: the prefill and N - 1 decodes. */
  get stepsLeft(): number {
    return this.visualTokens - this.planned;
  }

  protected head(rng: number): Head {
    return {
      kind: 'image',
      slot: this.slot,
      uncondSlot: this.cfg ? this.slot + 1 : null,
      guidanceScale: this.guidanceScale,
      sampling: this.sampling,
      rng,
    };
  }

  protected lastSampled(): Segment {
    return { codes: this.last };
  }

  protected take(result: HeadResult): void {
    if (result.kind !== 'image') throw new Error('image sequence got a text result');
    result.codes.forEach((code, k) => {
      this.grid[k * this.visualTokens + this.done] = code;
    });
    this.output.codes(this.done, result.codes, this.grid);
    this.last = Int32Array.from(result.codes); // [K, 1]
    this.done++;
    if (this.done === this.visualTokens) {
      this.phase = 'done';
      this.output.finish(this.grid);
    }
  }
}
