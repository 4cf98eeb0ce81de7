// Text logits in WebAssembly memory: the runner hands views of it to session.run as the preallocated `logits`
// fetch, so ORT writes them where the samplers read them (onnxruntime-node still returns a copy too, which is
// dropped), and two scans of a row run with 128-bit SIMD, about 4x faster than a scalar loop over a 32000-token
// vocabulary: the argmax (greedy rows of a step that also samples, and the best token of a sampled row), and the
// blocks of 4 logits that hold one at or above a floor (sampling.ts's weigh, which skips the rest: they weigh
// nothing). (All-greedy steps fetch lm_head's argmax output instead, and no logits.) Exact: the same index as
// sampling.ts's argmax, lowest id on ties; the floor scan only ever keeps more than it must.
import { argmax, type Blocks, type LogitsScan } from './sampling.ts';

// The parts of the WebAssembly global used here (this project's libs, ES2023 and node's types, leave it out).
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Memory: new (limits: { initial: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

// The kernel, hand-assembled (no toolchain needed): lanes(ptr, groups, out) scans `groups` blocks of 8 float32
// from byte `ptr` with two independent [4 x f32] running maxima (blocks' first and second halves), each lane
// keeping the first index where its maximum appeared (strict >, so ties keep the lower index). Every lane starts
// at element 0's value and index, which makes NaNs behave as in the scalar loop: a NaN never wins a comparison,
// and a NaN first element wins everything. It stores maxA, idxA, maxB, idxB as 4 x 16 bytes at `out`.
const I32 = 0x7f;
const V128 = 0x7b;
const SIMD = 0xfd;
const [localGet, localSet, localTee] = [0x20, 0x21, 0x22];
const i32x4 = (...v: number[]) => [SIMD, 0x0c, ...new Uint8Array(Int32Array.from(v).buffer)]; // v128.const
const load = (offset: number) => [SIMD, 0x00, 4, offset]; // v128.load align=16
const store = (offset: number) => [SIMD, 0x0b, 4, offset]; // v128.store align=16
// params: 0 ptr, 1 groups, 2 out; locals: 3 end; 4 maxA, 5 idxA, 6 curA, 7 x, 8 mask, 9 maxB, 10 idxB, 11 curB
const [ptr, groups, out, end, maxA, idxA, curA, x, mask, maxB, idxB, curB] = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
];
/** x = load(ptr + offset); mask = x > max; max = mask ? x : max; idx = mask ? cur : idx */
const track = (offset: number, max: number, idx: number, cur: number) => [
  ...[localGet, ptr, ...load(offset), localSet, x],
  ...[localGet, x, localGet, max, SIMD, 0x44, localSet, mask], // f32x4.gt
  ...[localGet, x, localGet, max, localGet, mask, SIMD, 0x52, localSet, max], // v128.bitselect
  ...[localGet, cur, localGet, idx, localGet, mask, SIMD, 0x52, localSet, idx],
];
const advance = (cur: number) => [localGet, cur, ...i32x4(8, 8, 8, 8), SIMD, 0xae, 0x01, localSet, cur]; // i32x4.add
const body = [
  ...[2, 1, I32, 8, V128], // local declarations
  ...[localGet, ptr, localGet, groups, 0x41, 5, 0x74, 0x6a, localSet, end], // end = ptr + groups << 5
  ...[localGet, ptr, SIMD, 0x09, 2, 0, localTee, maxA, localSet, maxB], // v128.load32_splat
  ...[...i32x4(0, 1, 2, 3), localSet, curA, ...i32x4(4, 5, 6, 7), localSet, curB],
  ...[0x03, 0x40], // loop
  ...track(0, maxA, idxA, curA),
  ...track(16, maxB, idxB, curB),
  ...advance(curA),
  ...advance(curB),
  ...[localGet, ptr, 0x41, 32, 0x6a, localTee, ptr, localGet, end, 0x49, 0x0d, 0], // ptr += 32; br_if ptr < end
  0x0b, // end loop
  ...[localGet, out, localGet, maxA, ...store(0), localGet, out, localGet, idxA, ...store(16)],
  ...[localGet, out, localGet, maxB, ...store(32), localGet, out, localGet, idxB, ...store(48)],
  0x0b,
];

// The second kernel, above(ptr, groups, floor, out) -> count: for each block of 4 float32 from byte `ptr`, when
// any lane is >= floor (f32x4.ge: NaN never is), the block's index goes to the next int32 at `out`; returns how
// many. Blocks come out in order, so tokens stay in id order.
const F32 = 0x7d;
// params: 0 ptr, 1 groups, 2 floor, 3 out; locals: 4 end, 5 count, 6 group (i32), 7 splat (v128)
const [aPtr, aGroups, aFloor, aOut, aEnd, aCount, aGroup, aSplat] = [0, 1, 2, 3, 4, 5, 6, 7];
const aboveBody = [
  ...[2, 3, I32, 1, V128], // local declarations
  ...[localGet, aFloor, SIMD, 0x13, localSet, aSplat], // f32x4.splat
  ...[localGet, aPtr, localGet, aGroups, 0x41, 4, 0x74, 0x6a, localSet, aEnd], // end = ptr + groups << 4
  ...[0x02, 0x40, 0x03, 0x40], // block, loop
  ...[localGet, aPtr, localGet, aEnd, 0x4f, 0x0d, 1], // br_if (ptr >= end) out of the block
  ...[localGet, aPtr, ...load(0), localGet, aSplat, SIMD, 0x46, SIMD, 0x53], // v128.any_true(f32x4.ge(x, floor))
  ...[0x04, 0x40], // if
  ...[localGet, aOut, localGet, aCount, 0x41, 2, 0x74, 0x6a, localGet, aGroup, 0x36, 2, 0], // out[count] = group
  ...[localGet, aCount, 0x41, 1, 0x6a, localSet, aCount],
  0x0b, // end if
  ...[localGet, aPtr, 0x41, 16, 0x6a, localSet, aPtr, localGet, aGroup, 0x41, 1, 0x6a, localSet, aGroup],
  ...[0x0c, 0, 0x0b, 0x0b], // br to the loop; end loop; end block
  ...[localGet, aCount, 0x0b],
];

function leb(n: number): number[] {
  const bytes: number[] = [];
  do {
    bytes.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return bytes;
}
const section = (id: number, bytes: number[]) => [id, ...leb(bytes.length), ...bytes];
const name = (s: string) => [s.length, ...Buffer.from(s)];
const MODULE = Uint8Array.from([
  ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
  // types: (i32, i32, i32) -> () and (i32, i32, f32, i32) -> i32
  ...section(1, [2, 0x60, 3, I32, I32, I32, 0, 0x60, 4, I32, I32, F32, I32, 1, I32]),
  ...section(2, [1, ...name('m'), ...name('memory'), 0x02, 0, 1]), // import memory m.memory
  ...section(3, [2, 0, 1]),
  ...section(7, [2, ...name('lanes'), 0x00, 0, ...name('above'), 0x00, 1]),
  ...section(10, [2, ...leb(body.length), ...body, ...leb(aboveBody.length), ...aboveBody]),
]);

/** Bytes before the logits: the kernel's 64-byte result. */
const HEADER = 64;
const BLOCK = 8;

export class LogitsBuffer implements LogitsScan {
  /** Room for `floats` logits; every row view of it is a valid `logits` fetch. */
  readonly data: Float32Array;
  private readonly lanes: ((ptr: number, groups: number, out: number) => void) | null;
  private readonly aboveKernel: ((ptr: number, groups: number, floor: number, out: number) => number) | null;
  private readonly laneMax: Float32Array;
  private readonly laneIdx: Int32Array;
  /** The floor scan's block indices, after the logits. */
  private readonly blocks: Int32Array;

  constructor(floats: number) {
    const simd = WebAssembly.validate(MODULE);
    // Without SIMD support the buffer is a plain array and the scans scalar loops: same results, slower.
    const groups = Math.ceil(floats / 4);
    const memory = new WebAssembly.Memory({ initial: Math.ceil((HEADER + 4 * floats + 4 * groups) / 65536) });
    const instance = simd
      ? new WebAssembly.Instance(new WebAssembly.Module(MODULE), { m: { memory } })
      : null;
    this.lanes = instance ? (instance.exports.lanes as LogitsBuffer['lanes']) : null;
    this.aboveKernel = instance ? (instance.exports.above as LogitsBuffer['aboveKernel']) : null;
    this.data = new Float32Array(memory.buffer, HEADER, floats);
    this.laneMax = new Float32Array(memory.buffer, 0, 16);
    this.laneIdx = new Int32Array(memory.buffer, 0, 16);
    this.blocks = new Int32Array(memory.buffer, HEADER + 4 * floats, groups);
  }

  /** Whether `values` is a view of this buffer that the kernels can scan. */
  private mine(values: ArrayLike<number>): values is Float32Array {
    return values instanceof Float32Array && values.buffer === this.data.buffer && values.length >= BLOCK;
  }

  /** sampling.ts's argmax, with SIMD when `values` is a view of this buffer. */
  readonly argmax = (values: ArrayLike<number>): number => {
    const n = values.length;
    if (!this.lanes || !this.mine(values)) return argmax(values);
    const groups = Math.floor(n / BLOCK);
    this.lanes(values.byteOffset, groups, 0);
    // Lanes 0-3 and 4-7 (maxima at floats 0-3 and 8-11, indices at ints 4-7 and 12-15): the largest, lowest index on ties.
    let best = this.laneMax[0];
    let at = this.laneIdx[4];
    for (let j = 1; j < 8; j++) {
      const v = this.laneMax[j < 4 ? j : j + 4];
      const i = this.laneIdx[j < 4 ? j + 4 : j + 8];
      if (v > best || (v === best && i < at)) [best, at] = [v, i];
    }
    for (let i = groups * BLOCK; i < n; i++) if (values[i] > best) [best, at] = [values[i], i];
    return at;
  };

  /**
   * The blocks of 4 values (block j: values[4j .. 4j + 3]) holding one >= `floor`, in order, and how many; a
   * last, partial block always. Null when `values` is not a view of this buffer.
   */
  readonly above = (values: ArrayLike<number>, floor: number): Blocks | null => {
    if (!this.aboveKernel || !this.mine(values)) return null;
    const whole = values.length >> 2;
    let count = this.aboveKernel(values.byteOffset, whole, below32(floor), this.blocks.byteOffset);
    if (values.length > whole * 4) this.blocks[count++] = whole; // the last, partial block: checked by the caller
    return { blocks: this.blocks, count };
  };
}

/** A float32 at or below x, so that a float32 v >= x implies v >= that (it may admit a few more: never fewer). */
function below32(x: number): number {
  const f = Math.fround(x);
  if (!(f > x)) return f; // -Infinity stays: every block but all-NaN ones
  const bits = new Float32Array([f]);
  const int = new Int32Array(bits.buffer);
  int[0] += f > 0 ? -1 : 1; // one float32 step towards -infinity
  return bits[0];
}
