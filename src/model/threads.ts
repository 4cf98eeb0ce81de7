// Intra-op threads per CPU session, decided where the sessions open (the runner and codec workers) and where the
// engine chooses how many runners to start (main thread), without loading onnxruntime there.
import { existsSync, statSync } from 'node:fs';
import type { Device } from './protocol/steps.ts';

/** Graphs smaller than this (graph + weights) run on one intra-op thread by default. */
export const SMALL_GRAPH_BYTES = 64 * 2 ** 20;

/**
 * Intra-op threads for a CPU session when none were asked for: one for a small graph, ORT's default (every core)
 * otherwise. A small graph's ops are too short to split: handing them to a second pool thread costs more than it
 * saves, and the main thread and the codec worker need the other core (bench/llm-step.ts on the demo model, 2
 * cores: text step 0.34 vs 0.50 ms at batch 1 and 1.48 vs 1.66 ms at batch 8 with one thread; docs/step-profile.md).
 */
export function defaultThreads(graph: string, device: Device): number | undefined {
  if (device !== 'cpu') return undefined;
  let bytes = statSync(graph).size;
  if (existsSync(`${graph}.data`)) bytes += statSync(`${graph}.data`).size;
  return bytes < SMALL_GRAPH_BYTES ? 1 : undefined;
}
