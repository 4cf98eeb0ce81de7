// Tensor helpers of the worker side: the graphs' io float type (float32, or float16 as raw bits, since
// onnxruntime-node on Node 20 has no Float16Array), small feeds, input metadata, and float16 -> float32.
import * as ort from 'onnxruntime-node';

/** Activations and KV in the graphs' io dtype: float32, or float16 as raw bits (onnxruntime-node on Node 20). */
export type FloatType = 'float32' | 'float16';
export type FloatData = Float32Array | Uint16Array;
export const newFloats = (type: FloatType, n: number): FloatData =>
  type === 'float16' ? new Uint16Array(n) : new Float32Array(n);

export const int32 = (values: Int32Array, dims = [values.length]) => new ort.Tensor('int32', values, dims);
export const int64 = (values: ArrayLike<number>, dims: number[]) =>
  new ort.Tensor(
    'int64',
    BigInt64Array.from(values as number[], (v) => BigInt(v)),
    dims,
  );
export const scalar = (v: number) => new ort.Tensor('int32', Int32Array.of(v), []);

export function tensorInfo(
  session: ort.InferenceSession,
  name: string,
): { type: string; shape: (number | string)[] } {
  const meta = session.inputMetadata.find((m) => m.name === name) as
    | { type: string; shape: (number | string)[]; isTensor: boolean }
    | undefined;
  if (!meta) throw new Error(`graph has no input '${name}'`);
  return meta;
}

/** Float32 values of a float tensor (float16 outputs are converted). */
export function floats(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  const half = t.data as Uint16Array;
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) {
    const h = half[i];
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    const mag =
      exp === 0
        ? mant * 2 ** -24
        : exp === 31
          ? mant
            ? Number.NaN
            : Number.POSITIVE_INFINITY
          : (1024 + mant) * 2 ** (exp - 25);
    out[i] = h & 0x8000 ? -mag : mag;
  }
  return out;
}
