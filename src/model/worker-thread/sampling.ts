// Token sampling as small composable steps (the shape of transformers.js logits processors), implementing the
// seeded procedure of unitok/reference_loop.py (docs/bundle.md, "Seeded sampling") exactly, so that a seeded
// request draws the same tokens and codes as the Python reference:
//
//   logits -> [cfg] -> weigh (z = logit / T, top-k, integer weights ~ 2^S exp(z - z_max), zeros dropped)
//          -> topP -> draw (one uniform from the request's mulberry32 stream)
//
// The weights are integers whose total stays below 2^53, so every sum of them is exact in float64 whatever the
// order of addition. That is what makes this O(vocab) per token without ranking the vocabulary (a full sort of
// 32000 tokens cost ~3 ms per stream per token): the nucleus cut and the draw each look for the ranked position
// where a running sum crosses a value, and a weight's quantised gap below the best token (weights.ts) orders the
// tokens into buckets already, so only the one bucket where the sum crosses needs ranking.
//
// Greedy (temperature <= 0) is argmax with the lowest id on ties and consumes no draw.
// Everything here is pure: the generator state belongs to the request and travels with each step.
import type { Mulberry32, SamplingSpec } from '../protocol/rng.ts';
import {
  BUCKET_SHIFT,
  bucketsFor,
  GAP_UNITS_PER_NAT,
  gapWeight,
  unitExponent,
  weightUnit,
} from './weights.ts';

export type { SamplingSpec };
export { weightUnit };

/**
 * The tokens still in the running, in id order: ids[i] with scaled logit z[i], integer weight w[i] >= 1 and
 * bucket[i] (its quantised gap below the best token >> BUCKET_SHIFT: buckets follow the ranking), for the `n`
 * leading entries; sums[b] is the exact weight of bucket b, for the `buckets` first.
 */
export interface Candidates {
  ids: Int32Array;
  z: Float64Array;
  w: Float64Array;
  bucket: Int32Array;
  n: number;
  sums: Float64Array;
  buckets: number;
  /** Scratch: z of every token of the vocabulary. */
  scaled: Float64Array;
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

/**
 * The candidates: z_i = logit_i / temperature; with k > 0 only the k first of the ranking (z descending, lower
 * id on ties); each weighing gapWeight((z_max - z_i) * GAP_UNITS_PER_NAT), those weighing 0 left out.
 */
export function weigh(logits: ArrayLike<number>, temperature: number, k = 0): Candidates {
  const V = logits.length;
  const S = unitExponent(V);
  const c = scratch(V, bucketsFor(S));
  const zs = c.scaled; // z of every token, computed once
  let best = -1;
  let zMax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < V; i++) {
    const z = logits[i] / temperature;
    zs[i] = z;
    if (z > zMax || (best < 0 && z === zMax)) {
      best = i;
      zMax = z;
    }
  }
  c.sums.fill(0);
  if (best < 0) {
    // Every logit NaN: token 0, the ranking's first, alone.
    [c.ids[0], c.z[0], c.w[0], c.bucket[0], c.sums[0], c.n, c.buckets] = [
      0,
      Number.NaN,
      weightUnit(V),
      0,
      weightUnit(V),
      1,
      1,
    ];
    return c;
  }
  // With top-k, the k-th largest z and how many of its ties (the lowest ids) are among the k first.
  const { kth, ties } = k > 0 && k < V ? kthLargest(zs, k) : { kth: Number.NEGATIVE_INFINITY, ties: V };
  let tiesLeft = ties;
  // Locals for the loop, which runs once per token of the vocabulary (imported bindings cost a lookup each).
  const [weightOf, perNat, shift, limit] = [gapWeight, GAP_UNITS_PER_NAT, BUCKET_SHIFT, (S + 1) * 65536];
  const { ids, z: kept, w, bucket, sums } = c;
  let [n, buckets] = [0, 0];
  for (let i = 0; i < V; i++) {
    const z = zs[i];
    if (!(z > kth || (z === kth && tiesLeft-- > 0))) continue;
    // The best token's gap is 0 even when z_max is infinite (where z_max - z_max is NaN).
    const units = i === best ? 0 : (zMax - z) * perNat;
    if (!(units < limit)) continue; // weighs nothing (NaN too)
    const gap = Math.floor(units);
    const weight = weightOf(gap, S);
    if (weight === 0) continue;
    const b = gap >> shift;
    ids[n] = i;
    kept[n] = z;
    w[n] = weight;
    bucket[n++] = b;
    sums[b] += weight;
    if (b >= buckets) buckets = b + 1;
  }
  c.n = n;
  c.buckets = buckets;
  return c;
}

/** Nucleus: keep a token while the weight ranked before it is <= topP of the total (the first always stays). */
export function topP(c: Candidates, mass: number): Candidates {
  if (!(mass < 1)) return c;
  const all = total(c);
  const limit = mass * all;
  if (!(limit < all)) return c;
  const last = locate(c, limit);
  // Keep the buckets before the last one's, and of its bucket what ranks up to it (compacting in place, so
  // the last one's key is read first).
  const [b, zLast, idLast] = [c.bucket[last], c.z[last], c.ids[last]];
  let n = 0;
  c.sums[b] = 0;
  for (let i = 0; i < c.n; i++) {
    const bi = c.bucket[i];
    const z = c.z[i];
    const id = c.ids[i];
    if (bi > b || (bi === b && (z < zLast || (z === zLast && id > idLast)))) continue;
    if (bi === b) c.sums[b] += c.w[i];
    c.ids[n] = id;
    c.z[n] = z;
    c.w[n] = c.w[i];
    c.bucket[n++] = bi;
  }
  c.n = n;
  c.buckets = b + 1;
  return c;
}

/** One draw: the token whose interval [weight ranked before it, that + its own) holds u * total. */
export function draw(c: Candidates, rng: Mulberry32): number {
  const target = rng.uniform() * total(c); // < total: u <= 1 - 2^-32, and the total is exact
  return c.ids[locate(c, target)];
}

/** The exact sum of the kept weights. */
export function total(c: Candidates): number {
  let sum = 0;
  for (let b = 0; b < c.buckets; b++) sum += c.sums[b];
  return sum;
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
  return draw(topP(weigh(logits, spec.temperature, spec.topK), spec.topP), rng);
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

// ---------------------------------------------------------------------------------------- selection

/** Buffers per vocabulary size: sampling runs synchronously, one token at a time, on its thread. */
const buffers = new Map<number, Candidates>();
function scratch(V: number, buckets: number): Candidates {
  let c = buffers.get(V);
  if (!c) {
    const [ids, z, w, bucket] = [
      new Int32Array(V),
      new Float64Array(V),
      new Float64Array(V),
      new Int32Array(V),
    ];
    c = { ids, z, w, bucket, n: 0, sums: new Float64Array(buckets), buckets: 0, scaled: new Float64Array(V) };
    buffers.set(V, c);
  }
  return c;
}
const members = { at: new Int32Array(0) };

/** Whether candidate a ranks before candidate b: larger z first, the lower id on ties. */
const ranksBefore = (c: Candidates, a: number, b: number) =>
  c.z[a] > c.z[b] || (c.z[a] === c.z[b] && c.ids[a] < c.ids[b]);

/**
 * The candidate at the ranked position where the weight ranked before it is <= x < that + its own weight
 * (x below the total): the bucket where the running sum crosses x, then a weighted quickselect in that bucket.
 */
export function locate(c: Candidates, x: number): number {
  let before = 0; // exact: the weight of the buckets before b
  let b = 0;
  while (b < c.buckets - 1 && !(x < before + c.sums[b])) before += c.sums[b++];
  if (members.at.length < c.n) members.at = new Int32Array(c.ids.length);
  const at = members.at;
  let m = 0;
  for (let i = 0; i < c.n; i++) if (c.bucket[i] === b) at[m++] = i;
  // Quickselect on at[0, m): everything at[lo..) ranks after the weight `before` already counted.
  let [lo, hi] = [0, m];
  for (let rounds = 0; hi - lo > 8 && rounds < 64; rounds++) {
    const mid = lo + ((hi - lo) >> 1);
    // Median of three as the pivot, parked at hi - 1; Lomuto partition of the rest.
    if (ranksBefore(c, at[mid], at[lo])) swap(at, mid, lo);
    if (ranksBefore(c, at[hi - 1], at[lo])) swap(at, hi - 1, lo);
    if (ranksBefore(c, at[mid], at[hi - 1])) swap(at, mid, hi - 1);
    const pivot = at[hi - 1];
    let store = lo;
    let left = 0;
    for (let i = lo; i < hi - 1; i++) {
      if (ranksBefore(c, at[i], pivot)) {
        left += c.w[at[i]];
        swap(at, i, store++);
      }
    }
    swap(at, store, hi - 1);
    if (x < before + left) hi = store;
    else if (x < before + left + c.w[pivot]) return pivot;
    else {
      before += left + c.w[pivot];
      lo = store + 1;
    }
  }
  // What is left (a few candidates, or pathological pivots): ranked by a sort, then walked.
  const rest = Array.from(at.subarray(lo, hi)).sort((p, q) => (ranksBefore(c, p, q) ? -1 : 1));
  for (const i of rest) {
    before += c.w[i];
    if (x < before) return i;
  }
  return rest[rest.length - 1]; // x >= the total: callers rule this out
}

function swap(a: Int32Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/**
 * The k-th largest of the scaled logits `zs` (0 < k < V) and how many values equal to it belong to the k first
 * (the lowest ids). Fewer than k values that are not NaN: every token counts (NaNs weigh nothing anyway).
 */
function kthLargest(zs: Float64Array, k: number): { kth: number; ties: number } {
  const heap = new Float64Array(k); // a min-heap of the k largest seen
  let size = 0;
  for (let i = 0; i < zs.length; i++) {
    const v = zs[i];
    if (Number.isNaN(v)) continue; // NaNs rank last (numpy's argsort)
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
  if (size < k) return { kth: Number.NEGATIVE_INFINITY, ties: zs.length };
  const kth = heap[0];
  let ties = k;
  for (let i = 0; i < zs.length; i++) if (zs[i] > kth) ties--;
  return { kth, ties };
}
