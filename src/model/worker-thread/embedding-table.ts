// Embedding tables in the runner's memory. code_embed (the stacked ar_head codebooks) and embed_tokens (the text
// table) are plain gathers (unitok/export/mllm_graphs.py), so their rows, fetched once at load by running the graph
// on every id, are exactly what each run would return, and a step saves a session.run per table: two runs per
// code were 55% of an image (docs/step-profile.md), and every text step ran embed_tokens for its few new tokens.
import * as ort from 'onnxruntime-node';
import type { FloatData } from './tensors.ts';

/** Tables above this stay in the graph (the released sizes' would be 470 MB of codes, 524 MB of text rows). */
export const MAX_TABLE_BYTES = 64 * 2 ** 20;

/** A gather graph: ids [1, S] int64 in `input`, rows [1, S, width] out of `output`. */
export interface GatherGraph {
  session: ort.InferenceSession;
  input: string;
  output: string;
}

export class EmbeddingTable {
  private constructor(
    private readonly table: FloatData,
    private readonly width: number,
  ) {}

  /** The table of `graph` for ids 0 .. count - 1, or null when it would take more than MAX_TABLE_BYTES. */
  static async load(graph: GatherGraph, count: number, width: number): Promise<EmbeddingTable | null> {
    if (count * width * 4 > MAX_TABLE_BYTES) return null;
    const ids = BigInt64Array.from({ length: count }, (_, i) => BigInt(i));
    const out = await graph.session.run({ [graph.input]: new ort.Tensor('int64', ids, [1, count]) });
    const table = out[graph.output].data as FloatData;
    if (table.length !== count * width)
      throw new Error(`${graph.output}: ${table.length} values for ${count} ids of width ${width}`);
    return new EmbeddingTable(table, width);
  }

  /** The rows of `ids`, one after another: what the graph returns for those ids. */
  gather(ids: readonly number[]): FloatData {
    const w = this.width;
    const out =
      this.table instanceof Float32Array ? new Float32Array(ids.length * w) : new Uint16Array(ids.length * w);
    ids.forEach((id, r) => {
      out.set(this.table.subarray(id * w, (id + 1) * w), r * w);
    });
    return out;
  }
}
