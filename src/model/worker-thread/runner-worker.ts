// Worker-thread entry of the model runner: serves load / step / close over worker-rpc.ts.

import type { RunnerInfo, RunnerOptions, StepPlan, StepResult } from '../protocol/steps.ts';
import { serve } from '../protocol/worker-rpc.ts';
import { ModelRunner } from './model-runner.ts';

let runner: ModelRunner | null = null;

function loaded(): ModelRunner {
  if (!runner) throw new Error('the model runner is not loaded');
  return runner;
}

const handlers = {
  load: async (opts: RunnerOptions): Promise<RunnerInfo> => {
    runner = await ModelRunner.load(opts);
    return runner.info;
  },
  step: (plan: StepPlan): Promise<StepResult> => loaded().step(plan),
  close: async (): Promise<void> => {
    await runner?.release();
    runner = null;
  },
};

export type RunnerHandlers = typeof handlers;

serve(handlers);
