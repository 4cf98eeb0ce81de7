// TEST DOUBLE for the understanding side of the Engine (embeddings, zero-shot, image <-> codes); it runs no model.
//
// Embeddings are unit vectors of `dim` numbers derived from the text (its characters) or the image (its PNG
// size); a text costs its word count + 2 tokens (start and end of text), an image `tokens`. Zero-shot scores are a
// softmax over the labels' lengths. Codes are [codebooks][tokens] derived from the PNG size; detokenize validates
// the codes as the engine does (codesGrid) and returns a PNG whose colour encodes the first code.
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
} from '../../src/model/engine-types.ts';
import { codesGrid } from '../../src/model/main-thread/understanding.ts';
import { pngSize, solidPng } from './png.ts';

export interface FakeUnderstandingOptions {
  /** null = a bundle without a CLIP text tokenizer. */
  textTokenizer?: 'clip-bpe' | 'words' | null;
  dim?: number;
  /** Pixels per input image (the engine's limit). */
  maxImagePixels?: number;
}

export class FakeUnderstanding {
  readonly info: UnderstandingInfo;
  readonly embedRequests: EmbeddingRequest[] = [];
  readonly zeroShotRequests: ZeroShotRequest[] = [];

  private readonly maxPixels: number;

  constructor(options: FakeUnderstandingOptions = {}) {
    this.maxPixels = options.maxImagePixels ?? Number.POSITIVE_INFINITY;
    const textTokenizer = options.textTokenizer === undefined ? 'clip-bpe' : options.textTokenizer;
    this.info = {
      embeddingDim: options.dim ?? 8,
      textTokenizer,
      ...(textTokenizer ? {} : { textUnavailable: 'the fake model has no CLIP text tokenizer' }),
      textContextLength: 16,
      logitScale: 100,
      zeroShotTemplate: 'a photo of a {}.',
      codebooks: 2,
      tokens: 4,
      grid: 2,
      codebookSize: 64,
    };
  }

  private unit(seed: number[]): Float32Array {
    const v = Float32Array.from({ length: this.info.embeddingDim }, (_, j) =>
      seed.reduce((a, c, i) => a + ((c * (i + 1) * (j + 3)) % 101), 1),
    );
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  }

  private text(text: string, param: string): { vector: Float32Array; tokens: number } {
    if (!this.info.textTokenizer) {
      throw new InvalidRequestError(
        `'${param}' is text: ${this.info.textUnavailable}`,
        param,
        'text_input_unsupported',
      );
    }
    const tokens = text.split(/\s+/).filter(Boolean).length + 2;
    if (tokens > this.info.textContextLength) {
      throw new InvalidRequestError(`'${param}' is ${tokens} tokens`, param, 'context_length_exceeded');
    }
    return { vector: this.unit(Array.from(text, (c) => c.codePointAt(0) as number)), tokens };
  }

  private image(data: Buffer, param: string): { width: number; height: number } {
    const size = pngSize(data);
    if (!size)
      throw new InvalidRequestError(`Invalid image at '${param}': not a PNG`, param, 'invalid_image');
    if (size.width * size.height > this.maxPixels) {
      throw new InvalidRequestError(`Invalid image at '${param}': too many pixels`, param, 'invalid_image');
    }
    return size;
  }

  async embed(req: EmbeddingRequest): Promise<EmbeddingResult> {
    this.embedRequests.push(req);
    let promptTokens = 0;
    const embeddings = req.inputs.map((input, i) => {
      const param = `${req.param}[${i}]`;
      if (input.type === 'text') {
        const t = this.text(input.text, param);
        promptTokens += t.tokens;
        return t.vector;
      }
      const size = this.image(input.data, param);
      promptTokens += this.info.tokens;
      return this.unit([size.width, size.height, 7]);
    });
    if (req.signal.aborted) throw new CancelledError();
    return { embeddings, promptTokens };
  }

  async classifyImage(req: ZeroShotRequest): Promise<ZeroShotResult> {
    this.zeroShotRequests.push(req);
    const template = req.template ?? this.info.zeroShotTemplate;
    if (!template.includes('{}'))
      throw new InvalidRequestError('no {} in the template', 'hypothesis_template');
    let promptTokens = this.info.tokens;
    req.labels.forEach((label, i) => {
      promptTokens += this.text(template.replace('{}', label), `candidate_labels[${i}]`).tokens;
    });
    this.image(req.image, 'image');
    const exps = req.labels.map((l) => Math.exp(l.length));
    const sum = exps.reduce((a, b) => a + b, 0);
    const scores = req.labels.map((label, i) => ({ label, score: exps[i] / sum }));
    return { scores: scores.sort((a, b) => b.score - a.score), promptTokens };
  }

  async tokenizeImage(req: ImageTokenizeRequest): Promise<number[][]> {
    const { width } = this.image(req.image, 'image');
    const { codebooks, tokens, codebookSize } = this.info;
    return Array.from({ length: codebooks }, (_, k) =>
      Array.from({ length: tokens }, (_, n) => (k * 31 + n * 7 + width) % codebookSize),
    );
  }

  async detokenizeImage(req: ImageDetokenizeRequest): Promise<Buffer> {
    const grid = codesGrid(req.codes, this.info);
    return solidPng(4, 4, [grid[0], grid[1], 0]);
  }
}
