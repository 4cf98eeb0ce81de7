// TEST DOUBLE. A deterministic Engine (src/model/engine-types.ts) for the server tests; it runs no model.
//
// Chat: prompt tokens = words of every text part + 1 per message + `imageTokens` per image; the reply is
// "You said: <last user text>", one token per word, cut by `stop` and `maxTokens`.
// Images: `visualTokens` visual tokens of `codesPerToken` codes derived from the seed; previews and final images
// are real PNGs whose colour encodes (image, done).
// Knobs let tests force each typed error, slow generation down, and observe aborts.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CancelledError,
  type ChatEvent,
  type ChatRequest,
  ContextLengthError,
  type EmbeddingRequest,
  type EmbeddingResult,
  type Engine,
  type EngineInfo,
  type EngineStats,
  type EngineStatus,
  type EngineStream,
  type ImageDetokenizeRequest,
  type ImageEvent,
  type ImageRequest,
  type ImageTokenizeRequest,
  InvalidImageError,
  InvalidRequestError,
  NotReadyError,
  QueueFullError,
  type ZeroShotRequest,
  type ZeroShotResult,
} from '../../src/model/engine-types.ts';
import { DEFAULT_IMAGE_LIMITS } from '../../src/tokenizer/image-io.ts';
import { FakeUnderstanding, type FakeUnderstandingOptions } from './fake-understanding.ts';
import { pngSize, solidPng } from './png.ts';

export interface FakeEngineOptions {
  status?: EngineStatus;
  contextLength?: number;
  visualTokens?: number;
  codesPerToken?: number;
  imageSize?: number;
  imageTokens?: number;
  /** Delay before each generated token / visual token. */
  tokenDelayMs?: number;
  /** Largest n accepted (InvalidRequestError above it). */
  maxN?: number;
  /** Throw a plain Error after this many generated tokens (an engine bug, for mid-stream error handling). */
  failAfterTokens?: number;
  /** Pixels per input image (EngineOptions.imageLimits.maxPixels; the server passes its --max-image-pixels). */
  maxImagePixels?: number;
  /** The understanding side (embeddings, zero-shot, image codes): see fake-understanding.ts. */
  understanding?: FakeUnderstandingOptions;
}

export class FakeEngine implements Engine {
  readonly options: Required<Omit<FakeEngineOptions, 'failAfterTokens' | 'understanding'>> & {
    failAfterTokens?: number;
  };
  readonly understanding: FakeUnderstanding;
  status: EngineStatus;
  /** When set, submits reject with QueueFullError (Retry-After = this many seconds). */
  queueFullRetryAfter: number | null = null;
  readonly chatRequests: ChatRequest[] = [];
  readonly imageRequests: ImageRequest[] = [];
  /** Request id -> abort reason, recorded the moment a request's signal fires. */
  readonly aborted = new Map<string, unknown>();
  private running = 0;

  constructor(options: FakeEngineOptions = {}) {
    this.options = {
      status: 'ready',
      contextLength: 64,
      visualTokens: 16,
      codesPerToken: 8,
      imageSize: 256,
      imageTokens: 16,
      tokenDelayMs: 0,
      maxN: 4,
      maxImagePixels: DEFAULT_IMAGE_LIMITS.maxPixels,
      ...options,
    };
    this.status = this.options.status;
    this.understanding = new FakeUnderstanding({
      maxImagePixels: this.options.maxImagePixels,
      ...options.understanding,
    });
  }

  info(): EngineInfo {
    const o = this.options;
    return {
      id: 'unitok-fake',
      created: 1_700_000_000,
      ownedBy: 'unitok-tests',
      status: this.status,
      statusMessage: this.status === 'loading' ? 'reading fake weights' : undefined,
      contextLength: o.contextLength,
      understanding: this.understanding.info,
      image: {
        width: o.imageSize,
        height: o.imageSize,
        visualTokens: o.visualTokens,
        codesPerToken: o.codesPerToken,
      },
      defaults: {
        text: { temperature: 1, topP: 1, topK: 0, seed: null, maxTokens: 64 },
        image: { temperature: 1, topP: 1, topK: 0, seed: null, guidanceScale: 7, bestOf: 1 },
      },
    };
  }

  stats(): EngineStats {
    return { waiting: 0, running: this.running, slotsUsed: this.running, slots: 8 };
  }

  async close(): Promise<void> {}

  /** When set, ping() rejects with it (a dead worker thread). */
  pingError: Error | null = null;

  async ping(): Promise<void> {
    if (this.pingError) throw this.pingError;
  }

  private admitCommon(req: ChatRequest | ImageRequest): void {
    if (this.status !== 'ready') throw new NotReadyError('model is loading', 3);
    if (this.queueFullRetryAfter !== null)
      throw new QueueFullError('the request queue is full', this.queueFullRetryAfter);
    if (req.n > this.options.maxN)
      throw new InvalidRequestError(`n must be at most ${this.options.maxN} for this engine`, 'n');
    req.signal.addEventListener('abort', () => this.aborted.set(req.id, req.signal.reason), { once: true });
  }

  async submitChat(req: ChatRequest): Promise<EngineStream<ChatEvent>> {
    this.chatRequests.push(req);
    this.admitCommon(req);
    let tokens = 0;
    let imageTokens = 0;
    req.messages.forEach((m, mi) => {
      tokens += 1;
      m.content.forEach((part, pi) => {
        if (part.type === 'text') {
          tokens += part.text.split(/\s+/).filter(Boolean).length;
          return;
        }
        const size = pngSize(part.data);
        if (!size) throw new InvalidImageError('not a PNG image (corrupt or unsupported format)', mi, pi);
        if (size.width * size.height > this.options.maxImagePixels) {
          throw new InvalidImageError(
            `${size.width}x${size.height} exceeds the limit of ${this.options.maxImagePixels} pixels`,
            mi,
            pi,
          );
        }
        imageTokens += this.options.imageTokens;
      });
    });
    tokens += imageTokens;
    const C = this.options.contextLength;
    if (tokens >= C) throw new ContextLengthError(tokens, C);
    if (req.maxTokens != null && tokens + req.maxTokens > C)
      throw new ContextLengthError(tokens, C, req.maxTokens);

    const lastUser = req.messages.findLast((m) => m.role === 'user');
    const said = (lastUser?.content ?? []).map((p) => (p.type === 'text' ? p.text : '[image]')).join(' ');
    let text = `You said: ${said}`;
    let reason: 'stop' | 'length' = 'stop';
    for (const s of req.stop) {
      const at = text.indexOf(s);
      if (at >= 0) text = text.slice(0, at);
    }
    let pieces = text.split(/(?=\s)/).filter(Boolean);
    if (req.maxTokens != null && pieces.length > req.maxTokens) {
      pieces = pieces.slice(0, req.maxTokens);
      reason = 'length';
    }
    const self = this;
    async function* events(): AsyncGenerator<ChatEvent> {
      self.running++;
      try {
        for (let index = 0; index < req.n; index++) {
          for (const piece of pieces) {
            await self.step(req.signal);
            yield { type: 'text', index, text: piece, tokens: 1 };
          }
          yield { type: 'finish', index, reason, completionTokens: pieces.length };
        }
      } finally {
        self.running--;
      }
    }
    return Object.assign(events(), { prompt: { tokens, imageTokens } });
  }

  async submitImage(req: ImageRequest): Promise<EngineStream<ImageEvent>> {
    this.imageRequests.push(req);
    this.admitCommon(req);
    const { visualTokens, codesPerToken, imageSize } = this.options;
    const seed = req.sampling.seed ?? 0;
    const self = this;
    async function* events(): AsyncGenerator<ImageEvent> {
      self.running++;
      try {
        for (let image = 0; image < req.n; image++) {
          for (let index = 0; index < visualTokens; index++) {
            await self.step(req.signal);
            const codes = Array.from(
              { length: codesPerToken },
              (_, k) => (seed + image * 1000 + index * codesPerToken + k) % 4096,
            );
            yield { type: 'codes', image, index, codes };
            if (req.previewAt.includes(index + 1)) {
              yield { type: 'preview', image, done: index + 1, png: solidPng(4, 4, [image, index + 1, 0]) };
            }
          }
          yield {
            type: 'image',
            image,
            png: solidPng(imageSize / 64, imageSize / 64, [image, visualTokens, 255]),
          };
        }
      } finally {
        self.running--;
      }
    }
    return Object.assign(events(), {
      prompt: { tokens: req.prompt.split(/\s+/).length + 8, imageTokens: 0 },
      // Images are "placed" at once; chats leave it out (both shapes of EngineStream are exercised).
      scheduled: Promise.resolve(),
    });
  }

  embed(req: EmbeddingRequest): Promise<EmbeddingResult> {
    this.admitUnderstanding(req);
    return this.understanding.embed(req);
  }

  classifyImage(req: ZeroShotRequest): Promise<ZeroShotResult> {
    this.admitUnderstanding(req);
    return this.understanding.classifyImage(req);
  }

  tokenizeImage(req: ImageTokenizeRequest): Promise<number[][]> {
    this.admitUnderstanding(req);
    return this.understanding.tokenizeImage(req);
  }

  detokenizeImage(req: ImageDetokenizeRequest): Promise<Buffer> {
    this.admitUnderstanding(req);
    return this.understanding.detokenizeImage(req);
  }

  private admitUnderstanding(req: { id: string; signal: AbortSignal }): void {
    if (this.status !== 'ready') throw new NotReadyError('model is loading', 3);
    req.signal.addEventListener('abort', () => this.aborted.set(req.id, req.signal.reason), { once: true });
  }

  private tokensGenerated = 0;

  /** One generation step: honours the delay, the abort signal and the injected failure. */
  private async step(signal: AbortSignal): Promise<void> {
    if (this.options.tokenDelayMs > 0) {
      try {
        await sleep(this.options.tokenDelayMs, undefined, { signal });
      } catch {
        throw new CancelledError();
      }
    }
    if (signal.aborted) throw new CancelledError();
    this.tokensGenerated++;
    if (this.options.failAfterTokens !== undefined && this.tokensGenerated > this.options.failAfterTokens) {
      throw new Error('fake engine failure');
    }
  }
}
