// The decoder stacks' KV memory. One [slots, kv_heads, context, head_dim] buffer per layer for key and for value,
// passed to a graph as both the past_key_values feed and the present fetch, so GroupQueryAttention writes the new
// positions in place (onnxruntime-notes §1): no copy of the cache per step. A run over slots lo..hi-1 binds row
// views of those buffers. Every slot reserves its whole context up front, so the size is checked at load.
import { totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';
import { type FloatData, type FloatType, newFloats, tensorInfo } from './tensors.ts';

/** The most of the machine's memory the LLM's KV cache may reserve. */
export const KV_MEMORY_SHARE = 0.5;

/** The past_key_values inputs of a decoder graph: names, dtype, [*, heads, *, headDim]. */
function kvLayout(session: ort.InferenceSession) {
  const names = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
  if (names.length === 0) throw new Error('graph has no past_key_values inputs');
  const { type, shape } = tensorInfo(session, names[0]);
  return { names, type: type as FloatType, heads: Number(shape[1]), headDim: Number(shape[3]) };
}

/** Shared past/present buffers of one decoder stack, updated in place by GroupQueryAttention. */
export class KvCache {
  /** Bytes the buffers of `session` take for `rows` slots of `capacity` positions. */
  static bytes(session: ort.InferenceSession, rows: number, capacity: number): number {
    const { names, type, heads, headDim } = kvLayout(session);
    return names.length * rows * heads * capacity * headDim * (type === 'float16' ? 2 : 4);
  }

  private readonly buffers: { feed: string; fetch: string; data: FloatData }[];
  private readonly type: FloatType;
  private readonly rowSize: number;
  private readonly heads: number;
  private readonly headDim: number;

  constructor(
    session: ort.InferenceSession,
    readonly rows: number,
    readonly capacity: number,
  ) {
    const { names, type, heads, headDim } = kvLayout(session);
    [this.type, this.heads, this.headDim] = [type, heads, headDim];
    this.rowSize = heads * capacity * headDim;
    this.buffers = names.map((feed) => ({
      feed,
      fetch: feed.replace('past_key_values.', 'present.'),
      data: newFloats(type, rows * this.rowSize),
    }));
  }

  /** Adds views of rows lo..hi-1 to a run's feeds and fetches (the same Tensor both ways: in place). */
  bind(
    lo: number,
    hi: number,
    feeds: Record<string, ort.Tensor>,
    fetches: Record<string, ort.Tensor | null>,
  ): void {
    if (lo < 0 || hi > this.rows || lo >= hi)
      throw new Error(`KV rows ${lo}..${hi - 1} outside 0..${this.rows - 1}`);
    const dims = [hi - lo, this.heads, this.capacity, this.headDim];
    for (const b of this.buffers) {
      const view = new ort.Tensor(this.type, b.data.subarray(lo * this.rowSize, hi * this.rowSize), dims);
      feeds[b.feed] = view;
      fetches[b.fetch] = view;
    }
  }
}

/** Refuses a cache that would take more than KV_MEMORY_SHARE of the machine's memory, naming the knobs. */
export function checkKvMemory(session: ort.InferenceSession, slots: number, context: number): void {
  const bytes = KvCache.bytes(session, slots, context);
  if (bytes <= KV_MEMORY_SHARE * totalmem()) return;
  const gib = (n: number) => (n / 2 ** 30).toFixed(1);
  throw new Error(
    `the KV cache would take ${gib(bytes)} GiB (${slots} slots x ${context} positions), more than ` +
      `${KV_MEMORY_SHARE * 100}% of this machine's ${gib(totalmem())} GiB: lower --max-batch or the context length`,
  );
}
