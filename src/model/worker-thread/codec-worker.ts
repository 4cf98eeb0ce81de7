// Worker-thread entry of the image codec: the UniTok tokenizer's encode (pixels -> codes, for input images) and
// decode (codes -> pixels, for outputs and previews). A separate thread from the model runner, so rendering an
// image never stalls the decode steps of the other requests.

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
        graphs: ['encode', 'decode'],
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
  close: async (): Promise<void> => {
    await tokenizer?.release();
    tokenizer = null;
  },
};

export type CodecHandlers = typeof handlers;

serve(handlers);
