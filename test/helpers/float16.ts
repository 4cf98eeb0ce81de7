// IEEE half <-> float32 for fp16 tensors, which onnxruntime-node on Node 20 takes and returns as raw Uint16Array bits.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 values -> half bits, rounding to nearest even (subnormals and overflow to infinity included). */
export function toFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
      continue;
    }
    let e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000; // subnormal half: shift the implicit bit in
      const shift = 14 - e;
      const half = mant >>> shift;
      const rest = mant & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      out[i] = sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
      continue;
    }
    const rest = mant & 0x1fff;
    mant >>>= 13;
    if (rest > 0x1000 || (rest === 0x1000 && mant & 1)) {
      mant++;
      if (mant === 0x400) {
        mant = 0;
        e++;
      }
    }
    out[i] = e >= 0x1f ? sign | 0x7c00 : sign | (e << 10) | mant;
  }
  return out;
}

/** half bits -> float32 values. */
export function fromFloat16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) out[i] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) out[i] = mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else out[i] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return out;
}
