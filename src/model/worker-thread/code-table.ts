// The depth head's code embeddings as a table in the runner's memory, so that a code step costs one session.run
// (the depth head) instead of two. code_embed is a plain gather from the stacked ar_head codebooks
// (unitok/export/mllm_graphs.py), so its rows, fetched once at load by running the graph on every id, are
// exactly what each per-code run would return (docs/step-profile.md: two runs per code were 55% of an image).
import * as ort from 'onnxruntime-node';

/** Activations as ORT hands them over: float32, or float16 bits. */
export type FloatRows = Float32Array | Uint16Array;

/** Tables above this stay in the graph (the released sizes' would be 7 x 4096 x 4096 floats, 470 MB). */
export const MAX_CODE_TABLE_BYTES = 64 * 2 ** 20;

export class CodeTable {
  private constructor(
    private readonly table: FloatRows,
    private readonly width: number,
  ) {}

  /**
   * The table of `session` (code_embed: code_ids [B, S] -> embeds [B, S, width]) for ids 0 .. count - 1, or null
   * when it would take more than MAX_CODE_TABLE_BYTES (then the graph keeps running per code).
   */
  static async load(session: ort.InferenceSession, count: number, width: number): Promise<CodeTable | null> {
    if (count * width * 4 > MAX_CODE_TABLE_BYTES) return null;
    const ids = BigInt64Array.from({ length: count }, (_, i) => BigInt(i));
    const out = await session.run({ code_ids: new ort.Tensor('int64', ids, [1, count]) });
    const table = out.embeds.data as FloatRows;
    if (table.length !== count * width)
      throw new Error(`code_embed gave ${table.length} values for ${count} ids`);
    return new CodeTable(table, width);
  }

  /** The rows of `ids`, one after another: what code_embed returns for code_ids [ids.length, 1]. */
  gather(ids: readonly number[]): FloatRows {
    const w = this.width;
    const out =
      this.table instanceof Float32Array ? new Float32Array(ids.length * w) : new Uint16Array(ids.length * w);
    ids.forEach((id, r) => {
      out.set(this.table.subarray(id * w, (id + 1) * w), r * w);
    });
    return out;
  }
}
