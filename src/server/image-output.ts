// The image options OpenAI clients send (output_format, output_compression, quality, background), checked once per
// request and applied to every PNG the engine hands back. The decoder draws opaque RGB at one quality level, so
// `quality` maps every value to that level and `background: transparent` is refused rather than faked.
import sharp from 'sharp';
import type {
  ImageBackgroundRequest,
  ImageOutputFormat,
  ImageQualityRequest,
} from './api-types.generated.ts';
import { invalidRequest } from './errors.ts';

export interface ImageOutputFields {
  output_format?: ImageOutputFormat | null;
  output_compression?: number | null;
  quality?: ImageQualityRequest;
  background?: ImageBackgroundRequest;
}

export interface ImageOutput {
  format: ImageOutputFormat;
  /** Encoder quality for jpeg/webp, 0-100. */
  compression: number;
}

/** Validates the options; `prefix` locates them in the request (e.g. `tools[0].`) for the error's `param`. */
export function imageOutput(fields: ImageOutputFields, prefix = ''): ImageOutput {
  if (fields.background === 'transparent') {
    throw invalidRequest(
      `Invalid value for '${prefix}background': this model draws opaque images only; use 'opaque' or 'auto'`,
      `${prefix}background`,
      'unsupported_background',
    );
  }
  const format = fields.output_format ?? 'png';
  const compression = fields.output_compression ?? 100;
  if (format === 'png' && compression !== 100) {
    throw invalidRequest(
      `'${prefix}output_compression' applies to 'jpeg' and 'webp' output; PNG is lossless (send 100 or leave it out)`,
      `${prefix}output_compression`,
      'unsupported_compression',
    );
  }
  return { format, compression };
}

/** The engine's PNG in the requested format (unchanged for png). */
export async function encodeImage(png: Buffer, output: ImageOutput): Promise<Buffer> {
  switch (output.format) {
    case 'png':
      return png;
    case 'jpeg':
      return sharp(png)
        .jpeg({ quality: Math.max(1, output.compression) })
        .toBuffer();
    case 'webp':
      return sharp(png).webp({ quality: output.compression }).toBuffer();
  }
}

export const MEDIA_TYPES: Record<ImageOutputFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};
