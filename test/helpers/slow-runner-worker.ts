// TEST DOUBLE. A model-runner worker whose every step also busy-waits `stepMs` (this module's URL query), in its
// own thread, as a large model's session.run would: the tiny bundle's steps take about a millisecond, too short
// for a blocked event loop to show. Start an engine with `runnerWorker: slowRunnerWorker(ms)`.
import type { StepPlan, StepResult } from '../../src/model/protocol/steps.ts';
import { ModelRunner } from '../../src/model/worker-thread/model-runner.ts';
import { type StepExecutor, serveRunner } from '../../src/model/worker-thread/runner-service.ts';

class SlowRunner implements StepExecutor {
  constructor(
    private readonly runner: ModelRunner,
    private readonly stepMs: number,
  ) {}

  get info() {
    return this.runner.info;
  }

  async step(plan: StepPlan): Promise<StepResult> {
    const result = await this.runner.step(plan);
    const extra = this.stepMs * result.steps.length;
    const until = performance.now() + extra;
    while (performance.now() < until); // deliberately blocks this thread
    result.timings.total += extra; // the emulated model's compute, as the worker reports it
    return result;
  }

  release(): Promise<void> {
    return this.runner.release();
  }
}

const stepMs = Number(new URL(import.meta.url).searchParams.get('stepMs'));
serveRunner(async (options) => new SlowRunner(await ModelRunner.load(options), stepMs));
