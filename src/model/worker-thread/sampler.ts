// Sampling of text rows on a thread of its own, beside the runner's: at temperature > 0 a row costs ~0.4 ms of
// JavaScript on a 32000-token vocabulary (sampling.ts), so a batch of 8 spent more time sampling than in its
// graphs, one row after another, while the other cores idled. The runner hands the second half of a step's
// sampled rows to this thread and samples the first half itself; the draws are the same function on the same
// inputs, so the tokens and generator states are exactly those of sampling them in turn.
import type { SamplingSpec } from '../protocol/rng.ts';
import { Mulberry32 } from '../protocol/rng.ts';
import { sample } from './sampling.ts';

/** Rows of logits [rows.length, vocab], each with its request's sampling settings and generator state. */
export interface SampleJob {
  vocab: number;
  logits: Float32Array;
  rows: { sampling: SamplingSpec; rng: number }[];
}

export type SampleRow = SampleJob['rows'][number];

/** A sampled token and the generator state after it. */
export interface Sampled {
  token: number;
  rng: number;
}

export function sampleRows(job: SampleJob, max?: (values: ArrayLike<number>) => number): Sampled[] {
  const V = job.vocab;
  if (job.logits.length !== job.rows.length * V)
    throw new Error(`sample job: ${job.logits.length} logits for ${job.rows.length} rows of ${V}`);
  return job.rows.map(({ sampling, rng: state }, j) => {
    const rng = new Mulberry32(state);
    const token = sample(job.logits.subarray(j * V, (j + 1) * V), sampling, rng, max);
    return { token, rng: rng.state };
  });
}

export const samplerHandlers = { sample: (job: SampleJob): Sampled[] => sampleRows(job) };
export type SamplerHandlers = typeof samplerHandlers;
