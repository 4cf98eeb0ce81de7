// The engine behind src/model/engine-types.ts: admission, outputs, and the threads that do the work.
//
//   main thread   Engine (this file): templates, tokenization, image checks, context check, event streams
//                 (detokenization, stop strings, PNG encoding), and the Scheduler (scheduler.ts): queue, KV slots,
//                 continuous batching. Never runs a model.
//   worker        model runner (runner-worker.ts -> model-runner.ts): the MLLM graphs and the KV cache; one
//                 message per step (protocol.ts).
//   worker        image codec (codec-worker.ts): the UniTok tokenizer graphs, encoding input images and rendering
//                 outputs and previews, so a render never delays the other requests' steps.
import {
  DEFAULT_IMAGE_LIMITS,
  ImageInputError,
  pixelsToPng,
  preprocessImage,
} from '../../tokenizer/image-io.ts';
import { UniTokTokenizer } from '../../tokenizer/unitok.ts';
import { type Bundle, readBundle } from '../bundle.ts';
import {
  CancelledError,
  type ChatEvent,
  type ChatRequest,
  ContextLengthError,
  type Engine,
  type EngineFactory,
  type EngineInfo,
  type EngineOptions,
  type EngineStats,
  type EngineStatus,
  type EngineStream,
  type ImageEvent,
  type ImageRequest,
  InvalidImageError,
  InvalidRequestError,
  NotReadyError,
  type SamplingParams,
} from '../engine-types.ts';
import { randomSeed, type SamplingSpec } from '../protocol/rng.ts';
import { EventChannel } from './channel.ts';
import { ChoiceText } from './chat-output.ts';
import { fillPartialGrid, maskUnknownCells } from './preview.ts';
import { type PromptImage, renderChat, textToImageIds, withImages } from './prompts.ts';
import { GenerationRequest, ImageSequence, TextSequence } from './request.ts';
import { Scheduler, type SchedulerStats } from './scheduler.ts';
import { LlamaTokenizer } from './text-tokenizer.ts';
import { CodecClient, RunnerClient } from './workers.ts';

/** Most outputs one request may ask for (the API allows more; the engine answers 400 naming `n`). */
export const MAX_N = 16;

/**
 * Most steps per runner call. Only short steps use it (the scheduler's BURST_MS): there a step costs little more
 * than the hop between threads, which a burst pays once.
 */
export const MULTI_STEP = 8;

/** Knobs beyond the server's EngineOptions, for tests and benches. */
export interface EngineTuning {
  /** ORT intra-op threads per session (default: ORT's choice). */
  threads?: number;
  /** Positions per KV slot, below the bundle's context length to save memory (every slot reserves it all). */
  contextLength?: number;
  /** See RunnerOptions.simulatedStepMs. */
  simulatedStepMs?: number;
  /** Most decode steps per runner call (SchedulerOptions.multiStep); 1 = one round trip per step. */
  multiStep?: number;
}

/** Engine.stats() plus what a scheduler and a bench want to see. */
export interface UniTokEngineStats extends EngineStats, Partial<Omit<SchedulerStats, 'waiting' | 'running'>> {
  /** Generated tokens: text tokens and visual tokens. */
  generated: { text: number; image: number };
  /** Time to first token (or visual token), summed over the requests that got one. */
  ttft: { count: number; sumSeconds: number };
}

/** The engine, resolved at once in `loading` status; `engine.loaded` settles when loading ends. */
export async function startEngine(options: EngineOptions & EngineTuning): Promise<UniTokEngine> {
  return UniTokEngine.start(options);
}

export const createEngine: EngineFactory = startEngine;

/** A request in flight: its stream and how to end it from outside (close, step failure). */
interface Live {
  channel: EventChannel<ChatEvent> | EventChannel<ImageEvent>;
  detach: () => void;
}

export class UniTokEngine implements Engine {
  private status: EngineStatus = 'loading';
  private statusMessage: string | undefined = 'starting';
  private bundle: Bundle | null = null;
  /** The longest sequence served: the KV slots' size. */
  private contextLength = 0;
  /** expand2square's fill colour for input images (the tokenizer config's pad_color). */
  private padColor: [number, number, number] = [0, 0, 0];
  private tokenizer: LlamaTokenizer | null = null;
  private runner: RunnerClient | null = null;
  private codec: CodecClient | null = null;
  private scheduler: Scheduler | null = null;
  private readonly live = new Map<GenerationRequest, Live>();
  private readonly generated = { text: 0, image: 0 };
  private readonly ttft = { count: 0, sumSeconds: 0 };
  /** Settles when loading ends (ready or failed). */
  readonly loaded: Promise<void>;

  private constructor(private readonly options: EngineOptions & EngineTuning) {
    this.loaded = this.load();
  }

  static start(options: EngineOptions & EngineTuning): UniTokEngine {
    return new UniTokEngine(options);
  }

  private async load(): Promise<void> {
    try {
      const bundle = readBundle(this.options.model);
      this.bundle = bundle;
      this.statusMessage = `loading ${bundle.name} on ${this.options.device}`;
      this.tokenizer = LlamaTokenizer.load(this.options.model);
      this.padColor = UniTokTokenizer.readManifest(this.options.model).config.pad_color;
      // A CFG image decodes two rows, so the pool always has room for one.
      const slots = Math.max(this.options.maxBatch, 2);
      const [runner, codec] = await Promise.allSettled([
        RunnerClient.start({
          bundleDir: this.options.model,
          device: this.options.device,
          slots,
          intraOpThreads: this.options.threads,
          contextLength: this.options.contextLength,
          simulatedStepMs: this.options.simulatedStepMs,
        }),
        CodecClient.start(this.options.model, this.options.device),
      ]);
      if (runner.status === 'fulfilled') this.runner = runner.value;
      if (codec.status === 'fulfilled') this.codec = codec.value;
      if (runner.status === 'rejected') throw runner.reason;
      if (codec.status === 'rejected') throw codec.reason;
      const info = runner.value.info;
      this.contextLength = info.contextLength;
      if (info.vocabSize !== this.tokenizer.vocabSize) {
        throw new Error(
          `the graphs have ${info.vocabSize} text tokens, the tokenizer ${this.tokenizer.vocabSize}`,
        );
      }
      this.scheduler = new Scheduler(runner.value, {
        slots,
        maxQueue: this.options.maxQueue,
        onFailure: (request, err) => this.failed(request, err),
        multiStep: this.options.multiStep ?? MULTI_STEP,
      });
      this.status = 'ready';
      this.statusMessage = undefined;
    } catch (err) {
      this.status = 'failed';
      this.statusMessage = (err as Error).message;
      await this.stopWorkers();
    }
  }

  info(): EngineInfo {
    const b = this.bundle;
    const text = b?.defaults.text;
    const image = b?.defaults.image;
    return {
      id: b?.name ?? this.options.model,
      created: b?.created ?? 0,
      ownedBy: 'unitok-server',
      status: this.status,
      ...(this.statusMessage ? { statusMessage: this.statusMessage } : {}),
      contextLength: this.contextLength || (b?.contextLength ?? 0),
      image: {
        width: b?.image.size ?? 0,
        height: b?.image.size ?? 0,
        visualTokens: b?.image.visualTokens ?? 0,
        codesPerToken: b?.image.codesPerToken ?? 0,
      },
      defaults: {
        text: {
          temperature: text?.temperature ?? 0,
          topP: text?.topP ?? 1,
          topK: text?.topK ?? 0,
          seed: null,
        },
        image: {
          temperature: image?.temperature ?? 1,
          topP: image?.topP ?? 1,
          topK: image?.topK ?? 0,
          seed: null,
          guidanceScale: image?.guidance ?? 1,
        },
      },
    };
  }

  stats(): UniTokEngineStats {
    const s = this.scheduler?.stats();
    return { waiting: 0, running: 0, ...s, generated: { ...this.generated }, ttft: { ...this.ttft } };
  }

  async submitChat(request: ChatRequest): Promise<EngineStream<ChatEvent>> {
    const { bundle, tokenizer, scheduler } = this.admissible(request);
    const rendered = renderChat(bundle.chat, request.messages);
    const parts = tokenizer.encodePrompt(rendered.text);
    const imageTokens = rendered.images.length * bundle.image.visualTokens;
    const textTokens = parts.reduce((n, s) => n + (s.type === 'text' ? s.ids.length : 0), 0);
    const promptTokens = textTokens + imageTokens;
    const C = this.contextLength;
    if (promptTokens >= C) throw new ContextLengthError(promptTokens, C);
    if (request.maxTokens !== null && promptTokens + request.maxTokens > C) {
      throw new ContextLengthError(promptTokens + request.maxTokens, C);
    }
    this.checkQueue(scheduler);
    const codes = await this.encodeImages(rendered.images, request.maxImagePixels);
    if (request.signal.aborted) throw new CancelledError();
    const segments = withImages(parts, codes);

    const req = new GenerationRequest(request.id);
    const channel = new EventChannel<ChatEvent>(() => this.cancel(req));
    const sampling = samplingSpec(request.sampling);
    const seed = request.sampling.seed ?? randomSeed();
    const maxTokens = Math.min(request.maxTokens ?? Number.POSITIVE_INFINITY, C - promptTokens);
    let finished = 0;
    const emit = this.emitter(
      req,
      channel,
      (e) => (e.type === 'text' ? e.tokens : 0),
      'text',
      (e) => {
        if (e.type === 'finish' && ++finished === request.n) this.end(req);
      },
    );
    for (let i = 0; i < request.n; i++) {
      const output = new ChoiceText(
        i,
        tokenizer.decodeStream({ skipSpecialTokens: true }),
        request.stop,
        emit,
      );
      new TextSequence(
        req,
        segments,
        promptTokens,
        sampling,
        seed + i,
        bundle.special.eos,
        maxTokens,
        output,
      );
    }
    this.enqueue(req, channel, request.signal, scheduler);
    return Object.assign(channel, { prompt: { tokens: promptTokens, imageTokens } });
  }

  async submitImage(request: ImageRequest): Promise<EngineStream<ImageEvent>> {
    const { bundle, tokenizer, scheduler } = this.admissible(request);
    const { cond, uncond } = textToImageIds(tokenizer, bundle.textToImage, request.prompt);
    const guidance = request.sampling.guidanceScale;
    const prompts = guidance > 1 ? [cond, uncond] : [cond];
    const { visualTokens: N, codesPerToken: K, grid: side, size } = bundle.image;
    const needed = Math.max(...prompts.map((p) => p.length)) + N;
    if (needed > this.contextLength) throw new ContextLengthError(needed, this.contextLength);
    this.checkQueue(scheduler);

    const req = new GenerationRequest(request.id);
    const channel = new EventChannel<ImageEvent>(() => this.cancel(req));
    const sampling = samplingSpec(request.sampling);
    const seed = request.sampling.seed ?? randomSeed();
    const previewAt = new Set(request.previewAt.filter((p) => p >= 1 && p < N));
    const emit = this.emitter(req, channel, (e) => (e.type === 'codes' ? 1 : 0), 'image');
    let finished = 0;
    for (let i = 0; i < request.n; i++) {
      // Renders of one image go through the codec worker in order, so its previews precede its final image.
      let renders = Promise.resolve();
      const render = (job: () => Promise<ImageEvent>) => {
        renders = renders.then(async () => {
          if (!channel.open) return;
          try {
            emit(await job());
          } catch (err) {
            this.failed(req, err as Error);
          }
        });
        return renders;
      };
      new ImageSequence(req, prompts, sampling, seed + i, guidance, K, N, {
        codes: (index, codes, grid) => {
          emit({ type: 'codes', image: i, index, codes });
          if (!previewAt.has(index + 1)) return;
          const partial = fillPartialGrid(grid, K, side, index + 1);
          void render(async () => {
            const pixels = maskUnknownCells(await this.decodeGrid(partial), size, side, index + 1);
            return { type: 'preview', image: i, done: index + 1, png: await pixelsToPng(pixels, size) };
          });
        },
        finish: (grid) => {
          const final = Int32Array.from(grid);
          void render(async () => ({
            type: 'image',
            image: i,
            png: await pixelsToPng(await this.decodeGrid(final), size),
          })).then(() => {
            if (++finished === request.n) this.end(req);
          });
        },
      });
    }
    this.enqueue(req, channel, request.signal, scheduler);
    return Object.assign(channel, { prompt: { tokens: cond.length, imageTokens: 0 } });
  }

  async close(): Promise<void> {
    await this.loaded;
    const scheduler = this.scheduler;
    this.scheduler = null;
    this.status = 'failed';
    this.statusMessage = 'closed';
    for (const req of [...this.live.keys()]) this.end(req, new CancelledError('the engine was closed'));
    await scheduler?.close();
    await this.stopWorkers();
  }

  // ------------------------------------------------------------------------------------------------ helpers

  /** Readiness, cancellation and `n` checks every submit starts with. */
  private admissible(request: { n: number; signal: AbortSignal }): {
    bundle: Bundle;
    tokenizer: LlamaTokenizer;
    scheduler: Scheduler;
  } {
    const { bundle, tokenizer, scheduler } = this;
    if (this.status !== 'ready' || !bundle || !tokenizer || !scheduler) {
      const loading = this.status === 'loading';
      throw new NotReadyError(
        loading
          ? `the model is loading (${this.statusMessage})`
          : `the model is not available: ${this.statusMessage}`,
        loading ? 5 : 60,
      );
    }
    if (request.signal.aborted) throw new CancelledError();
    if (!Number.isInteger(request.n) || request.n < 1 || request.n > MAX_N) {
      throw new InvalidRequestError(
        `n must be an integer in 1..${MAX_N} for this server, got ${request.n}`,
        'n',
      );
    }
    return { bundle, tokenizer, scheduler };
  }

  /** Refuses early, before the work of encoding images, when the queue is certainly full. */
  private checkQueue(scheduler: Scheduler): void {
    if (scheduler.saturated()) throw scheduler.queueFull();
  }

  /** Input images -> codes through the codec worker; a bad image names its message and part. */
  private async encodeImages(images: PromptImage[], maxPixels: number): Promise<Int32Array[]> {
    if (images.length === 0) return [];
    const { size, visualTokens: N, codesPerToken: K } = (this.bundle as Bundle).image;
    const padColor = this.padColor;
    const limits = { maxBytes: DEFAULT_IMAGE_LIMITS.maxBytes, maxPixels };
    const pixels = await Promise.all(
      images.map(async (img) => {
        try {
          return await preprocessImage(img.data, { size, padColor, limits });
        } catch (err) {
          if (err instanceof ImageInputError)
            throw new InvalidImageError(err.message, img.messageIndex, img.partIndex);
          throw err;
        }
      }),
    );
    const batch = new Float32Array(pixels.length * 3 * size * size);
    pixels.forEach((p, i) => {
      batch.set(p, i * p.length);
    });
    const codes = await (this.codec as CodecClient).encode(batch, pixels.length);
    return images.map((_, i) => codes.slice(i * K * N, (i + 1) * K * N));
  }

  private async decodeGrid(grid: Int32Array): Promise<Float32Array> {
    return (this.codec as CodecClient).decode(grid);
  }

  /** Pushes events into a request's stream, counting generated tokens and the time to the first one. */
  private emitter<E>(
    req: GenerationRequest,
    channel: EventChannel<E>,
    tokensOf: (e: E) => number,
    modality: 'text' | 'image',
    after: (e: E) => void = () => {},
  ): (e: E) => void {
    let first = true;
    return (e) => {
      const n = tokensOf(e);
      if (n > 0) {
        this.generated[modality] += n;
        if (first) {
          first = false;
          this.ttft.count++;
          this.ttft.sumSeconds += (performance.now() - req.submittedAt) / 1000;
        }
      }
      channel.push(e);
      after(e);
    };
  }

  private enqueue<E>(
    req: GenerationRequest,
    channel: EventChannel<E>,
    signal: AbortSignal,
    scheduler: Scheduler,
  ): void {
    const onAbort = () => this.cancel(req);
    signal.addEventListener('abort', onAbort, { once: true });
    this.live.set(req, {
      channel: channel as Live['channel'],
      detach: () => signal.removeEventListener('abort', onAbort),
    });
    try {
      scheduler.submit(req);
    } catch (err) {
      this.live.get(req)?.detach();
      this.live.delete(req);
      throw err;
    }
  }

  private cancel(req: GenerationRequest): void {
    this.end(req, new CancelledError());
  }

  /** A step or a render failed under `req`. If a worker died with it, the engine can serve no more. */
  private failed(req: GenerationRequest, err: Error): void {
    this.end(req, err);
    const lost = this.runner?.lost ?? this.codec?.lost;
    if (lost && this.status === 'ready') {
      this.status = 'failed';
      this.statusMessage = lost.message;
    }
  }

  /** Ends a request's stream and forgets it; with an error, its sequences also leave the scheduler. */
  private end(req: GenerationRequest, err?: Error): void {
    const live = this.live.get(req);
    if (!live) return;
    this.live.delete(req);
    live.detach();
    if (err) {
      this.scheduler?.cancel(req);
      live.channel.fail(err);
    } else live.channel.end();
  }

  private async stopWorkers(): Promise<void> {
    const workers = [this.runner, this.codec];
    this.runner = null;
    this.codec = null;
    await Promise.all(workers.map((w) => w?.close()));
  }
}

function samplingSpec(p: SamplingParams): SamplingSpec {
  return { temperature: p.temperature, topK: p.topK, topP: p.topP };
}
