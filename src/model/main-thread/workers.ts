// Main-thread handles of the engine's two worker threads.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Device, RunnerInfo, RunnerOptions, StepPlan, StepResult } from '../protocol/steps.ts';
import { type Handlers, WorkerClient } from '../protocol/worker-rpc.ts';
import type { CodecHandlers } from '../worker-thread/codec-worker.ts';
import type { RunnerHandlers } from '../worker-thread/runner-service.ts';
import type { StepRunner } from './scheduler.ts';

/** A module relative to this one, with this module's extension (.ts from source, .js when compiled). */
const moduleUrl = (name: string) =>
  new URL(`./${name}${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** A round trip through `worker`, failing after `timeoutMs` (a thread stuck in native code never answers). */
async function ping(worker: WorkerClient<Handlers>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${worker.name} worker did not answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([worker.call('ping', undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness: a round trip through every worker of a loaded engine (none while loading); rejects when one is gone. */
export async function pingWorkers(
  model: { runners: RunnerClient[]; codec: CodecClient } | null,
  timeoutMs: number,
): Promise<void> {
  if (model) await Promise.all([...model.runners.map((r) => r.ping(timeoutMs)), model.codec.ping(timeoutMs)]);
}

async function stop<H extends Handlers & { close: () => Promise<void> }>(
  worker: WorkerClient<H>,
): Promise<void> {
  await worker.call('close', undefined).catch(() => {}); // release sessions; a dead worker has none
  await worker.terminate();
}

/** The model runner worker: the MLLM graphs and the KV cache (model-runner.ts). */
export class RunnerClient implements StepRunner {
  private constructor(
    private readonly worker: WorkerClient<RunnerHandlers>,
    readonly info: RunnerInfo,
  ) {}

  /** `entry`: the worker module (default worker-thread/runner-worker.ts; tests pass a double serving the same door). */
  static async start(
    options: RunnerOptions,
    entry: URL = moduleUrl('../worker-thread/runner-worker'),
  ): Promise<RunnerClient> {
    const worker = WorkerClient.spawn<RunnerHandlers>(entry, 'model-runner');
    try {
      return new RunnerClient(worker, await worker.call('load', options));
    } catch (err) {
      await worker.terminate();
      throw err;
    }
  }

  step(plan: StepPlan): Promise<StepResult> {
    return this.worker.call('step', plan);
  }

  /** Why the worker is gone, or null. */
  get lost(): Error | null {
    return this.worker.failure;
  }

  ping(timeoutMs: number): Promise<void> {
    return ping(this.worker, timeoutMs);
  }

  close(): Promise<void> {
    return stop(this.worker);
  }
}

/** The image codec worker: the UniTok tokenizer graphs (codec-worker.ts). */
export class CodecClient {
  private constructor(private readonly worker: WorkerClient<CodecHandlers>) {}

  static async start(bundleDir: string, device: Device): Promise<CodecClient> {
    const worker = WorkerClient.spawn<CodecHandlers>(
      moduleUrl('../worker-thread/codec-worker'),
      'image-codec',
    );
    try {
      await worker.call('load', { bundleDir, device });
      return new CodecClient(worker);
    } catch (err) {
      await worker.terminate();
      throw err;
    }
  }

  /** CHW pixels in [-1, 1] of `batch` images (moved, not copied) -> codes [batch, K, N]. */
  encode(pixels: Float32Array, batch: number): Promise<Int32Array> {
    return this.worker.call('encode', { pixels, batch }, [pixels.buffer as ArrayBuffer]);
  }

  /** Why the worker is gone, or null. */
  get lost(): Error | null {
    return this.worker.failure;
  }

  /** `batch` rows of CLIP text ids (moved) -> L2-normalised text embeddings [batch, E]. */
  embedText(ids: Int32Array, batch: number): Promise<Float32Array> {
    return this.worker.call('embedText', { ids, batch }, [ids.buffer as ArrayBuffer]);
  }

  /** CHW pixels of `batch` images (moved) -> codes [batch, K, N] and L2-normalised image embeddings [batch, E]. */
  embedImages(pixels: Float32Array, batch: number): Promise<{ codes: Int32Array; embeds: Float32Array }> {
    return this.worker.call('embedImages', { pixels, batch }, [pixels.buffer as ArrayBuffer]);
  }

  /** Codes [batch, K, N] (moved) -> L2-normalised image embeddings [batch, E]. */
  embedCodes(codes: Int32Array, batch: number): Promise<Float32Array> {
    return this.worker.call('embedCodes', { codes, batch }, [codes.buffer as ArrayBuffer]);
  }

  ping(timeoutMs: number): Promise<void> {
    return ping(this.worker, timeoutMs);
  }

  /** One code grid [K, N] (moved, not copied) -> CHW pixels in [-1, 1]. */
  decode(grid: Int32Array): Promise<Float32Array> {
    return this.worker.call('decode', { codes: grid, batch: 1 }, [grid.buffer as ArrayBuffer]);
  }

  close(): Promise<void> {
    return stop(this.worker);
  }
}
