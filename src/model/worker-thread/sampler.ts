// A step's text rows sampled in turn, each with its request's settings and generator state (the state travels
// with the step: the runner keeps none).
import type { SamplingSpec } from '../protocol/rng.ts';
import { Mulberry32 } from '../protocol/rng.ts';
import { type LogitsScan, sample } from './sampling.ts';

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

export function sampleRows(job: SampleJob, scan?: LogitsScan): Sampled[] {
  const V = job.vocab;
  if (job.logits.length !== job.rows.length * V)
    throw new Error(`sample job: ${job.logits.length} logits for ${job.rows.length} rows of ${V}`);
  return job.rows.map(({ sampling, rng: state }, j) => {
    const rng = new Mulberry32(state);
    const token = sample(job.logits.subarray(j * V, (j + 1) * V), sampling, rng, scan);
    return { token, rng: rng.state };
  });
}
