// The entry URL of the slow model-runner test double (slow-runner-worker.ts), for EngineTuning.runnerWorker.
export const slowRunnerWorker = (stepMs: number): URL =>
  new URL(`./slow-runner-worker.ts?stepMs=${stepMs}`, import.meta.url);
