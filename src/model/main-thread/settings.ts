// A request's generation settings, settled in one place (vLLM's get_max_tokens / default_sampling_params): what
// the client sent wins, the bundle's defaults (config.json `sampling`) fill the rest, and the context limit
// bounds the length. The server passes the client's values through untouched; nothing else fills a default.
import type { Bundle } from '../bundle.ts';
import {
  ContextLengthError,
  type EngineInfo,
  type ImageSamplingRequest,
  InvalidRequestError,
  MAX_BEST_OF,
  type SamplingRequest,
} from '../engine-types.ts';
import { randomSeed, type SamplingSpec } from '../protocol/rng.ts';

type Defaults = Bundle['defaults'];

/** Settled settings of one sequence kind: the sampling steps and the seed of output 0 (output i uses seed + i). */
interface Settled {
  sampling: SamplingSpec;
  seed: number;
}

export interface ChatSettings extends Settled {
  /** Tokens each choice may generate: at least 1, and prompt + maxTokens fits the context. */
  maxTokens: number;
}

export interface ImageSettings extends Settled {
  guidanceScale: number;
  /** Candidates each image is chosen from (1: the image is its only candidate); candidate j of image i draws
   * with seed + i * bestOf + j. */
  bestOf: number;
  /**
   * Whether each image decodes a second, unconditional row for classifier-free guidance. Decided here, once;
   * the scheduler, the runner and the sampler read it from the sequence and its head.
   */
  cfg: boolean;
}

function settle(sent: SamplingRequest, defaults: SamplingSpec): Settled {
  return {
    sampling: {
      temperature: sent.temperature ?? defaults.temperature,
      topK: sent.topK ?? defaults.topK,
      topP: sent.topP ?? defaults.topP,
    },
    seed: sent.seed ?? randomSeed(),
  };
}

/** A chat's settings for a prompt of `promptTokens` in a context of `contextLength` positions. */
export function chatSettings(
  request: { sampling: SamplingRequest; maxTokens?: number | null },
  defaults: Defaults,
  limits: { promptTokens: number; contextLength: number },
): ChatSettings {
  const { promptTokens, contextLength } = limits;
  if (promptTokens >= contextLength) throw new ContextLengthError(promptTokens, contextLength);
  const asked = request.maxTokens ?? null;
  if (asked !== null && promptTokens + asked > contextLength) {
    throw new ContextLengthError(promptTokens, contextLength, asked);
  }
  const room = contextLength - promptTokens;
  return {
    ...settle(request.sampling, defaults.text),
    maxTokens: Math.min(asked ?? defaults.text.maxNewTokens, room),
  };
}

export function imageSettings(
  request: { sampling: ImageSamplingRequest; previewAt: number[] },
  defaults: Defaults,
): ImageSettings {
  const { sampling } = request;
  const guidanceScale = sampling.guidanceScale ?? defaults.image.guidanceScale;
  return {
    ...settle(sampling, defaults.image),
    guidanceScale,
    cfg: guidanceScale > 1,
    bestOf: settleBestOf(sampling.bestOf ?? null, request.previewAt.length > 0, defaults.image.bestOf),
  };
}

/** A preview shows one image as it is drawn, before any candidate can be chosen: previews draw one candidate. */
function settleBestOf(sent: number | null, previews: boolean, fallback: number): number {
  if (sent === null) return previews ? 1 : fallback;
  if (!Number.isInteger(sent) || sent < 1 || sent > MAX_BEST_OF) {
    throw new InvalidRequestError(`best_of must be an integer in 1..${MAX_BEST_OF}, got ${sent}`, 'best_of');
  }
  if (sent > 1 && previews) {
    throw new InvalidRequestError(
      `best_of ${sent} cannot be combined with previews (partial_images, preview_every): a preview shows one ` +
        'image as it is drawn, before the best of the candidates is known; ask for one or the other',
      'best_of',
    );
  }
  return sent;
}

/** The defaults as the API shows them (EngineInfo.defaults, GET /v1/models/{model}). */
export function publishedDefaults(defaults: Defaults): EngineInfo['defaults'] {
  const { text, image } = defaults;
  return {
    text: {
      temperature: text.temperature,
      topP: text.topP,
      topK: text.topK,
      seed: null,
      maxTokens: text.maxNewTokens,
    },
    image: {
      temperature: image.temperature,
      topP: image.topP,
      topK: image.topK,
      seed: null,
      guidanceScale: image.guidanceScale,
      bestOf: image.bestOf,
    },
  };
}
