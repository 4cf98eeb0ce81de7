// Worker-thread entry of the image codec: the UniTok tokenizer's encode (pixels -> codes, for input images) and
// decode (codes -> pixels, for outputs and previews), and its CLIP side (text ids -> text embeddings, pixels ->
// codes -> image embeddings; the codes of generated drawings -> image embeddings, to judge them). A separate
// thread from the model runner, so rendering an image or embedding a batch never stalls the decode steps of the
// other requests.

import { UniTokTokenizer } from '../../tokenizer/unitok.ts';
import type { Device } from '../protocol/steps.ts';
import { serve, Transfer } from '../protocol/worker-rpc.ts';
import { explainDeviceError } from './devices.ts';

let tokenizer: UniTokTokenizer | null = null;

function loaded(): UniTokTokenizer {
  if (!tokenizer) throw new Error('the image codec is not loaded');
  return tokenizer;
}

const handlers = {
  load: async ({ bundleDir, device }: { bundleDir: string; device: Device }): Promise<void> => {
    try {
      tokenizer = await UniTokTokenizer.load(bundleDir, {
        graphs: ['encode', 'decode', 'clip_image', 'clip_text'],
        executionProviders: [device],
      });
    } catch (err) {
      throw explainDeviceError(device, err);
    }
  },
  /** CHW pixels in [-1, 1] of `batch` images -> codes [batch, K, N], codebook-major. */
  encode: async ({ pixels, batch }: { pixels: Float32Array; batch: number }) => {
    const codes = await loaded().encodePixels(pixels, batch);
    return new Transfer(codes.data, [codes.data.buffer as ArrayBuffer]);
  },
  /** Codes [batch, K, N] -> CHW pixels in [-1, 1], images back to back. */
  decode: async ({ codes, batch }: { codes: Int32Array; batch: number }) => {
    const t = loaded();
    const { num_codebooks: K, num_tokens: N } = t.config;
    const pixels = await t.decode({ data: codes, batch, numCodebooks: K, numTokens: N });
    return new Transfer(pixels, [pixels.buffer as ArrayBuffer]);
  },
  /** `batch` rows of CLIP text ids (text_context_length each) -> L2-normalised embeddings [batch, E]. */
  embedText: async ({ ids, batch }: { ids: Int32Array; batch: number }) => {
    const embeds = await loaded().textEmbeddings(
      BigInt64Array.from(ids, (x) => BigInt(x)),
      batch,
    );
    return new Transfer(embeds, [embeds.buffer as ArrayBuffer]);
  },
  /** CHW pixels of `batch` images -> their codes [batch, K, N] and L2-normalised CLIP embeddings [batch, E]. */
  embedImages: async ({ pixels, batch }: { pixels: Float32Array; batch: number }) => {
    const t = loaded();
    const codes = await t.encodePixels(pixels, batch);
    const embeds = await t.imageEmbeddings(codes);
    return new Transfer({ codes: codes.data, embeds }, [
      codes.data.buffer as ArrayBuffer,
      embeds.buffer as ArrayBuffer,
    ]);
  },
  /** Codes [batch, K, N] -> their L2-normalised CLIP image embeddings [batch, E] (best-of's judge). */
  embedCodes: async ({ codes, batch }: { codes: Int32Array; batch: number }) => {
    const t = loaded();
    const { num_codebooks: K, num_tokens: N } = t.config;
    const embeds = await t.imageEmbeddings({ data: codes, batch, numCodebooks: K, numTokens: N });
    return new Transfer(embeds, [embeds.buffer as ArrayBuffer]);
  },
  /** Liveness: answered in call order, so it also shows the thread is not stuck. */
  ping: (): boolean => true,
  close: async (): Promise<void> => {
    await tokenizer?.release();
    tokenizer = null;
  },
};

export type CodecHandlers = typeof handlers;

serve(handlers);
