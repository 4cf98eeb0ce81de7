// Token sampling as small composable steps (the shape of transformers.js logits processors), implementing the
// seeded procedure of unitok/reference_loop.py (docs/bundle.md) exactly, so that a seeded request draws the
// same tokens and codes as the Python reference:
//
//   logits -> [cfg] -> scale (temperature, float64) -> rank (descending, ties by lower id) -> topK
//          -> weigh (exp(z - z_max)) -> topP -> draw (one uniform from the request's mulberry32 stream)
//
// Greedy (temperature <= 0) is argmax with the lowest id on ties and consumes no draw.
// Everything here is pure: the generator state belongs to the request and travels with each step.
import type { Mulberry32, SamplingSpec } from '../protocol/rng.ts';

export type { SamplingSpec };

/** Tokens still in the running, best first: ids[i] with scaled logit z[i] and unnormalised weight p[i]. */
export interface Candidates {
  ids: Int32Array;
  z: Float64Array;
  p: Float64Array;
  /** How many of the arrays' leading entries are kept. */
  n: number;
}

// ---------------------------------------------------------------------------------------- the steps

/** Classifier-free guidance on raw logits, in float64: uncond + (cond - uncond) * scale. */
export function cfg(cond: ArrayLike<number>, uncond: ArrayLike<number>, scale: number): Float64Array {
  const out = new Float64Array(cond.length);
  for (let i = 0; i < out.length; i++) out[i] = uncond[i] + (cond[i] - uncond[i]) * scale;
  return out;
}

/** Index of the largest value, the lowest index on ties. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** z = logits / temperature in float64. */
export function scale(logits: ArrayLike<number>, temperature: number): Float64Array {
  const z = new Float64Array(logits.length);
  for (let i = 0; i < z.length; i++) z[i] = logits[i] / temperature;
  return z;
}

/**
 * Tokens more than this far below the best scaled logit are left out of the ranking. Their weight
 * exp(z - z_max) < e^-40 ~ 4e-18 is under half an ulp of 1, so adding it to any running sum >= 1 (every sum
 * here starts with the best token's weight, 1) changes nothing: the draw always ends within the tokens above,
 * the top-p walk cuts before them (the mass before them is already the whole total), and top-k only ever keeps
 * them as dead weight. Dropping them is exact, and makes ranking a trained model's vocabulary cheap.
 */
export const NEGLIGIBLE_GAP = 40;

/**
 * The tokens that can matter, ordered by z descending, ties by lower id (numpy's argsort(-z, 'stable')). With
 * `k` > 0 only the k first of that order are ranked (what topK keeps), which spares sorting the whole vocabulary.
 */
export function rank(z: Float64Array, k = 0): Candidates {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < z.length; i++) if (z[i] > max) max = z[i];
  const floor = max - NEGLIGIBLE_GAP;
  let n = 0;
  const kept = new Float64Array(z.length);
  const keptIds = new Int32Array(z.length);
  for (let i = 0; i < z.length; i++) {
    if (z[i] < floor) continue;
    kept[n] = z[i];
    keptIds[n++] = i;
  }
  if (k > 0 && k < n) n = keepBest(kept, keptIds, n, k);
  const order = sortDescending(kept.subarray(0, n));
  const ids = new Int32Array(n);
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ids[i] = keptIds[order[i]];
    sorted[i] = kept[order[i]];
  }
  return { ids, z: sorted, p: new Float64Array(n), n };
}

/**
 * Compacts values[0..n) and their ids (in id order) to the k first by value descending, ties by lower id, still
 * in id order; returns the new count. Leaves all n when a value is NaN (its place is the full sort's business).
 */
function keepBest(values: Float64Array, ids: Int32Array, n: number, k: number): number {
  // The k-th largest value: the root of a min-heap of the k largest seen.
  const heap = new Float64Array(k);
  let size = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (Number.isNaN(v)) return n;
    if (size < k) {
      let c = size++;
      while (c > 0 && heap[(c - 1) >> 1] > v) {
        heap[c] = heap[(c - 1) >> 1];
        c = (c - 1) >> 1;
      }
      heap[c] = v;
    } else if (v > heap[0]) {
      let c = 0;
      for (;;) {
        let child = 2 * c + 1;
        if (child >= k) break;
        if (child + 1 < k && heap[child + 1] < heap[child]) child++;
        if (heap[child] >= v) break;
        heap[c] = heap[child];
        c = child;
      }
      heap[c] = v;
    }
  }
  const kth = heap[0];
  let ties = k;
  for (let i = 0; i < n; i++) if (values[i] > kth) ties--;
  // Everything above the k-th value, and of the values equal to it the lowest ids, as many as are left.
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v > kth || (v === kth && ties-- > 0)) {
      values[m] = v;
      ids[m++] = ids[i];
    }
  }
  return m;
}

/** Keep the k best (k <= 0: all). */
export function topK(c: Candidates, k: number): Candidates {
  if (k > 0 && k < c.n) c.n = k;
  return c;
}

/** p_i = exp(z_i - z_max) over the kept tokens (z_max is the first, the list being ranked). */
export function weigh(c: Candidates): Candidates {
  const max = c.z[0];
  for (let i = 0; i < c.n; i++) c.p[i] = Math.exp(c.z[i] - max);
  return c;
}

/** Nucleus: keep a token while the mass before it is <= topP of the total (the first always stays). */
export function topP(c: Candidates, mass: number): Candidates {
  if (!(mass < 1)) return c;
  const limit = mass * sum(c);
  let before = 0;
  let keep = 1;
  for (let i = 1; i < c.n; i++) {
    before += c.p[i - 1];
    if (before > limit) break;
    keep = i + 1;
  }
  c.n = keep;
  return c;
}

/** One draw: the first kept token whose running weight exceeds u * total (the last one if rounding leaves none). */
export function draw(c: Candidates, rng: Mulberry32): number {
  const target = rng.uniform() * sum(c);
  let running = 0;
  for (let i = 0; i < c.n; i++) {
    if (running + c.p[i] > target) return c.ids[i];
    running += c.p[i];
  }
  return c.ids[c.n - 1];
}

/** Left-to-right float64 sum of the kept weights (the spec's summation order). */
function sum(c: Candidates): number {
  let total = 0;
  for (let i = 0; i < c.n; i++) total += c.p[i];
  return total;
}

// ---------------------------------------------------------------------------------------- the pipeline

/**
 * One token from `logits` (float32 logits, or float64 ones already mixed by `cfg`). `max` may replace `argmax`
 * with an equal but faster one (logits.ts).
 */
export function sample(
  logits: ArrayLike<number>,
  spec: SamplingSpec,
  rng: Mulberry32,
  max: (values: ArrayLike<number>) => number = argmax,
): number {
  if (spec.temperature <= 0) return max(logits);
  const c = topP(weigh(topK(rank(scale(logits, spec.temperature), spec.topK), spec.topK)), spec.topP);
  return draw(c, rng);
}

/**
 * The depth head's logits of one visual code: the conditional row's, and for classifier-free guidance (decided
 * per request, carried by the head as its uncondSlot) the unconditional row's.
 */
export interface CodeLogits {
  cond: Float32Array;
  uncond: Float32Array | null;
  guidanceScale: number;
}

/** One visual code: CFG-mixed when the head has an unconditional row, then the same steps as text. */
export function sampleGuided(logits: CodeLogits, spec: SamplingSpec, rng: Mulberry32): number {
  const { cond, uncond, guidanceScale } = logits;
  return sample(uncond === null ? cond : cfg(cond, uncond, guidanceScale), spec, rng);
}

// ---------------------------------------------------------------------------------------- ranking

/**
 * Indices of `z` by value descending, ties in index order: an LSD radix sort (8 passes of 8 bits) on the
 * float64 bit patterns, stable by construction. About 10x faster than a comparator sort over a 32000-token
 * vocabulary, which matters because sampled text needs a full ranking per token.
 */
function sortDescending(z: Float64Array): Int32Array {
  const n = z.length;
  const bits = new Float64Array(n);
  for (let i = 0; i < n; i++) bits[i] = z[i] + 0; // -0 -> +0: equal values must share one key
  const words = new Uint32Array(bits.buffer); // little-endian: [lo, hi] per value
  // Unsigned keys that sort ascending as the values sort descending: a negative value keeps its bits (they
  // grow with its magnitude, and its set sign bit puts it after every non-negative one); a non-negative value
  // is complemented below the sign bit, so the larger value gets the smaller key.
  for (let i = 0; i < n; i++) {
    const hi = words[2 * i + 1];
    if ((hi & 0x80000000) === 0) {
      words[2 * i + 1] = ~hi ^ 0x80000000;
      words[2 * i] = ~words[2 * i];
    }
  }
  let order = new Int32Array(n);
  let next = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const counts = new Int32Array(256);
  for (let pass = 0; pass < 8; pass++) {
    const word = pass < 4 ? 0 : 1;
    const shift = (pass % 4) * 8;
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(words[2 * i + word] >>> shift) & 0xff]++;
    if (counts.includes(n)) continue; // every key has the same digit here: the pass would change nothing
    let offset = 0;
    for (let d = 0; d < 256; d++) {
      const c = counts[d];
      counts[d] = offset;
      offset += c;
    }
    for (let i = 0; i < n; i++) {
      const id = order[i];
      next[counts[(words[2 * id + word] >>> shift) & 0xff]++] = id;
    }
    [order, next] = [next, order];
  }
  return order;
}
