// Image input handling of the tokenizer: formats in, typed errors for bad data, the released pre/postprocessing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp, { type Sharp } from 'sharp';

import {
  type ImageErrorCode,
  ImageInputError,
  inspectImage,
  pixelsToPng,
  pixelsToRgb,
  preprocessImage,
} from '../src/tokenizer/image-io.ts';
import { UniTokTokenizer } from '../src/tokenizer/unitok.ts';
import { fixturesDir } from './helpers/tensors.ts';

const PAD = [122, 116, 104] as const;

function solid(width: number, height: number, rgb: [number, number, number]): Sharp {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
}

async function rejectsWith(p: Promise<unknown>, code: ImageErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ImageInputError, `expected ImageInputError, got ${e}`);
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('image validation', () => {
  test('PNG, JPEG, WebP and GIF are accepted', async () => {
    const base = solid(20, 10, [10, 200, 30]);
    for (const format of ['png', 'jpeg', 'webp', 'gif'] as const) {
      const data = await base.clone().toFormat(format).toBuffer();
      assert.deepEqual(await inspectImage(data), { format, width: 20, height: 10 });
    }
  });

  test('empty data', () => rejectsWith(inspectImage(new Uint8Array(0)), 'empty', /empty/));

  test('corrupt data', () =>
    rejectsWith(inspectImage(Buffer.from('definitely not an image')), 'corrupt', /cannot be read/));

  test('truncated data', async () => {
    const noisy = Buffer.alloc(64 * 64 * 3);
    for (let i = 0; i < noisy.length; i++) noisy[i] = (i * 7919) % 251;
    const png = await sharp(noisy, { raw: { width: 64, height: 64, channels: 3 } })
      .png()
      .toBuffer();
    const cut = png.subarray(0, Math.floor(png.length / 2));
    await rejectsWith(preprocessImage(cut, { size: 32, padColor: PAD }), 'corrupt', /damaged or truncated/);
  });

  test('unsupported formats (SVG, TIFF) are refused by name', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
    await rejectsWith(inspectImage(svg), 'unsupported_format', /svg is not accepted/);
    const tiff = await solid(4, 4, [0, 0, 0]).tiff().toBuffer();
    await rejectsWith(inspectImage(tiff), 'unsupported_format', /tiff/);
  });

  test('animated GIF', async () => {
    const frames = await Promise.all([
      solid(8, 8, [255, 0, 0]).png().toBuffer(),
      solid(8, 8, [0, 0, 255]).png().toBuffer(),
    ]);
    const gif = await sharp(frames, { join: { animated: true } })
      .gif()
      .toBuffer();
    await rejectsWith(inspectImage(gif), 'animated', /2 frames/);
  });

  test('over the pixel and byte limits', async () => {
    const png = await solid(300, 200, [1, 2, 3]).png().toBuffer();
    await rejectsWith(
      inspectImage(png, { maxBytes: 1e9, maxPixels: 50_000 }),
      'too_large',
      /300×200 = 60000 pixels/,
    );
    await rejectsWith(inspectImage(png, { maxBytes: 10, maxPixels: 1e9 }), 'too_large', /bytes/);
  });
});

describe('preprocessing', () => {
  test('a wide image is padded top and bottom with the released colour, centred', async () => {
    // 40×20 white image -> 40×40 square with 10 rows of pad colour above and below -> resized to 8×8.
    const png = await solid(40, 20, [255, 255, 255]).png().toBuffer();
    const chw = await preprocessImage(png, { size: 8, padColor: PAD });
    const rgbAt = (x: number, y: number) =>
      [0, 1, 2].map((c) => Math.round((chw[c * 64 + y * 8 + x] + 1) * 127.5));
    assert.deepEqual(rgbAt(3, 0), [...PAD]);
    assert.deepEqual(rgbAt(3, 7), [...PAD]);
    assert.deepEqual(rgbAt(3, 4), [255, 255, 255]);
    assert.ok(chw.every((v) => v >= -1 && v <= 1));
  });

  test('a tall image is padded left and right', async () => {
    const png = await solid(20, 40, [0, 0, 0]).png().toBuffer();
    const chw = await preprocessImage(png, { size: 8, padColor: PAD });
    const red = (x: number, y: number) => Math.round((chw[y * 8 + x] + 1) * 127.5);
    assert.equal(red(0, 4), PAD[0]);
    assert.equal(red(7, 4), PAD[0]);
    assert.equal(red(4, 4), 0);
  });

  test('alpha is dropped and grey becomes RGB', async () => {
    const rgba = await sharp({
      create: { width: 4, height: 4, channels: 4, background: { r: 200, g: 100, b: 50, alpha: 0.2 } },
    })
      .png()
      .toBuffer();
    const chw = await preprocessImage(rgba, { size: 4, padColor: PAD });
    assert.equal(chw.length, 3 * 16);
    assert.equal(Math.round((chw[0] + 1) * 127.5), 200);
    const grey = await solid(4, 4, [90, 90, 90]).toColourspace('b-w').png().toBuffer();
    const g = await preprocessImage(grey, { size: 4, padColor: PAD });
    assert.deepEqual(
      [0, 16, 32].map((i) => Math.round((g[i] + 1) * 127.5)),
      [90, 90, 90],
    );
  });

  test('postprocessing rounds (x + 1) * 127.5 and clamps to 0..255', async () => {
    // A 2×2 image as three channel planes: R, G, B.
    const chw = Float32Array.from([-1, 1, 0, -2, /* G */ 2, 0.5, -1, 0, /* B */ 0, 0, 0, 0]);
    assert.deepEqual(Array.from(pixelsToRgb(chw, 2)), [0, 255, 128, 255, 191, 128, 128, 0, 128, 0, 128, 128]);
    const png = await pixelsToPng(chw, 2);
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 2, 2]);
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual(Array.from(data), [0, 255, 128, 255, 191, 128, 128, 0, 128, 0, 128, 128]);
  });
});

describe('tokenizer end to end on encoded images', () => {
  let tok: UniTokTokenizer;
  before(async () => {
    tok = await UniTokTokenizer.load(fixturesDir('tokenizer', 'graphs'), { graphs: ['encode', 'decode'] });
  });
  after(() => tok.release());

  test('PNG and JPEG in -> codes -> PNG out at the model size', async () => {
    const png = await solid(50, 30, [250, 20, 20]).png().toBuffer();
    const jpeg = await solid(30, 50, [20, 20, 250]).jpeg().toBuffer();
    const codes = await tok.encode([png, jpeg]);
    const { num_codebooks: K, num_tokens: N, codebook_size: V, img_size: S } = tok.config;
    assert.deepEqual([codes.batch, codes.numCodebooks, codes.numTokens], [2, K, N]);
    assert.ok(codes.data.every((c) => c >= 0 && c < V));
    const pngs = await tok.decodeToPng(codes);
    assert.equal(pngs.length, 2);
    for (const out of pngs) {
      const meta = await sharp(out).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', S, S, 3]);
    }
  });

  test('a bad image in a batch names the problem', async () => {
    const ok = await solid(8, 8, [0, 0, 0]).png().toBuffer();
    await rejectsWith(tok.encode([ok, Buffer.from('xx')]), 'corrupt', /cannot be read/);
  });
});
