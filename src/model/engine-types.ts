// The one interface between the serving layer (src/server) and the inference engine (src/model).
//
// The server knows nothing of ONNX, tokenizers or pixels: it turns HTTP/WebSocket requests into the requests
// below, consumes the event streams, and maps the typed errors to HTTP statuses. The engine owns the queue,
// batching, prompt templates, tokenization, image decoding/validation, sampling, stop strings and PNG encoding.
//
// Lifecycle of a request (the same for chat and images):
//   1. `submit*()` does admission: tokenizes the prompt, decodes input images, checks the context, and enqueues.
//      It rejects with a typed error (below) *before* anything is streamed, so the server can still answer with
//      a proper HTTP status (e.g. 400 for an over-long prompt even when the client asked for a stream).
//   2. The returned stream is iterated once; it ends when every one of the `n` outputs has finished.
//   3. Cancellation is the request's AbortSignal (client disconnect, explicit cancel, server timeout): the engine
//      stops at the next step, frees its slot (or drops the request from the queue) and the iterator throws
//      CancelledError. An engine must never keep computing for an aborted request.

/** Model weights are still loading (`loading`), serving (`ready`), or failed to load (`failed`). */
export type EngineStatus = 'loading' | 'ready' | 'failed';

/** Sampling for text tokens and for each visual code. temperature 0 = greedy; topK 0 and topP 1 = disabled. */
export interface SamplingParams {
  temperature: number;
  topP: number;
  topK: number;
  /** Per-request RNG seed (best effort determinism); null = random. Output `i` of `n` uses its own stream. */
  seed: number | null;
}

/**
 * Image sampling adds classifier-free guidance: logits = uncond + (cond - uncond) * guidanceScale; 1 = off. And
 * best-of: each image is the one of `bestOf` candidates (seeds seed + i * bestOf + j) whose CLIP image embedding,
 * from its codes, is nearest the prompt's CLIP text embedding; 1 = off. Previews need one candidate, so a request
 * that asks for previews and leaves bestOf out gets 1 (setting both is an error naming best_of).
 */
export interface ImageSamplingParams extends SamplingParams {
  guidanceScale: number;
  bestOf: number;
}

/** The most candidates one image may be chosen from. */
export const MAX_BEST_OF = 16;

/**
 * Generation settings as the client sent them: a missing field (or null) takes the model's default, which the
 * engine resolves in one place (main-thread/settings.ts) against the bundle and the context length.
 */
export type SamplingRequest = Partial<{ [K in keyof SamplingParams]: SamplingParams[K] | null }>;
export type ImageSamplingRequest = Partial<{
  [K in keyof ImageSamplingParams]: ImageSamplingParams[K] | null;
}>;

export interface EngineInfo {
  /** Model id as served in `/v1/models` and echoed in responses. */
  id: string;
  /** Unix seconds the model files were created (or loaded). */
  created: number;
  ownedBy: string;
  status: EngineStatus;
  /** Human-readable detail for `loading`/`failed` (shown by /health). */
  statusMessage?: string;
  /** Maximum prompt + completion tokens per sequence. */
  contextLength: number;
  image: {
    /** The only output size the model generates (UniTok MLLM: 256x256). */
    width: number;
    height: number;
    /** Visual tokens per generated image (16x16 grid = 256), row-major. */
    visualTokens: number;
    /** Codes per visual token (8 codebooks), predicted one after another. */
    codesPerToken: number;
  };
  /** The understanding side: CLIP embeddings and image <-> codes (UnderstandingInfo). */
  understanding: UnderstandingInfo;
  /** What a request that leaves a setting out gets: the bundle's sampling defaults (config.json `sampling`). */
  defaults: { text: SamplingParams & { maxTokens: number }; image: ImageSamplingParams };
}

export interface UnderstandingInfo {
  /** Length of the CLIP embeddings (image and text share the space). */
  embeddingDim: number;
  /** The CLIP text tower's tokenizer; null = text cannot be embedded (`textUnavailable` says why). */
  textTokenizer: 'clip-bpe' | 'words' | null;
  textUnavailable?: string;
  /** Ids the text tower reads per text, start and end of text included. */
  textContextLength: number;
  /** Multiplier of the cosine similarities before the zero-shot softmax (exp of the model's logit_scale). */
  logitScale: number;
  /** Zero-shot hypothesis used when a request gives none; `{}` stands for the label. */
  zeroShotTemplate: string;
  /** Image codes: `codebooks` x `tokens` (a grid x grid raster, row-major), each in 0..codebookSize-1. */
  codebooks: number;
  tokens: number;
  grid: number;
  codebookSize: number;
}

export interface EngineStats {
  /** Admitted requests waiting for a slot. */
  waiting: number;
  /** Requests currently generating. */
  running: number;
  /** KV slots in use, and in all (optional: for the cache-usage gauge). */
  slotsUsed?: number;
  slots?: number;
}

/** A content part of a chat message. Images arrive as raw bytes (data: URL decoded or fetched by the server). */
export type ChatContentPart = { type: 'text'; text: string } | { type: 'image'; data: Buffer };

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  /** Parts keep the client's order, one engine part per client part, so error indices map back to the request. */
  content: ChatContentPart[];
}

interface RequestBase {
  /** Server-assigned id (unique among in-flight requests); for logs and tracing only. */
  id: string;
  /** Number of independent outputs (choices / images) to produce for this prompt; the engine may batch them. */
  n: number;
  /** Aborted on client disconnect, explicit cancel or timeout; `signal.reason` says why (the engine need not care). */
  signal: AbortSignal;
}

export interface ChatRequest extends RequestBase {
  messages: ChatMessage[];
  sampling: SamplingRequest;
  /**
   * Cap on generated tokens per choice; missing or null = the model's default (`defaults.text.maxTokens`), always
   * clamped to what the context leaves after the prompt.
   */
  maxTokens?: number | null;
  /** Up to 4 stop strings; generation stops before them and they are not part of the returned text. */
  stop: string[];
  /** vLLM's ignore_eos: generate past the end-of-sequence token until maxTokens or a stop string (benchmarks). */
  ignoreEos?: boolean;
}

export interface ImageRequest extends RequestBase {
  /** Caption; the engine applies the text-to-image template and the unconditional prompt for CFG. */
  prompt: string;
  sampling: ImageSamplingRequest;
  /**
   * Render a preview of the partly generated grid after this many visual tokens of each image are done.
   * Strictly increasing values in 1..visualTokens-1; [] = no previews.
   */
  previewAt: number[];
}

/** Prompt accounting, known at admission. */
export interface PromptUsage {
  /** All prompt tokens, image tokens included. */
  tokens: number;
  /** Tokens that came from input images (visual tokens). */
  imageTokens: number;
}

export type FinishReason = 'stop' | 'length';

export type ChatEvent =
  /** Decoded text for choice `index`; `tokens`: how many generated tokens this text completes. */
  | { type: 'text'; index: number; text: string; tokens: number }
  /** Choice `index` finished; no more text events for it. */
  | { type: 'finish'; index: number; reason: FinishReason; completionTokens: number };

export type ImageEvent =
  /** Visual token `index` (0-based, row-major) of image `image` was sampled: its `codesPerToken` codes. */
  | { type: 'codes'; image: number; index: number; codes: number[] }
  /** Preview PNG of image `image` after `done` visual tokens (one of `previewAt`); undecoded cells are filled. */
  | { type: 'preview'; image: number; done: number; png: Buffer }
  /** Image `image` is complete: the decoded PNG. */
  | { type: 'image'; image: number; png: Buffer };

/** An embeddings input: text (CLIP text tower) or encoded image bytes (CLIP image tower, through the codes). */
export type EmbeddingInput = { type: 'text'; text: string } | { type: 'image'; data: Buffer };

interface UnderstandingRequestBase {
  /** Server-assigned id, for logs. */
  id: string;
  /** Aborted on client disconnect or timeout; pending work for the request is dropped. */
  signal: AbortSignal;
}

/** Errors name the API field of the input they concern: `${param}[i]` for input i (e.g. 'input[3]'). */
export interface EmbeddingRequest extends UnderstandingRequestBase {
  inputs: EmbeddingInput[];
  param: string;
}

export interface EmbeddingResult {
  /** One L2-normalised vector per input, in input order. */
  embeddings: Float32Array[];
  /** Text ids (start and end of text included) plus visual tokens of the images. */
  promptTokens: number;
}

export interface ZeroShotRequest extends UnderstandingRequestBase {
  image: Buffer;
  labels: string[];
  /** Hypothesis with `{}` for the label; null = the model's zeroShotTemplate. */
  template: string | null;
}

export interface ZeroShotResult {
  /** Softmax over the labels of logitScale x cosine similarity, highest first. */
  scores: { label: string; score: number }[];
  promptTokens: number;
}

export interface ImageTokenizeRequest extends UnderstandingRequestBase {
  image: Buffer;
}

export interface ImageDetokenizeRequest extends UnderstandingRequestBase {
  /** [codebooks][tokens], as tokenizeImage returns them. */
  codes: number[][];
}

/** A submitted request: iterate once for its events; throws an EngineError (CancelledError on abort). */
export interface EngineStream<E> extends AsyncIterable<E> {
  readonly prompt: PromptUsage;
  /** Optional: resolves when the request leaves the queue for its KV slot(s) (queue-time metrics). */
  readonly scheduled?: Promise<void>;
}

export interface Engine {
  info(): EngineInfo;
  stats(): EngineStats;
  submitChat(request: ChatRequest): Promise<EngineStream<ChatEvent>>;
  submitImage(request: ImageRequest): Promise<EngineStream<ImageEvent>>;
  /** CLIP embeddings of texts and images, each kind in one batched graph run. */
  embed(request: EmbeddingRequest): Promise<EmbeddingResult>;
  /** Zero-shot classification of one image against text labels (CLIP). */
  classifyImage(request: ZeroShotRequest): Promise<ZeroShotResult>;
  /** An image -> its UniTok codes [codebooks][tokens]. */
  tokenizeImage(request: ImageTokenizeRequest): Promise<number[][]>;
  /** Codes [codebooks][tokens] -> a PNG; bad shapes or values are an InvalidRequestError naming `codes`. */
  detokenizeImage(request: ImageDetokenizeRequest): Promise<Buffer>;
  /** Release sessions; in-flight streams throw CancelledError. */
  close(): Promise<void>;
  /**
   * Optional liveness check: a round trip through every worker thread. Rejects when one is gone or does not
   * answer within `timeoutMs` (the engine can then serve nothing more); resolves while loading too.
   */
  ping?(timeoutMs: number): Promise<void>;
}

/** What the CLI passes to the engine module's `createEngine` (src/model/main-thread/engine.ts). */
export interface EngineOptions {
  /** Model directory (ONNX graphs, tokenizer, config). */
  model: string;
  device: 'cpu' | 'webgpu' | 'cuda';
  /** Waiting work beyond which submit rejects with QueueFullError, in requests that fill the context (admission.ts). */
  maxQueue: number;
  /** Sequences decoded together (slots), over all runners. */
  maxBatch: number;
  /**
   * Model runners (worker threads, each with its own copy of the weights and its share of the slots), stepping
   * their batches at the same time. Default: one per 4 slots, at most one per core, when the model's graphs are
   * small enough to run on one thread each (CPU); otherwise one.
   */
  runners?: number;
  /** Limits every input image is checked against while decoding (InvalidImageError); default DEFAULT_IMAGE_LIMITS. */
  imageLimits?: { maxBytes: number; maxPixels: number };
}

/**
 * The engine module exports `createEngine: EngineFactory`. It resolves quickly with an engine in `loading`
 * status (so /health can answer 503 while weights load); submits reject with NotReadyError until `ready`.
 */
export type EngineFactory = (options: EngineOptions) => Promise<Engine>;

// ---- Typed errors. The server maps each class to an HTTP status; anything else becomes a 500. ----

export class EngineError extends Error {
  override name = 'EngineError';
}

/** The queue is full: HTTP 429 with Retry-After. */
export class QueueFullError extends EngineError {
  override name = 'QueueFullError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** Weights are loading (or failed): HTTP 503 with Retry-After. */
export class NotReadyError extends EngineError {
  override name = 'NotReadyError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** The prompt (plus requested completion) does not fit the context: HTTP 400 exceed_context_size_error. */
export class ContextLengthError extends EngineError {
  override name = 'ContextLengthError';
  constructor(
    readonly promptTokens: number,
    readonly contextLength: number,
    /** Set when the prompt fits and the requested completion (max_tokens) is what does not. */
    readonly maxTokens: number | null = null,
  ) {
    super(
      maxTokens === null
        ? `request (${promptTokens} tokens) exceeds the available context size (${contextLength} tokens); shorten the messages or send fewer images`
        : `the prompt (${promptTokens} tokens) plus max_tokens (${maxTokens}) exceeds the context size (${contextLength} tokens); lower max_tokens to at most ${contextLength - promptTokens}`,
    );
  }
}

/** An input image cannot be decoded or breaks a limit: HTTP 400 naming messages[message].content[part]. */
export class InvalidImageError extends EngineError {
  override name = 'InvalidImageError';
  constructor(
    message: string,
    /** Indices into ChatRequest.messages and that message's content. */
    readonly messageIndex: number,
    readonly partIndex: number,
  ) {
    super(message);
  }
}

/** A parameter the engine cannot honour (e.g. n above its batch limit): HTTP 400 naming `param`. */
export class InvalidRequestError extends EngineError {
  override name = 'InvalidRequestError';
  constructor(
    message: string,
    /** Request field in the API's snake_case, e.g. 'n'. */
    readonly param: string | null,
    /** Machine-readable error code for the envelope; default 'invalid_value'. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Thrown by a stream (or submit) whose signal was aborted. */
export class CancelledError extends EngineError {
  override name = 'CancelledError';
  constructor(message = 'request cancelled') {
    super(message);
  }
}
