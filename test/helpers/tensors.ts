// Reads the tensors the Python toolkit writes with unitok/tensorio.py: tensors.json + one raw little-endian .bin each.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type DType = 'float32' | 'float16' | 'int64' | 'int32' | 'uint8';
export type TypedData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;
export interface LoadedTensor {
  dtype: DType;
  shape: number[];
  data: TypedData;
}

const CTORS = {
  float32: Float32Array,
  float16: Uint16Array, // raw IEEE half bits, as onnxruntime-node takes them on Node 20
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
} as const;

export function fixturesDir(...parts: string[]): string {
  const root = process.env.UNITOK_FIXTURES ?? join(process.cwd(), 'build', 'fixtures');
  const dir = join(root, ...parts);
  if (!existsSync(dir)) {
    throw new Error(
      `fixtures missing at ${dir}: run \`npm test\` (it writes them) or \`python3 -m unitok fixtures\``,
    );
  }
  return dir;
}

export function loadTensors(dir: string): {
  tensors: Record<string, LoadedTensor>;
  meta: Record<string, unknown>;
} {
  const index = JSON.parse(readFileSync(join(dir, 'tensors.json'), 'utf8')) as {
    tensors: Record<string, { dtype: DType; shape: number[] }>;
    meta: Record<string, unknown>;
  };
  const tensors: Record<string, LoadedTensor> = {};
  for (const [name, spec] of Object.entries(index.tensors)) {
    const buf = readFileSync(join(dir, `${name}.bin`));
    // Copy into a fresh, aligned ArrayBuffer: a Buffer's offset need not be a multiple of the element size.
    const bytes = new Uint8Array(buf.byteLength);
    bytes.set(buf);
    const Ctor = CTORS[spec.dtype];
    tensors[name] = { dtype: spec.dtype, shape: spec.shape, data: new Ctor(bytes.buffer) };
  }
  return { tensors, meta: index.meta };
}

/** Largest absolute difference between two float arrays of equal length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
  }
  return m;
}
