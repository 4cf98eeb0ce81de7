// One generated image's events: every visual token's codes as it is sampled, previews of the partly generated
// grid at the requested points, and the final PNG. Renders go to the codec worker one after another, so an
// image's previews always precede its final picture; a render that fails ends the request with that error.
import { pixelsToPng } from '../../tokenizer/image-io.ts';
import type { ImageEvent } from '../engine-types.ts';
import { fillPartialGrid, maskUnknownCells } from './preview.ts';
import type { ImageOutput } from './request.ts';

export interface ImageChoiceOptions {
  /** Which of the request's n images this is. */
  index: number;
  image: { size: number; grid: number; codesPerToken: number };
  /** Visual-token counts after which a preview is rendered (1..N-1). */
  previewAt: ReadonlySet<number>;
  /** Codes [K, N] -> CHW pixels in [-1, 1] (the codec worker). */
  decode: (grid: Int32Array) => Promise<Float32Array>;
  emit: (event: ImageEvent) => void;
  /** False once the request's stream has ended: pending renders are skipped. */
  open: () => boolean;
  fail: (err: Error) => void;
  /** After the final image's event. */
  finished: () => void;
}

export class ImageChoice implements ImageOutput {
  private renders = Promise.resolve();

  constructor(private readonly o: ImageChoiceOptions) {}

  codes(index: number, codes: number[], grid: Int32Array): void {
    const { o } = this;
    o.emit({ type: 'codes', image: o.index, index, codes });
    const done = index + 1;
    if (!o.previewAt.has(done)) return;
    const { size, grid: side, codesPerToken } = o.image;
    const partial = fillPartialGrid(grid, codesPerToken, side, done);
    this.render(async () => {
      const pixels = maskUnknownCells(await o.decode(partial), size, side, done);
      return { type: 'preview', image: o.index, done, png: await pixelsToPng(pixels, size) };
    });
  }

  finish(grid: Int32Array): void {
    const { o } = this;
    const final = Int32Array.from(grid);
    this.render(async () => ({
      type: 'image',
      image: o.index,
      png: await pixelsToPng(await o.decode(final), o.image.size),
    })).then(o.finished);
  }

  private render(job: () => Promise<ImageEvent>): Promise<void> {
    this.renders = this.renders.then(async () => {
      if (!this.o.open()) return;
      try {
        this.o.emit(await job());
      } catch (err) {
        this.o.fail(err as Error);
      }
    });
    return this.renders;
  }
}
