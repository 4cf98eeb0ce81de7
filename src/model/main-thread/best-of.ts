// Best-of drawing: one image drawn `candidates` times, each candidate an ImageSequence with a seed of its own, and
// the client gets the candidate whose CLIP image embedding (computed from its codes) is nearest the prompt's CLIP
// text embedding. UniTok is a CLIP model as well as the tokenizer that decodes the drawings, so the same weights
// judge them (DALL-E's reranking, with no second model). The candidates' codes stay here: the chosen one is
// replayed into the image's output, token by token, as if it had been drawn alone.
import type { ImageOutput } from './request.ts';

export interface BestOfOptions {
  candidates: number;
  /** Code grids [K, N] of the candidates (read, not kept or moved) -> a score each; the highest wins (the first of
   * equal scores). */
  judge: (grids: Int32Array[]) => Promise<number[]>;
  /** Where the chosen candidate goes (previews are off: there is no chosen candidate until all are drawn). */
  output: ImageOutput;
  codesPerToken: number;
  visualTokens: number;
  /** A judgement that fails ends the request with its error. */
  fail: (err: Error) => void;
}

export class BestOfImage {
  private readonly grids: Int32Array[] = [];
  private left: number;

  constructor(private readonly o: BestOfOptions) {
    this.left = o.candidates;
  }

  /** The output of candidate `j`: keeps its finished grid, and judges once every candidate has one. */
  candidate(j: number): ImageOutput {
    return {
      codes: () => {},
      finish: (grid) => {
        this.grids[j] = Int32Array.from(grid);
        if (--this.left === 0) void this.choose();
      },
    };
  }

  private async choose(): Promise<void> {
    let scores: number[];
    try {
      scores = await this.o.judge(this.grids);
    } catch (err) {
      this.o.fail(err as Error);
      return;
    }
    let best = 0; // the first of equal scores; a NaN wins only when every score is one
    for (let j = 1; j < scores.length; j++) {
      if (scores[j] > scores[best] || (Number.isNaN(scores[best]) && !Number.isNaN(scores[j]))) best = j;
    }
    const grid = this.grids[best];
    const { codesPerToken: K, visualTokens: N, output } = this.o;
    for (let n = 0; n < N; n++) {
      output.codes(
        n,
        Array.from({ length: K }, (_, k) => grid[k * N + n]),
        grid,
      );
    }
    output.finish(grid);
  }
}
