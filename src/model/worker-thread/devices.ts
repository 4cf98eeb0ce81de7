// Execution providers. A device is taken exactly as asked: onnxruntime-node has no silent fallback (a WebGPU
// session without an adapter fails to create), and neither do we; the failure is reworded so the operator
// sees which flag caused it and what to do.
import { existsSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { Device } from '../protocol/steps.ts';

export class DeviceError extends Error {
  override name = 'DeviceError';
}

export interface SessionTuning {
  intraOpThreads?: number;
}

export function sessionOptions(
  device: Device,
  tuning: SessionTuning = {},
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    ...(tuning.intraOpThreads ? { intraOpNumThreads: tuning.intraOpThreads } : {}),
    // ORT's pool threads spin after each run by default. Here the main thread and two workers share the cores
    // and hand off every step, so a spinning pool steals the time the other threads need (measured: twice the
    // step time on the 2-core machine). Parked threads cost microseconds per run.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

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

/** Opens a graph by path (external data resolves next to it) on `device`, with a clear error if the device is missing. */
export async function openSession(
  path: string,
  device: Device,
  tuning: SessionTuning = {},
): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(path, sessionOptions(device, tuning));
  } catch (err) {
    throw explainDeviceError(device, err);
  }
}

/** `err` from creating a session on `device`, reworded as a DeviceError when the device itself is missing. */
export function explainDeviceError(device: Device, err: unknown): Error {
  const text = err instanceof Error ? err.message : String(err);
  if (device === 'webgpu' && /adapter|webgpu/i.test(text)) {
    return new DeviceError(
      `--device webgpu: no usable WebGPU adapter on this machine (onnxruntime: ${firstLine(text)}). ` +
        'The server does not fall back to the CPU; start it with --device cpu.',
    );
  }
  if (device === 'cuda' && /cuda|shared library/i.test(text)) {
    return new DeviceError(
      `--device cuda: the CUDA execution provider is not available (onnxruntime: ${firstLine(text)}). ` +
        'onnxruntime-node ships it only when installed with --onnxruntime-node-install=cuda12; or use --device cpu.',
    );
  }
  return err instanceof Error ? err : new Error(text);
}

/** The useful part of an onnxruntime error: its last sentence-like clause, without the source location. */
const firstLine = (text: string) => {
  const line = text.split('\n')[0];
  return /Failed to [^.]*/.exec(line)?.[0] ?? line;
};
