// The engine behind src/model/engine-types.ts: admission, outputs, and the threads that do the work.
//
//   main-thread/    Engine (this file): templates, tokenization, image checks, the request's settings
//                   (settings.ts), event streams (chat-output.ts, image-output.ts), and one Scheduler
//                   (scheduler.ts: queue, KV slots, continuous batching) per model runner, behind DataParallel
//                   (data-parallel.ts), which packs the sequences onto them. Never runs a model.
//   worker-thread/  model runners (runner-worker.ts -> model-runner.ts, kv-cache.ts), one or more
//                   (EngineOptions.runners): the MLLM graphs and a KV cache each; one message per step
//                   (protocol/steps.ts).
//   worker-thread/  image codec (codec-worker.ts): the UniTok tokenizer graphs, encoding input images and
//                   rendering outputs and previews, so a render never delays the other requests' steps; and the
//                   CLIP graphs behind embeddings and zero-shot classification (understanding.ts).
import { availableParallelism } from 'node:os';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits } from '../../tokenizer/image-io.ts';
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
  InvalidRequestError,
  NotReadyError,
} from '../engine-types.ts';
import { defaultThreads } from '../threads.ts';
import { BestOfImage } from './best-of.ts';
import { EventChannel } from './channel.ts';
import { ChoiceText } from './chat-output.ts';
import { DataParallel } from './data-parallel.ts';
import { ImageChoice } from './image-output.ts';
import { encodeImages } from './input-images.ts';
import { LiveRequests } from './live-requests.ts';
import { renderChat, textToImageIds, withImages } from './prompts.ts';
import { CFG_ROWS, GenerationRequest, ImageSequence, TextSequence } from './request.ts';
import { Scheduler, type SchedulerStats } from './scheduler.ts';
import { chatSettings, imageSettings, publishedDefaults } from './settings.ts';
import { LlamaTokenizer } from './text-tokenizer.ts';
import { NO_UNDERSTANDING, Understanding } from './understanding.ts';
import { CodecClient, pingWorkers, RunnerClient } from './workers.ts';

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
  /** Most decode steps per runner call (SchedulerOptions.multiStep); 1 = one round trip per step. */
  multiStep?: number;
  /** The model runner's worker entry (default worker-thread/runner-worker.ts): tests swap in a test double. */
  runnerWorker?: URL;
}

/** Engine.stats() plus what a scheduler and a bench want to see. */
export interface UniTokEngineStats extends EngineStats, Partial<Omit<SchedulerStats, 'waiting' | 'running'>> {
  /** CLIP graph runs made for embeddings and zero-shot, per kind of input. */
  clipRuns?: { text: number; image: number };
}

/** The engine, resolved at once in `loading` status; `engine.loaded` settles when loading ends. */
export async function startEngine(options: EngineOptions & EngineTuning): Promise<UniTokEngine> {
  return UniTokEngine.start(options);
}

export const createEngine: EngineFactory = startEngine;

/** Everything a loaded model is made of; the engine holds one once loading succeeded. */
interface LoadedModel {
  bundle: Bundle;
  tokenizer: LlamaTokenizer;
  /** One per data-parallel rank (EngineOptions.runners), each behind its own scheduler. */
  runners: RunnerClient[];
  codec: CodecClient;
  scheduler: DataParallel;
  /** The longest sequence served: the KV slots' size. */
  contextLength: number;
  /** expand2square's fill colour for input images (the tokenizer config's pad_color). */
  padColor: [number, number, number];
  /** Embeddings, zero-shot classification, image <-> codes. */
  understanding: Understanding;
}

export class UniTokEngine implements Engine {
  private status: EngineStatus = 'loading';
  private statusMessage: string | undefined = 'starting';
  /** The bundle's config, read first (info() shows it while the graphs load). */
  private bundle: Bundle | null = null;
  private model: LoadedModel | null = null;
  private readonly imageLimits: ImageLimits;
  private readonly live = new LiveRequests((req) => this.model?.scheduler.cancel(req));
  /** Settles when loading ends (ready or failed). */
  readonly loaded: Promise<void>;

  private constructor(private readonly options: EngineOptions & EngineTuning) {
    this.imageLimits = options.imageLimits ?? DEFAULT_IMAGE_LIMITS;
    this.loaded = this.load();
  }

  static start(options: EngineOptions & EngineTuning): UniTokEngine {
    return new UniTokEngine(options);
  }

  private async load(): Promise<void> {
    const { model: dir, device } = this.options;
    const runners: RunnerClient[] = [];
    let codec: CodecClient | null = null;
    try {
      const bundle = readBundle(dir);
      this.bundle = bundle;
      this.statusMessage = `loading ${bundle.name} on ${device}`;
      const tokenizer = LlamaTokenizer.load(dir);
      const padColor = UniTokTokenizer.readManifest(dir).config.pad_color;
      // Data-parallel ranks (data-parallel.ts), sharing --max-batch.
      const count =
        this.options.runners ??
        runnerCount(this.options.maxBatch, this.options.threads ?? defaultThreads(bundle.graphs.llm, device));
      const slots = Math.max(Math.ceil(this.options.maxBatch / count), CFG_ROWS);
      const startRunner = () =>
        RunnerClient.start(
          {
            bundleDir: dir,
            device,
            slots,
            runners: count,
            intraOpThreads: this.options.threads,
            contextLength: this.options.contextLength,
          },
          this.options.runnerWorker,
        ).then((r) => {
          runners.push(r);
          return r;
        });
      // Started together: a missing device or a broken graph fails each the same way, and the first error is shown.
      const started = await Promise.allSettled([
        ...Array.from({ length: count }, startRunner),
        CodecClient.start(dir, device),
      ]);
      const last = started[started.length - 1];
      if (last.status === 'fulfilled') codec = last.value as CodecClient;
      const failure = started.find((s) => s.status === 'rejected');
      if (failure) throw failure.reason;
      if (!codec) throw new Error('unreachable: every worker started');
      const info = runners[0].info;
      if (info.vocabSize !== tokenizer.vocabSize) {
        throw new Error(
          `the graphs have ${info.vocabSize} text tokens, the tokenizer ${tokenizer.vocabSize}`,
        );
      }
      const ranks = runners.map(
        (runner) =>
          new Scheduler(runner, {
            slots,
            maxQueue: Math.ceil(this.options.maxQueue / count),
            requestWork: info.contextLength,
            onFailure: (request, err) => this.failed(request, err),
            multiStep: this.options.multiStep ?? MULTI_STEP,
          }),
      );
      this.model = {
        bundle,
        tokenizer,
        runners,
        codec,
        scheduler: new DataParallel(ranks),
        contextLength: info.contextLength,
        padColor,
        understanding: Understanding.load(dir, { codec, limits: this.imageLimits }),
      };
      this.status = 'ready';
      this.statusMessage = undefined;
    } catch (err) {
      this.status = 'failed';
      this.statusMessage = (err as Error).message;
      await Promise.all([...runners.map((r) => r.close()), codec?.close()]);
    }
  }

  info(): EngineInfo {
    const b = this.bundle;
    const defaults = b ? publishedDefaults(b.defaults) : NO_DEFAULTS;
    return {
      id: b?.name ?? this.options.model,
      created: b?.created ?? 0,
      ownedBy: 'unitok-server',
      status: this.status,
      ...(this.statusMessage ? { statusMessage: this.statusMessage } : {}),
      contextLength: this.model?.contextLength ?? b?.contextLength ?? 0,
      understanding: this.model?.understanding.info ?? NO_UNDERSTANDING,
      image: {
        width: b?.image.size ?? 0,
        height: b?.image.size ?? 0,
        visualTokens: b?.image.visualTokens ?? 0,
        codesPerToken: b?.image.codesPerToken ?? 0,
      },
      defaults,
    };
  }

  /** Model runners (data-parallel ranks) and the KV slots of each, once loaded. */
  get layout(): { runners: number; slotsPerRunner: number } | null {
    const m = this.model;
    return m
      ? { runners: m.runners.length, slotsPerRunner: m.scheduler.stats().slots / m.runners.length }
      : null;
  }

  stats(): UniTokEngineStats {
    const s = this.model?.scheduler.stats();
    const clipRuns = this.model?.understanding.runs();
    return {
      waiting: 0,
      running: 0,
      ...s,
      clipRuns,
    };
  }

  async submitChat(request: ChatRequest): Promise<EngineStream<ChatEvent>> {
    const model = this.readyFor(request);
    const { bundle, tokenizer, scheduler } = model;
    const rendered = renderChat(bundle.chat, request.messages);
    const parts = tokenizer.encodePrompt(rendered.text);
    const imageTokens = rendered.images.length * bundle.image.visualTokens;
    const textTokens = parts.reduce((n, s) => n + (s.type === 'text' ? s.ids.length : 0), 0);
    const promptTokens = textTokens + imageTokens;
    const settings = chatSettings(request, bundle.defaults, {
      promptTokens,
      contextLength: model.contextLength,
    });
    if (scheduler.saturated()) throw scheduler.queueFull(); // before the work of encoding images
    const { padColor, codec } = model;
    const codes = await encodeImages(rendered.images, {
      image: bundle.image,
      padColor,
      limits: this.imageLimits,
      codec,
    });
    if (request.signal.aborted) throw new CancelledError();
    const prompt = withImages(parts, codes);

    const req = new GenerationRequest(request.id);
    const channel = new EventChannel<ChatEvent>(() => this.cancel(req));
    let finished = 0;
    const emit = (e: ChatEvent) => {
      channel.push(e);
      if (e.type === 'finish' && ++finished === request.n) this.live.end(req);
    };
    for (let i = 0; i < request.n; i++) {
      const decoder = tokenizer.decodeStream({ skipSpecialTokens: true });
      new TextSequence({
        request: req,
        prompt,
        promptLength: promptTokens,
        sampling: settings.sampling,
        seed: settings.seed + i,
        eos: request.ignoreEos ? null : bundle.special.eos,
        maxTokens: settings.maxTokens,
        output: new ChoiceText(i, decoder, request.stop, emit),
      });
    }
    this.live.add(req, channel, request.signal, () => scheduler.submit(req));
    return Object.assign(channel, { prompt: { tokens: promptTokens, imageTokens } });
  }

  async submitImage(request: ImageRequest): Promise<EngineStream<ImageEvent>> {
    const model = this.readyFor(request);
    const { bundle, tokenizer, scheduler, codec } = model;
    const settings = imageSettings(request, bundle.defaults);
    const prompts = textToImageIds(tokenizer, bundle.textToImage, request.prompt);
    const { visualTokens: N, codesPerToken: K } = bundle.image;
    const promptLength = settings.cfg
      ? Math.max(prompts.cond.length, prompts.uncond.length)
      : prompts.cond.length;
    if (promptLength + N > model.contextLength)
      throw new ContextLengthError(promptLength + N, model.contextLength);
    if (scheduler.saturated()) throw scheduler.queueFull();
    const { bestOf } = settings;
    const judge = bestOf > 1 ? model.understanding.judge(request.prompt, request.signal) : null;

    const req = new GenerationRequest(request.id);
    const channel = new EventChannel<ImageEvent>(() => this.cancel(req));
    const previewAt = new Set(request.previewAt.filter((p) => p >= 1 && p < N));
    const emit = (e: ImageEvent) => channel.push(e);
    const fail = (err: Error) => this.failed(req, err);
    let finished = 0;
    for (let i = 0; i < request.n; i++) {
      const output = new ImageChoice({
        index: i,
        image: bundle.image,
        previewAt,
        decode: (grid) => codec.decode(grid),
        emit,
        open: () => channel.open,
        fail,
        finished: () => {
          if (++finished === request.n) this.live.end(req);
        },
      });
      const best = judge
        ? new BestOfImage({ candidates: bestOf, judge, output, codesPerToken: K, visualTokens: N, fail })
        : null;
      for (let j = 0; j < bestOf; j++) {
        new ImageSequence({
          request: req,
          prompts,
          sampling: settings.sampling,
          seed: settings.seed + i * bestOf + j,
          guidanceScale: settings.guidanceScale,
          cfg: settings.cfg,
          codesPerToken: K,
          visualTokens: N,
          output: best ? best.candidate(j) : output,
        });
      }
    }
    this.live.add(req, channel, request.signal, () => scheduler.submit(req));
    return Object.assign(channel, { prompt: { tokens: prompts.cond.length, imageTokens: 0 } });
  }

  ping(timeoutMs: number): Promise<void> {
    return pingWorkers(this.model, timeoutMs);
  }

  async close(): Promise<void> {
    await this.loaded;
    const model = this.model;
    this.model = null;
    this.status = 'failed';
    this.statusMessage = 'closed';
    this.live.endAll(new CancelledError('the engine was closed'));
    await model?.scheduler.close();
    await Promise.all([...(model?.runners ?? []).map((r) => r.close()), model?.codec.close()]);
  }

  // The understanding side (understanding.ts), once the model is ready.
  embed: Engine['embed'] = async (r) => this.understand(r).embed(r);
  classifyImage: Engine['classifyImage'] = async (r) => this.understand(r).classifyImage(r);
  tokenizeImage: Engine['tokenizeImage'] = async (r) => this.understand(r).tokenizeImage(r);
  detokenizeImage: Engine['detokenizeImage'] = async (r) => this.understand(r).detokenizeImage(r);
  private understand = (r: { signal: AbortSignal }) =>
    this.readyFor({ n: 1, signal: r.signal }).understanding;

  // ------------------------------------------------------------------------------------------------ helpers

  /** Readiness, cancellation and `n` checks every submit starts with; the loaded model to serve it. */
  private readyFor(request: { n: number; signal: AbortSignal }): LoadedModel {
    const model = this.model;
    if (this.status !== 'ready' || !model) {
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
    return model;
  }

  private cancel(req: GenerationRequest): void {
    this.live.end(req, new CancelledError());
  }

  /** A step or a render failed under `req`. If a worker died with it, the engine can serve no more. */
  private failed(req: GenerationRequest, err: Error): void {
    this.live.end(req, err);
    const lost = this.model?.runners.find((r) => r.lost)?.lost ?? this.model?.codec.lost;
    if (lost && this.status === 'ready') [this.status, this.statusMessage] = ['failed', lost.message];
  }
}

/**
 * How many runners when the operator did not say: one per 4 slots, at most one per core, when the llm runs on one
 * intra-op thread (a small graph on the CPU: threads.ts). One that spreads each op over every core, or a GPU
 * (threads undefined), gains nothing from a second copy of the weights.
 */
export function runnerCount(maxBatch: number, llmThreads: number | undefined): number {
  if (llmThreads !== 1) return 1;
  return Math.max(1, Math.min(Math.floor(maxBatch / 4), availableParallelism()));
}

/** info().defaults before a bundle could be read. */
const NO_DEFAULTS: EngineInfo['defaults'] = {
  text: { temperature: 0, topP: 1, topK: 0, seed: null, maxTokens: 0 },
  image: { temperature: 1, topP: 1, topK: 0, seed: null, guidanceScale: 1, bestOf: 1 },
};
