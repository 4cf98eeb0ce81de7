// The understanding side of the engine: CLIP embeddings of texts and images, zero-shot classification, and images
// <-> UniTok codes. Texts are tokenised here with the tokenizer the bundle declares; images are decoded and
// resized here (sharp, off the event loop); the graphs run in the codec worker, each kind of input of concurrent
// requests coalesced into one batched run (Batcher).

import { type ClipTextTokenizer, loadClipTextTokenizer } from '../../tokenizer/clip-text-tokenizer.ts';
import { ImageInputError, type ImageLimits, pixelsToPng, preprocessImage } from '../../tokenizer/image-io.ts';
import { type ClipManifest, type UniTokConfig, UniTokTokenizer } from '../../tokenizer/unitok.ts';
import {
  CancelledError,
  type EmbeddingRequest,
  type EmbeddingResult,
  type ImageDetokenizeRequest,
  type ImageTokenizeRequest,
  InvalidRequestError,
  type UnderstandingInfo,
  type ZeroShotRequest,
  type ZeroShotResult,
} from '../engine-types.ts';
import { Batcher } from './batcher.ts';
import type { CodecClient } from './workers.ts';

/** Most inputs of one kind per graph run; a request with more spans several runs. */
export const MAX_CLIP_BATCH = 64;

export interface UnderstandingOptions {
  codec: CodecClient;
  config: UniTokConfig;
  /** unitok_config.json's "clip" section; absent in folders exported before it. */
  clip: ClipManifest | undefined;
  /** The declared text tokenizer, or why there is none. */
  text: { tokenizer: ClipTextTokenizer } | { tokenizer: null; reason: string };
  /** Input image limits (the engine's, set by the server). */
  limits: ImageLimits;
}

/** What info() reports before the model is loaded. */
export const NO_UNDERSTANDING: UnderstandingInfo = {
  embeddingDim: 0,
  textTokenizer: null,
  textUnavailable: 'the model is not loaded',
  textContextLength: 0,
  logitScale: 0,
  zeroShotTemplate: '',
  codebooks: 0,
  tokens: 0,
  grid: 0,
  codebookSize: 0,
};

interface ImageEmbedding {
  codes: Int32Array;
  embed: Float32Array;
}

export class Understanding {
  readonly info: UnderstandingInfo;
  private readonly texts: Batcher<Int32Array, Float32Array>;
  private readonly images: Batcher<Float32Array, ImageEmbedding>;
  private readonly codes: Batcher<Int32Array, Float32Array>;

  /** For a model folder: its manifest's sizes and "clip" section, and the text tokenizer it declares. */
  static load(dir: string, { codec, limits }: Pick<UnderstandingOptions, 'codec' | 'limits'>): Understanding {
    const { config, clip } = UniTokTokenizer.readManifest(dir);
    return new Understanding({ codec, limits, config, clip, text: loadClipTextTokenizer(dir, clip) });
  }

  constructor(private readonly options: UnderstandingOptions) {
    const { config, clip, text } = options;
    this.info = {
      embeddingDim: config.embed_dim,
      textTokenizer: text.tokenizer?.kind ?? null,
      ...(text.tokenizer ? {} : { textUnavailable: text.reason }),
      textContextLength: config.text_context_length,
      // Without a "clip" section no text tokenizer is declared either, so no score is ever computed with it.
      logitScale: clip?.logit_scale ?? 100,
      zeroShotTemplate: clip?.zero_shot_template ?? 'a photo of a {}.',
      codebooks: config.num_codebooks,
      tokens: config.num_tokens,
      grid: config.grid,
      codebookSize: config.codebook_size,
    };
    this.texts = new Batcher((rows) => this.runTexts(rows), MAX_CLIP_BATCH);
    this.images = new Batcher((pixels) => this.runImages(pixels), MAX_CLIP_BATCH);
    this.codes = new Batcher((grids) => this.runCodes(grids), MAX_CLIP_BATCH);
  }

  /**
   * Best-of drawing's judge for one prompt: candidate code grids [K, N] -> the cosine of each one's CLIP image
   * embedding with the prompt's text embedding (the prompt cut to the text tower's context, as open_clip's
   * tokenize cuts it, since it is a drawing prompt and not an input to refuse). The text runs once, now; a model
   * without a CLIP text tokenizer cannot judge (an InvalidRequestError naming best_of).
   */
  judge(prompt: string, signal: AbortSignal): (grids: Int32Array[]) => Promise<number[]> {
    const t = this.options.text;
    if (!t.tokenizer) {
      throw new InvalidRequestError(
        `best_of above 1 chooses among drawings with the model's CLIP text tower, which this model cannot use: ${t.reason}`,
        'best_of',
        'best_of_unsupported',
      );
    }
    const row = t.tokenizer.tokenize(prompt, this.info.textContextLength);
    const text = this.texts.submit([this.padded(row)], signal);
    text.catch(() => {}); // awaited by the judgement; a request cancelled before it never judges
    return async (grids) => {
      const [[embed], images] = await Promise.all([text, this.codes.submit(grids, signal)]);
      return images.map((image) => dot(image, embed));
    };
  }

  /** Graph runs made so far, per kind. */
  runs(): { text: number; image: number } {
    return { text: this.texts.stats.runs, image: this.images.stats.runs };
  }

  async embed(request: EmbeddingRequest): Promise<EmbeddingResult> {
    const { inputs, param, signal } = request;
    const textAt: number[] = [];
    const imageAt: number[] = [];
    const rows: Int32Array[] = [];
    let promptTokens = 0;
    inputs.forEach((input, i) => {
      if (input.type !== 'text') {
        imageAt.push(i);
        return;
      }
      const row = this.textRow(input.text, `${param}[${i}]`);
      promptTokens += row.length;
      textAt.push(i);
      rows.push(this.padded(row));
    });
    const pixels = await Promise.all(
      imageAt.map((i) => this.pixels((inputs[i] as { data: Buffer }).data, `${param}[${i}]`)),
    );
    promptTokens += pixels.length * this.info.tokens;
    const [textEmbeds, imageEmbeds] = await Promise.all([
      this.texts.submit(rows, signal),
      this.images.submit(pixels, signal),
    ]);
    const embeddings: Float32Array[] = new Array(inputs.length);
    textAt.forEach((at, k) => {
      embeddings[at] = textEmbeds[k];
    });
    imageAt.forEach((at, k) => {
      embeddings[at] = imageEmbeds[k].embed;
    });
    return { embeddings, promptTokens };
  }

  async classifyImage(request: ZeroShotRequest): Promise<ZeroShotResult> {
    const template = request.template ?? this.info.zeroShotTemplate;
    if (!template.includes('{}')) {
      throw new InvalidRequestError(
        `hypothesis_template must contain '{}' where the label goes, got ${JSON.stringify(template)}`,
        'hypothesis_template',
      );
    }
    const rows = request.labels.map((label, i) =>
      this.textRow(template.replaceAll('{}', label), `candidate_labels[${i}]`),
    );
    const pixels = await this.pixels(request.image, 'image');
    const [texts, [image]] = await Promise.all([
      this.texts.submit(
        rows.map((r) => this.padded(r)),
        request.signal,
      ),
      this.images.submit([pixels], request.signal),
    ]);
    const logits = texts.map((t) => this.info.logitScale * dot(t, image.embed));
    const top = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - top));
    const sum = exps.reduce((a, b) => a + b, 0);
    const scores = request.labels.map((label, i) => ({ label, score: exps[i] / sum }));
    scores.sort((a, b) => b.score - a.score);
    const promptTokens = rows.reduce((n, r) => n + r.length, 0) + this.info.tokens;
    return { scores, promptTokens };
  }

  async tokenizeImage(request: ImageTokenizeRequest): Promise<number[][]> {
    const pixels = await this.pixels(request.image, 'image');
    if (request.signal.aborted) throw new CancelledError();
    const codes = await this.options.codec.encode(pixels, 1);
    const { codebooks: K, tokens: N } = this.info;
    return Array.from({ length: K }, (_, k) => Array.from(codes.subarray(k * N, (k + 1) * N)));
  }

  async detokenizeImage(request: ImageDetokenizeRequest): Promise<Buffer> {
    const grid = codesGrid(request.codes, this.info);
    if (request.signal.aborted) throw new CancelledError();
    const pixels = await this.options.codec.decode(grid);
    return pixelsToPng(pixels, this.options.config.img_size);
  }

  // ---------------------------------------------------------------------------------------------- helpers

  /** The tokenizer's row for a text; over-long texts are refused rather than cut, as OpenAI's embeddings are. */
  private textRow(text: string, param: string): number[] {
    const t = this.options.text;
    if (!t.tokenizer) {
      throw new InvalidRequestError(
        `'${param}' is text, which this model cannot embed: ${t.reason}`,
        param,
        'text_input_unsupported',
      );
    }
    const row = t.tokenizer.tokenize(text, Number.MAX_SAFE_INTEGER);
    const max = this.info.textContextLength;
    if (row.length > max) {
      throw new InvalidRequestError(
        `'${param}' is ${row.length} tokens with start and end of text; this model's text tower reads at most ${max}`,
        param,
        'context_length_exceeded',
      );
    }
    return row;
  }

  private padded(row: number[]): Int32Array {
    const out = new Int32Array(this.info.textContextLength); // zero padding, as open_clip's tokenize()
    out.set(row);
    return out;
  }

  private async pixels(data: Buffer, param: string): Promise<Float32Array> {
    const { img_size: size, pad_color: padColor } = this.options.config;
    try {
      return await preprocessImage(data, { size, padColor, limits: this.options.limits });
    } catch (err) {
      if (err instanceof ImageInputError) {
        throw new InvalidRequestError(`Invalid image at '${param}': ${err.message}`, param, 'invalid_image');
      }
      throw err;
    }
  }

  private async runTexts(rows: Int32Array[]): Promise<Float32Array[]> {
    return split(await this.options.codec.embedText(stack(rows), rows.length), rows.length);
  }

  private async runCodes(grids: Int32Array[]): Promise<Float32Array[]> {
    return split(await this.options.codec.embedCodes(stack(grids), grids.length), grids.length);
  }

  private async runImages(pixels: Float32Array[]): Promise<ImageEmbedding[]> {
    const { codes, embeds } = await this.options.codec.embedImages(stack(pixels), pixels.length);
    const codeRows = split(codes, pixels.length);
    return split(embeds, pixels.length).map((embed, i) => ({ codes: codeRows[i], embed }));
  }
}

/** Codes [K][N] of integers in 0..codebookSize-1 -> one grid; every violation is an InvalidRequestError naming
 * its place (`codes`, `codes[k]`, `codes[k][n]`). */
export function codesGrid(codes: unknown, info: UnderstandingInfo): Int32Array {
  const { codebooks: K, tokens: N, codebookSize: V, grid: side } = info;
  if (!Array.isArray(codes) || codes.length !== K) {
    throw new InvalidRequestError(
      `codes must be ${K} rows (one per codebook) of ${N} codes, got ${Array.isArray(codes) ? codes.length : typeof codes} rows`,
      'codes',
      'invalid_codes_shape',
    );
  }
  const grid = new Int32Array(K * N);
  codes.forEach((row: unknown, k) => {
    if (!Array.isArray(row) || row.length !== N) {
      throw new InvalidRequestError(
        `codes[${k}] must hold ${N} codes (a ${side}x${side} grid, row-major), got ${Array.isArray(row) ? row.length : typeof row}`,
        `codes[${k}]`,
        'invalid_codes_shape',
      );
    }
    row.forEach((c: unknown, n) => {
      if (!Number.isInteger(c) || (c as number) < 0 || (c as number) >= V) {
        throw new InvalidRequestError(
          `codes[${k}][${n}] is ${JSON.stringify(c)}; codes of this model are integers in 0..${V - 1}`,
          `codes[${k}][${n}]`,
          'invalid_code',
        );
      }
      grid[k * N + n] = c as number;
    });
  });
  return grid;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Rows of one length, back to back in one array of their kind. */
function stack<T extends Float32Array | Int32Array>(rows: T[]): T {
  const per = rows[0].length;
  const out = new (rows[0].constructor as new (length: number) => T)(rows.length * per);
  rows.forEach((r, i) => {
    out.set(r, i * per);
  });
  return out;
}

/** `count` equal consecutive slices (copies, so each owns its buffer). */
function split<T extends Float32Array | Int32Array>(data: T, count: number): T[] {
  const per = data.length / count;
  return Array.from({ length: count }, (_, i) => data.slice(i * per, (i + 1) * per) as T);
}
