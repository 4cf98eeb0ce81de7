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
