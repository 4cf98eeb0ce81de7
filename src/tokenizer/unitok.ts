// The UniTok image tokenizer at run time: pixels <-> codes through the exported ONNX graphs.
//
// A model folder (a tokenizer export or a full bundle) holds unitok_config.json and the unitok_*.onnx graphs.
// Codes are int64 [B, K, N] in the graphs; here they travel as Int32Array in the same codebook-major layout
// (value = codes[b][k][n]), which is what the engine and the HTTP layer handle.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

import { DEFAULT_IMAGE_LIMITS, type ImageLimits, pixelsToPng, preprocessImage } from './image-io.ts';

export interface UniTokConfig {
  name: string;
  img_size: number;
  grid: number;
  num_tokens: number;
  num_codebooks: number;
  codebook_size: number;
  code_dim: number;
  embed_dim: number;
  text_context_length: number;
  text_vocab_size: number;
  text_width: number;
  text_layers: number;
  text_heads: number;
  pad_color: [number, number, number];
}

/** unitok_config.json's "clip" section (unitok/export/clip_files.py; absent in exports made before it). */
export interface ClipManifest {
  /** exp(logit_scale clamped to [0, ln 100]): the multiplier of the cosine similarities. */
  logit_scale: number;
  /** The default zero-shot hypothesis, `{}` standing for the label. */
  zero_shot_template: string;
  /** The text tower's tokenizer and its file in the folder; null when none is known for its vocabulary. */
  text_tokenizer: { type: 'clip-bpe' | 'words'; file: string } | null;
  text_tokenizer_note?: string;
}

export interface Manifest {
  format: string;
  format_version: number;
  config: UniTokConfig;
  graphs: Record<GraphName, string>;
  clip?: ClipManifest;
}

export type GraphName = 'encode' | 'decode' | 'clip_image' | 'clip_text';
const ALL_GRAPHS: GraphName[] = ['encode', 'decode', 'clip_image', 'clip_text'];

/** A batch of code grids: data[b*K*N + k*N + n] is codebook k's code for visual token n of image b. */
export interface Codes {
  data: Int32Array;
  batch: number;
  numCodebooks: number;
  numTokens: number;
}

export class CodesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodesError';
  }
}

export interface LoadOptions {
  /** Which graphs to open (default: all four). */
  graphs?: GraphName[];
  executionProviders?: ort.InferenceSession.SessionOptions['executionProviders'];
  intraOpNumThreads?: number;
  imageLimits?: ImageLimits;
}

export class UniTokTokenizer {
  readonly config: UniTokConfig;
  readonly imageLimits: ImageLimits;
  private readonly sessions: Partial<Record<GraphName, ort.InferenceSession>>;

  private constructor(
    config: UniTokConfig,
    sessions: Partial<Record<GraphName, ort.InferenceSession>>,
    limits: ImageLimits,
  ) {
    this.config = config;
    this.sessions = sessions;
    this.imageLimits = limits;
  }

  static readManifest(dir: string): Manifest {
    let manifest: Manifest;
    try {
      manifest = JSON.parse(readFileSync(join(dir, 'unitok_config.json'), 'utf8')) as Manifest;
    } catch (e) {
      throw new Error(
        `${dir} is not a UniTok model folder: cannot read unitok_config.json (${(e as Error).message})`,
      );
    }
    if (manifest.format !== 'unitok-tokenizer' || manifest.format_version !== 1) {
      throw new Error(
        `${dir}/unitok_config.json: unsupported format ${manifest.format} v${manifest.format_version}`,
      );
    }
    return manifest;
  }

  static async load(dir: string, opts: LoadOptions = {}): Promise<UniTokTokenizer> {
    const manifest = UniTokTokenizer.readManifest(dir);
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: opts.executionProviders ?? ['cpu'],
      graphOptimizationLevel: 'all',
      ...(opts.intraOpNumThreads ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
    };
    const sessions: Partial<Record<GraphName, ort.InferenceSession>> = {};
    for (const name of opts.graphs ?? ALL_GRAPHS) {
      // By path, so external data (graphs past 2 GB) resolves next to the graph.
      sessions[name] = await ort.InferenceSession.create(join(dir, manifest.graphs[name]), options);
    }
    return new UniTokTokenizer(manifest.config, sessions, opts.imageLimits ?? DEFAULT_IMAGE_LIMITS);
  }

  async release(): Promise<void> {
    for (const s of Object.values(this.sessions)) await s?.release();
  }

  private session(name: GraphName): ort.InferenceSession {
    const s = this.sessions[name];
    if (!s) throw new Error(`graph '${name}' was not loaded (LoadOptions.graphs)`);
    return s;
  }

  /** Encoded images (PNG, JPEG, WebP, GIF) -> codes. Bad images throw ImageInputError. */
  async encode(images: Uint8Array[]): Promise<Codes> {
    const { img_size: size, pad_color: padColor } = this.config;
    const pixels = await Promise.all(
      images.map((img) => preprocessImage(img, { size, padColor, limits: this.imageLimits })),
    );
    const batch = new Float32Array(pixels.length * 3 * size * size);
    pixels.forEach((p, i) => {
      batch.set(p, i * p.length);
    });
    return this.encodePixels(batch, pixels.length);
  }

  /** CHW pixels in [-1, 1], `batch` images back to back -> codes. */
  async encodePixels(pixels: Float32Array, batch: number): Promise<Codes> {
    const { img_size: s, num_codebooks: K, num_tokens: N } = this.config;
    if (pixels.length !== batch * 3 * s * s) {
      throw new Error(`expected ${batch}×3×${s}×${s} pixel values, got ${pixels.length}`);
    }
    const out = await this.session('encode').run({
      pixel_values: new ort.Tensor('float32', pixels, [batch, 3, s, s]),
    });
    const codes = out.codes.data as BigInt64Array;
    return { data: Int32Array.from(codes, Number), batch, numCodebooks: K, numTokens: N };
  }

  /** Codes -> CHW pixels in [-1, 1], images back to back. */
  async decode(codes: Codes): Promise<Float32Array> {
    const out = await this.session('decode').run({ codes: this.codesTensor(codes) });
    return out.pixels.data as Float32Array;
  }

  /** Codes -> one PNG per image. */
  async decodeToPng(codes: Codes): Promise<Buffer[]> {
    const pixels = await this.decode(codes);
    const s = this.config.img_size;
    const per = 3 * s * s;
    return Promise.all(
      Array.from({ length: codes.batch }, (_, b) => pixelsToPng(pixels.subarray(b * per, (b + 1) * per), s)),
    );
  }

  /** CLIP image embeddings (L2-normalised) from codes: [B, embed_dim]. */
  async imageEmbeddings(codes: Codes): Promise<Float32Array> {
    const out = await this.session('clip_image').run({ codes: this.codesTensor(codes) });
    return out.image_embeds.data as Float32Array;
  }

  /** CLIP text embeddings (L2-normalised) from CLIP BPE token ids, `batch` rows of text_context_length. */
  async textEmbeddings(ids: BigInt64Array, batch: number): Promise<Float32Array> {
    const T = this.config.text_context_length;
    if (ids.length !== batch * T) throw new Error(`expected ${batch}×${T} token ids, got ${ids.length}`);
    const out = await this.session('clip_text').run({ input_ids: new ort.Tensor('int64', ids, [batch, T]) });
    return out.text_embeds.data as Float32Array;
  }

  /** Check a code grid against this model's layout and range, so a bad request never reaches the graph. */
  validateCodes(codes: Codes): void {
    const { num_codebooks: K, num_tokens: N, codebook_size: V } = this.config;
    if (codes.numCodebooks !== K || codes.numTokens !== N) {
      throw new CodesError(
        `codes must be [batch, ${K}, ${N}] for this model, got [${codes.batch}, ${codes.numCodebooks}, ${codes.numTokens}]`,
      );
    }
    if (codes.data.length !== codes.batch * K * N) {
      throw new CodesError(
        `codes hold ${codes.data.length} values; [${codes.batch}, ${K}, ${N}] needs ${codes.batch * K * N}`,
      );
    }
    const bad = codes.data.findIndex((c) => !(Number.isInteger(c) && c >= 0 && c < V));
    if (bad >= 0) {
      const k = Math.floor(bad / N) % K;
      throw new CodesError(
        `code ${codes.data[bad]} at codebook ${k}, token ${bad % N} is outside 0..${V - 1}`,
      );
    }
  }

  private codesTensor(codes: Codes): ort.Tensor {
    this.validateCodes(codes);
    return new ort.Tensor(
      'int64',
      BigInt64Array.from(codes.data, (c) => BigInt(c)),
      [codes.batch, codes.numCodebooks, codes.numTokens],
    );
  }
}
