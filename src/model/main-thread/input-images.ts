// A chat's input images -> UniTok codes: decoded and checked here (sharp, the limits the server was started with),
// expanded to a square and resized as the release does, then encoded in one batch by the codec worker.
import { ImageInputError, type ImageLimits, preprocessImage } from '../../tokenizer/image-io.ts';
import { InvalidImageError } from '../engine-types.ts';
import type { PromptImage } from './prompts.ts';
import type { CodecClient } from './workers.ts';

export interface ImageEncoding {
  image: { size: number; visualTokens: number; codesPerToken: number };
  /** expand2square's fill colour (the tokenizer config's pad_color). */
  padColor: [number, number, number];
  limits: ImageLimits;
  codec: CodecClient;
}

/** Codes [K, N] per image, in order; a bad image is an InvalidImageError naming its message and part. */
export async function encodeImages(images: PromptImage[], how: ImageEncoding): Promise<Int32Array[]> {
  if (images.length === 0) return [];
  const { size, visualTokens: N, codesPerToken: K } = how.image;
  const pixels = await Promise.all(
    images.map(async (img) => {
      try {
        return await preprocessImage(img.data, { size, padColor: how.padColor, limits: how.limits });
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
  const codes = await how.codec.encode(batch, pixels.length);
  return images.map((_, i) => codes.slice(i * K * N, (i + 1) * K * N));
}
