// The model runner's side of the thread boundary: load / step / close served over worker-rpc.ts. A worker entry
// calls serveRunner with how to load its runner: runner-worker.ts loads the real ModelRunner; a test double can
// wrap it (for example to make every step as slow as a large model's) without a line of it in production code.
import type { RunnerInfo, RunnerOptions, StepPlan, StepResult } from '../protocol/steps.ts';
import { serve } from '../protocol/worker-rpc.ts';

/** What a worker serves: the one door of protocol/steps.ts, and a way to free its sessions. */
export interface StepExecutor {
  readonly info: RunnerInfo;
  step(plan: StepPlan): Promise<StepResult>;
  release(): Promise<void>;
}

export function runnerHandlers(load: (options: RunnerOptions) => Promise<StepExecutor>) {
  let runner: StepExecutor | null = null;
  const loaded = (): StepExecutor => {
    if (!runner) throw new Error('the model runner is not loaded');
    return runner;
  };
  return {
    load: async (options: RunnerOptions): Promise<RunnerInfo> => {
      runner = await load(options);
      return runner.info;
    },
    step: (plan: StepPlan): Promise<StepResult> => loaded().step(plan),
    /** Liveness: answered in call order, so it also shows the thread is not stuck. */
    ping: (): boolean => true,
    close: async (): Promise<void> => {
      await runner?.release();
      runner = null;
    },
  };
}

export type RunnerHandlers = ReturnType<typeof runnerHandlers>;

export function serveRunner(load: (options: RunnerOptions) => Promise<StepExecutor>): void {
  serve(runnerHandlers(load));
}
