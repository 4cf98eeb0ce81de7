// The scheduler's test harness: a scripted runner standing in for the worker, and requests whose outputs are
// recorded (scheduler.test.ts, scheduler-multistep.test.ts).
import assert from 'node:assert/strict';
import type { FinishReason } from '../../src/model/engine-types.ts';
import { GenerationRequest, ImageSequence, TextSequence } from '../../src/model/main-thread/request.ts';
import type { StepRunner } from '../../src/model/main-thread/scheduler.ts';
import type { HeadResult, StepPlan, StepResult } from '../../src/model/protocol/steps.ts';

export const EOS = 2;
export const GREEDY = { temperature: 0, topK: 0, topP: 1 };

/**
 * A runner like the worker: calls execute one at a time in arrival order, each running plan.steps steps. Text
 * heads get token 100 + slot (or what `tokenFor` says; `ran` counts the steps before), image heads codes
 * [slot, slot]; every step reports `stepMs`. In manual mode each call waits for release().
 */
export class ScriptedRunner implements StepRunner {
  readonly plans: StepPlan[] = [];
  manual = false;
  tokenFor = (slot: number) => 100 + slot;
  ran = 0;
  stepMs = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private gate: (() => void) | null = null;

  step(plan: StepPlan): Promise<StepResult> {
    this.plans.push(structuredClone(plan));
    const done = this.chain.then(async (): Promise<StepResult> => {
      if (this.manual) {
        await new Promise<void>((resolve) => {
          this.gate = resolve;
        });
      } else await new Promise((r) => setImmediate(r));
      const steps = Array.from({ length: plan.steps ?? 1 }, () => {
        const heads = plan.heads.map(
          (h): HeadResult =>
            h.kind === 'text'
              ? { kind: 'text', token: this.tokenFor(h.slot), rng: h.rng }
              : { kind: 'image', codes: [h.slot, h.slot], rng: h.rng },
        );
        this.ran++;
        return heads;
      });
      const total = this.stepMs * steps.length;
      return { steps, timings: { embed: 0, llm: 0, depth: 0, sample: 0, total } };
    });
    this.chain = done.catch(() => {});
    return done;
  }

  /** Resolves once a step is computing and held (manual mode). */
  async computing(): Promise<void> {
    while (!this.gate) await new Promise((r) => setImmediate(r));
  }

  /** Lets the computing step finish and gives the scheduler time to act on its result. */
  async release(): Promise<void> {
    await this.computing();
    const gate = this.gate as () => void;
    this.gate = null;
    gate();
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  }

  /** Stops holding steps: the held one and all later ones finish on their own. */
  async run(): Promise<void> {
    this.manual = false;
    if (this.gate) await this.release();
  }
}

export interface TextRun {
  req: GenerationRequest;
  tokens: number[];
  done: Promise<FinishReason>;
}

export function textRequest(
  id: string,
  promptLength: number,
  maxTokens: number,
  n = 1,
  eos: number | null = EOS,
): TextRun {
  const req = new GenerationRequest(id);
  const tokens: number[] = [];
  let finished = 0;
  let resolve!: (r: FinishReason) => void;
  const done = new Promise<FinishReason>((r) => {
    resolve = r;
  });
  for (let i = 0; i < n; i++) {
    const output = {
      token: (t: number) => tokens.push(t) < 0,
      finish: (r: FinishReason) => ++finished === n && resolve(r),
    };
    new TextSequence({
      request: req,
      prompt: [{ ids: new Array(promptLength).fill(7) }],
      promptLength,
      sampling: GREEDY,
      seed: 0,
      eos,
      maxTokens,
      output,
    });
  }
  return { req, tokens, done };
}

export function imageRequest(
  id: string,
  promptLengths: number[],
  tokens: number,
): { req: GenerationRequest; done: Promise<Int32Array> } {
  const req = new GenerationRequest(id);
  let resolve!: (g: Int32Array) => void;
  const done = new Promise<Int32Array>((r) => {
    resolve = r;
  });
  const prompts = promptLengths.map((n) => new Array(n).fill(5));
  new ImageSequence({
    request: req,
    prompts: { cond: prompts[0], uncond: prompts[1] ?? [] },
    cfg: prompts.length === 2,
    sampling: GREEDY,
    seed: 0,
    guidanceScale: 7,
    codesPerToken: 2,
    visualTokens: tokens,
    output: { codes: () => {}, finish: (g) => resolve(Int32Array.from(g)) },
  });
  return { req, done };
}

export const noFailure = (_: GenerationRequest, err: Error) => assert.fail(err);
