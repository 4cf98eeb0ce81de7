// Execution providers. A device is taken exactly as asked: onnxruntime-node has no silent fallback (a WebGPU
// session without an adapter fails to create), and neither do we; the failure is reworded so the operator
// sees which flag caused it and what to do.
import * as ort from 'onnxruntime-node';
import type { Device } from '../protocol/steps.ts';

export class DeviceError extends Error {
  override name = 'DeviceError';
}

export interface SessionTuning {
  intraOpThreads?: number;
  /**
   * Pool threads spin-wait between ops and after a run (ORT's default) instead of parking; off unless asked. The
   * main thread and the workers share the cores and hand off every step, so a spinning pool steals their time
   * (twice the step time on the 2-core machine), and even alone at 7B, where a step is 100 ms of large ops, it
   * decoded slower (bench/llm7b.ts --spinning 0,1: 7.26 against 8.83 tok/s at batch 1; docs/step-profile.md).
   */
  spinning?: boolean;
}

export function sessionOptions(
  device: Device,
  tuning: SessionTuning = {},
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    ...(tuning.intraOpThreads ? { intraOpNumThreads: tuning.intraOpThreads } : {}),
    // ORT's pool threads spin by default; parked unless asked (SessionTuning.spinning says why).
    extra: { session: { intra_op: { allow_spinning: tuning.spinning ? '1' : '0' } } },
  };
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
