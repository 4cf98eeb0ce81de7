// Image I/O for the UniTok tokenizer: validation, the released preprocessing and postprocessing, with sharp.
//
// Preprocessing follows the released VQA loader (eval/liquid/eval/model_vqa_loader.py): pad to a square with
// RGB (122,116,104), image centred; resize to the model's size (bilinear); scale to [-1, 1]. Postprocessing
// follows inference.py: (x + 1) * 127.5, rounded, clamped to 0..255.
import sharp, { type Metadata, type OutputInfo } from 'sharp';

export const ACCEPTED_FORMATS = ['png', 'jpeg', 'webp', 'gif'] as const;
export type AcceptedFormat = (typeof ACCEPTED_FORMATS)[number];

export type ImageErrorCode = 'empty' | 'corrupt' | 'unsupported_format' | 'animated' | 'too_large';

/** A bad input image. `code` says what is wrong; the message is meant for the person who sent it. */
export class ImageInputError extends Error {
  readonly code: ImageErrorCode;
  constructor(code: ImageErrorCode, message: string) {
    super(message);
    this.name = 'ImageInputError';
    this.code = code;
  }
}

export interface ImageLimits {
  /** Largest accepted encoded size in bytes. */
  maxBytes: number;
  /** Largest accepted width × height (decompression-bomb guard, checked before decoding pixels). */
  maxPixels: number;
}

/** One default for the server, the engine and the command line (`--max-image-bytes`, `--max-image-pixels`). */
export const DEFAULT_IMAGE_LIMITS: ImageLimits = { maxBytes: 10 * 1024 * 1024, maxPixels: 4096 * 4096 };

export interface ImageInfo {
  format: AcceptedFormat;
  width: number;
  height: number;
}

/** Check an encoded image without decoding its pixels: size, format, frame count, dimensions. */
export async function inspectImage(
  data: Uint8Array,
  limits: ImageLimits = DEFAULT_IMAGE_LIMITS,
): Promise<ImageInfo> {
  if (data.byteLength === 0) throw new ImageInputError('empty', 'image data is empty (0 bytes)');
  if (data.byteLength > limits.maxBytes) {
    throw new ImageInputError(
      'too_large',
      `image is ${data.byteLength} bytes; the limit is ${limits.maxBytes} bytes`,
    );
  }
  let meta: Metadata;
  try {
    meta = await sharp(data, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new ImageInputError('corrupt', `image data cannot be read as an image (${errorText(e)})`);
  }
  const format = meta.format as string | undefined;
  if (!format || !(ACCEPTED_FORMATS as readonly string[]).includes(format)) {
    throw new ImageInputError(
      'unsupported_format',
      `image format ${format ?? 'unknown'} is not accepted; send ${ACCEPTED_FORMATS.join(', ')}`,
    );
  }
  if ((meta.pages ?? 1) > 1) {
    throw new ImageInputError('animated', `animated ${format} with ${meta.pages} frames; send a still image`);
  }
  const width = meta.autoOrient?.width ?? meta.width ?? 0;
  const height = meta.autoOrient?.height ?? meta.height ?? 0;
  if (width <= 0 || height <= 0) {
    throw new ImageInputError('empty', `image has zero size (${width}×${height})`);
  }
  if (width * height > limits.maxPixels) {
    throw new ImageInputError(
      'too_large',
      `image is ${width}×${height} = ${width * height} pixels; the limit is ${limits.maxPixels}`,
    );
  }
  return { format: format as AcceptedFormat, width, height };
}

export interface PreprocessOptions {
  size: number;
  padColor: readonly [number, number, number];
  limits?: ImageLimits;
}

/** Decode, orient and pad-to-square an encoded image, resize it, and return CHW float pixels in [-1, 1]. */
export async function preprocessImage(data: Uint8Array, opts: PreprocessOptions): Promise<Float32Array> {
  await inspectImage(data, opts.limits);
  const [r, g, b] = opts.padColor;
  let rgb: { data: Buffer; info: OutputInfo };
  try {
    // EXIF orientation is applied so the model sees the picture a person sees. Alpha is dropped as PIL's
    // convert('RGB') drops it (no compositing), grey images become RGB.
    rgb = await sharp(data, { failOn: 'truncated', limitInputPixels: false, autoOrient: true })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ImageInputError('corrupt', `image data is damaged or truncated (${errorText(e)})`);
  }
  const { width, height, channels } = rgb.info;
  const side = Math.max(width, height);
  const top = Math.floor((side - height) / 2);
  const left = Math.floor((side - width) / 2);
  // Two pipelines: sharp applies resize before extend within one, and the release pads first.
  const square = await sharp(rgb.data, { raw: { width, height, channels } })
    .extend({ top, bottom: side - height - top, left, right: side - width - left, background: { r, g, b } })
    .raw()
    .toBuffer();
  const resized = await sharp(square, { raw: { width: side, height: side, channels } })
    .resize(opts.size, opts.size, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return hwcToChw(resized.data, opts.size, resized.info.channels);
}

function hwcToChw(hwc: Uint8Array, size: number, channels: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = hwc[i * channels + c] / 127.5 - 1;
  }
  return out;
}

/** CHW float pixels in [-1, 1] (one image) -> interleaved RGB bytes. */
export function pixelsToRgb(chw: Float32Array, size: number): Uint8Array {
  const plane = size * size;
  if (chw.length !== 3 * plane)
    throw new Error(`expected ${3 * plane} values for a ${size}² image, got ${chw.length}`);
  const out = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round((chw[c * plane + i] + 1) * 127.5);
      out[i * 3 + c] = Math.min(255, Math.max(0, v));
    }
  }
  return out;
}

/** CHW float pixels in [-1, 1] (one image) -> PNG bytes. */
export async function pixelsToPng(chw: Float32Array, size: number): Promise<Buffer> {
  return sharp(pixelsToRgb(chw, size), { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e);
}
