// The decoder stacks' KV memory. One [slots, kv_heads, positions, head_dim] buffer per layer for key and for value,
// fed to a run as its past_key_values inputs (row views, no copy: onnxruntime-node wraps an input's memory). Two
// ways the run's new positions get in (docs/graphs.md), told apart by the graph's outputs:
// - 'append' (llm): the graph returns only the new positions' keys and values (new_key_values.*, [B, kv_heads, S,
//   head_dim]) and `append` writes them into place. onnxruntime-node 1.30 hands every fetched output back as a new
//   JavaScript array, copied, so this is the way for a long cache: nothing its size comes back.
// - 'in place' (depth_head): GroupQueryAttention's present outputs are fetched into the same tensors as the inputs,
//   so it writes the new positions into the buffers itself; each run then pays a copy of the bound rows' buffers
//   (bench/kv-copy.ts), which for the depth head's K positions is a few KiB, less than a dozen more graph nodes.
// Every slot reserves its whole context up front, so the size is checked at load.
//
// The buffers are laid out for the positions in use, not the context: `active` positions per (slot, head), growing
// in steps of 16 positions (an eighth of the layout once that is longer), re-laid out in place when a run needs
// more. A run's attention reads every laid-out position (masked past each row's length), so the layout stays tight.
// It never shrinks: a slot's positions beyond the new length would be lost, and the runner does not know which
// slots still live.
import { totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';
import { type FloatData, type FloatType, int32, newFloats, scalar, tensorInfo } from './tensors.ts';

/** A row of a run: `count` new positions after its `past` cached ones (0 new: a hole). */
export interface KvRow {
  past: number;
  count: number;
}

/** The most of the machine's memory the LLM's KV cache may reserve. */
export const KV_MEMORY_SHARE = 0.5;

/** The past_key_values inputs of a decoder graph: names, dtype, [*, heads, *, headDim]. */
function kvLayout(session: ort.InferenceSession) {
  const names = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
  if (names.length === 0) throw new Error('graph has no past_key_values inputs');
  const { type, shape } = tensorInfo(session, names[0]);
  return { names, type: type as FloatType, heads: Number(shape[1]), headDim: Number(shape[3]) };
}

/** The KV buffers of one decoder stack: inputs of its runs, updated from their new_key_values or present outputs. */
export class KvCache {
  /** Bytes the buffers of `session` take for `rows` slots of `capacity` positions. */
  static bytes(session: ort.InferenceSession, rows: number, capacity: number): number {
    const { names, type, heads, headDim } = kvLayout(session);
    return names.length * rows * heads * capacity * headDim * (type === 'float16' ? 2 : 4);
  }

  /** The smallest buffer length, and the smallest growth step. */
  static readonly GRANULE = 16;

  private readonly buffers: { feed: string; fetch: string; data: FloatData }[];
  private readonly type: FloatType;
  private readonly heads: number;
  private readonly headDim: number;
  /** Positions per slot in the current layout (<= capacity). */
  private active: number;
  /** The graph returns present outputs, which GroupQueryAttention writes into the bound buffers themselves. */
  readonly inPlace: boolean;

  constructor(
    session: ort.InferenceSession,
    readonly rows: number,
    readonly capacity: number,
  ) {
    const { names, type, heads, headDim } = kvLayout(session);
    [this.type, this.heads, this.headDim] = [type, heads, headDim];
    this.active = Math.min(capacity, KvCache.GRANULE);
    this.inPlace = session.outputNames.includes(names[0].replace('past_key_values.', 'present.'));
    const output = this.inPlace ? 'present.' : 'new_key_values.';
    this.buffers = names.map((feed) => ({
      feed,
      fetch: feed.replace('past_key_values.', output),
      data: newFloats(type, rows * heads * capacity * headDim),
    }));
  }

  /** Positions per slot the buffers are laid out for now. */
  get length(): number {
    return this.active;
  }

  /** Makes room for `positions` per slot: the next multiple of the growth step (at most the capacity), moving what is stored. */
  reserve(positions: number): void {
    if (positions <= this.active) return;
    if (positions > this.capacity)
      throw new Error(`KV: ${positions} positions asked, capacity ${this.capacity}`);
    const step = Math.max(KvCache.GRANULE, 2 ** Math.floor(Math.log2(this.active)) / 8);
    const next = Math.min(this.capacity, Math.ceil(positions / step) * step);
    // Each (slot, head) block of `active` positions moves to its place in the wider layout; from the last block
    // back, so no block is overwritten before it has moved (new offsets are never below old ones).
    const block = this.active * this.headDim;
    for (const b of this.buffers)
      for (let i = this.rows * this.heads - 1; i > 0; i--) {
        b.data.copyWithin(i * next * this.headDim, i * block, (i + 1) * block);
        b.data.fill(0, i * next * this.headDim + block, (i + 1) * next * this.headDim);
      }
    for (const b of this.buffers) b.data.fill(0, block, next * this.headDim); // block 0 stays; its tail is new
    this.active = next;
  }

  /**
   * Adds views of rows lo..hi-1 to a run's feeds; returns the run's KV fetches: its new_key_values (for `append`),
   * or, in place, the same views as its present outputs.
   */
  bind(lo: number, hi: number, feeds: Record<string, ort.Tensor>): Record<string, ort.Tensor | null> {
    if (lo < 0 || hi > this.rows || lo >= hi)
      throw new Error(`KV rows ${lo}..${hi - 1} outside 0..${this.rows - 1}`);
    const dims = [hi - lo, this.heads, this.active, this.headDim];
    const rowSize = this.heads * this.active * this.headDim;
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const b of this.buffers) {
      const view = new ort.Tensor(this.type, b.data.subarray(lo * rowSize, hi * rowSize), dims);
      feeds[b.feed] = view;
      fetches[b.fetch] = this.inPlace ? view : null;
    }
    return fetches;
  }

  /**
   * Adds a run's row lengths to its feeds, in the graph's terms: `past_lengths` (positions already cached), or, in
   * place, GroupQueryAttention's `seqlens_k` (each row's last position after the run) and `total_sequence_length`.
   * `rows` as for `append`: row b's `count` new positions follow its `past` ones.
   */
  lengths(feeds: Record<string, ort.Tensor>, rows: KvRow[]): void {
    if (!this.inPlace) {
      feeds.past_lengths = new ort.Tensor(
        'int32',
        Int32Array.from(rows, (r) => r.past),
        [rows.length],
      );
      return;
    }
    const last = Int32Array.from(rows, (r) => r.past + Math.max(r.count, 1) - 1);
    feeds.seqlens_k = int32(last);
    feeds.total_sequence_length = scalar(Math.max(...last) + 1);
  }

  /**
   * Writes a run's new keys and values (its `new_key_values.*` outputs, [B, heads, S, headDim] for slots lo ..
   * lo + B - 1) into place: row b's first `rows[b].count` new positions go to positions `rows[b].past` onwards
   * (a hole or a row's right padding writes nothing). Nothing to do in place.
   */
  append(lo: number, outputs: Record<string, ort.Tensor>, rows: KvRow[]): void {
    if (this.inPlace) return;
    const hd = this.headDim;
    for (const b of this.buffers) {
      const out = outputs[b.fetch];
      if (!out) throw new Error(`the run returned no '${b.fetch}'`);
      const [B, , S] = out.dims;
      const data = out.data as FloatData;
      rows.forEach(({ past, count }, r) => {
        if (count === 0) return;
        if (r >= B || count > S || past + count > this.active)
          throw new Error(`KV append: row ${r} positions ${past}..${past + count - 1} do not fit`);
        for (let h = 0; h < this.heads; h++) {
          const from = (r * this.heads + h) * S * hd;
          const to = (((lo + r) * this.heads + h) * this.active + past) * hd;
          b.data.set(data.subarray(from, from + count * hd), to);
        }
      });
    }
  }
}

/** Refuses a cache that would take more than KV_MEMORY_SHARE of the machine's memory, naming the knobs. */
export function checkKvMemory(
  session: ort.InferenceSession,
  slots: number,
  context: number,
  runners = 1,
): void {
  const bytes = runners * KvCache.bytes(session, slots, context);
  if (bytes <= KV_MEMORY_SHARE * totalmem()) return;
  const gib = (n: number) => (n / 2 ** 30).toFixed(1);
  const layout = `${runners > 1 ? `${runners} runners x ` : ''}${slots} slots x ${context} positions`;
  throw new Error(
    `the KV cache would take ${gib(bytes)} GiB (${layout}), more than ` +
      `${KV_MEMORY_SHARE * 100}% of this machine's ${gib(totalmem())} GiB: lower --max-batch or the context length`,
  );
}
