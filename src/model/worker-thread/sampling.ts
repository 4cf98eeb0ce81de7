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
// tokens into buckets already, so only the one bucket where the sum crosses needs ranking. And since a token
// less likely than 2^-S of the best one weighs nothing (S <= 24), a raw-logit floor found from the best token
// leaves most of a trained model's vocabulary out with one comparison each, which the runner's logits buffer
// makes with SIMD (LogitsScan): ~0.02 ms a row of 32000 on the demo model's logits (bench/sampling.ts).
//
// Greedy (temperature <= 0) is argmax with the lowest id on ties and consumes no draw.
// Everything here is pure: the generator state belongs to the request and travels with each step.
import type { Mulberry32, SamplingSpec } from '../protocol/rng.ts';
import {
  BUCKET_SHIFT,
  bucketsFor,
  GAP_UNITS_PER_NAT,
  gapWeight,
  HI,
  LO,
  POW2,
  unitExponent,
  weightUnit,
} from './weights.ts';

export type { SamplingSpec };
export { weightUnit };

/**
 * The tokens still in the running, as one linked list of token ids per bucket (first[b], then next[id]; -1 ends
 * a list), so that a token that weighs nothing costs one comparison and no write, and a kept one an id: a token's
 * scaled logit z_i = logits[i] / temperature and its weight are recomputed where needed (the same float64
 * operations give the same bits). Bucket b holds the tokens whose quantised gap below the best token >>
 * BUCKET_SHIFT is b (buckets follow the ranking); sums[b] is the exact weight of bucket b, for the `buckets`
 * first. After a nucleus cut, the last bucket keeps only its tokens ranked up to `cut`.
 */
export interface Candidates {
  logits: ArrayLike<number>;
  temperature: number;
  /** The best token (ranked first) and its z; its gap is 0 even where z_max - z_max is NaN (infinite z). */
  best: number;
  zMax: number;
  /** S of the weights: the best token weighs 2^S. */
  S: number;
  first: Int32Array;
  next: Int32Array;
  sums: Float64Array;
  buckets: number;
  cut: { z: number; id: number } | null;
}

/**
 * Scans of a row of float32 logits that a caller may do faster (logits.ts: SIMD over WebAssembly memory), each
 * returning exactly what the scalar code here would, or null to let it run.
 */
export interface LogitsScan {
  /** sampling.ts's argmax. */
  argmax(values: ArrayLike<number>): number;
  /** The blocks of 4 logits holding one >= floor, in order (a last, partial block always), or null. */
  above(values: ArrayLike<number>, floor: number): Blocks | null;
}

/** Blocks of 4 tokens (block j: tokens 4j .. 4j + 3, those below V) to look at: blocks[0 .. count). */
export interface Blocks {
  blocks: Int32Array;
  count: number;
}

/** A token's gap below the best one in 2^-16 octave units (not below the limit: weighs nothing; NaN too). */
const gapOf = (c: Candidates, i: number, z: number) => (i === c.best ? 0 : (c.zMax - z) * GAP_UNITS_PER_NAT);

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
export function weigh(logits: ArrayLike<number>, temperature: number, k = 0, scan?: LogitsScan): Candidates {
  const V = logits.length;
  const S = unitExponent(V);
  const c = scratch(V, bucketsFor(S));
  c.logits = logits;
  c.temperature = temperature;
  c.S = S;
  c.cut = null;
  const { first, next, sums } = c;
  first.fill(-1);
  sums.fill(0);
  const best = bestToken(logits, temperature, scan);
  if (best < 0) {
    // Every logit NaN: token 0, the ranking's first, alone (its gap is 0 as the best token's).
    c.best = 0;
    c.zMax = Number.NaN;
    first[0] = 0;
    next[0] = -1;
    sums[0] = weightUnit(V);
    c.buckets = 1;
    return c;
  }
  const zMax = logits[best] / temperature;
  c.best = best;
  c.zMax = zMax;
  // The tokens worth a look: below `floor`, a token weighs nothing.
  let floor = weightless(c);
  let look = scan?.above(logits, floor) ?? everyBlock(V);
  // With top-k, the k-th largest z and how many of its ties (the lowest ids) are among the k first.
  let kth = Number.NEGATIVE_INFINITY;
  let tiesLeft = V;
  if (k > 0 && k < V) {
    const top = kthLargest(c, k, floor, look);
    kth = top.kth;
    tiesLeft = top.ties;
    if (top.raw > floor) {
      // Below the k-th largest raw logit a token is out as well: one comparison (or the scan) leaves it.
      floor = top.raw;
      look = scan?.above(logits, floor) ?? look;
    }
  }
  c.buckets = weighTokens(c, floor, kth, tiesLeft, look);
  return c;
}

/**
 * weigh's loop over the vocabulary: the kept tokens into their buckets' lists, and the buckets' sums; returns
 * how many buckets are filled. A function of its own that touches no object after its loop: V8 compiles a long
 * loop on stack replacement, and code compiled then with no feedback for what follows the loop was thrown away
 * at its end on every call (1015 deoptimisations in 2000 calls: 0.35 ms a token instead of 0.2).
 */
function weighTokens(c: Candidates, floor: number, kth: number, ties: number, look: Blocks): number {
  const { logits, temperature, best, zMax, S, first, next, sums } = c;
  const limit = (S + 1) * 65536;
  // Locals for the loop (imported bindings cost a lookup each); the weight is gapWeight's expression, inlined.
  const [perNat, shift, hi, lo, pow2] = [GAP_UNITS_PER_NAT, BUCKET_SHIFT, HI, LO, POW2];
  const { blocks, count } = look;
  let tiesLeft = ties;
  let buckets = 0;
  const V = logits.length;
  for (let j = 0, i = 0, end = 0; j < count || i < end; i++) {
    if (i >= end) {
      i = blocks[j++] * 4;
      end = Math.min(i + 4, V);
    }
    const x = logits[i];
    if (x < floor) continue; // weighs nothing
    const z = x / temperature;
    if (!(z > kth || (z === kth && tiesLeft-- > 0))) continue;
    const units = i === best ? 0 : (zMax - z) * perNat;
    if (!(units < limit)) continue; // weighs nothing (NaN too)
    const gap = units | 0; // floor: 0 <= units < 2^31
    const weight = Math.floor(hi[(gap >> 8) & 255] * lo[gap & 255] * pow2[S - (gap >> 16)]);
    if (weight === 0) continue;
    const b = gap >> shift;
    next[i] = first[b];
    first[b] = i;
    sums[b] += weight;
    if (b >= buckets) buckets = b + 1;
  }
  return buckets;
}

/**
 * Whether z = logit / temperature orders the tokens as the raw logits do, ties included: for float32 logits and
 * a temperature in [2^-60, 2^60] the division neither overflows nor underflows, and float64 has room for each
 * quotient, so distinct float32 values stay distinct and in order. Then scans compare raw logits.
 */
const ordersAsRaw = (logits: ArrayLike<number>, temperature: number) =>
  logits instanceof Float32Array && temperature >= 2 ** -60 && temperature <= 2 ** 60;

/** The best token: the largest z = logit / temperature, the lowest id on ties, NaNs never (-1 when all are NaN). */
function bestToken(logits: ArrayLike<number>, temperature: number, scan?: LogitsScan): number {
  const raw = ordersAsRaw(logits, temperature);
  if (raw && scan) {
    // argmax's one difference, a NaN first logit winning, is caught here.
    const i = scan.argmax(logits);
    if (!Number.isNaN(logits[i])) return i;
  }
  const t = raw ? 1 : temperature; // x / 1 is x: raw logits order as z does
  let best = -1;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) {
    const z = logits[i] / t;
    if (z > max || (best < 0 && z === max)) {
      best = i;
      max = z;
    }
  }
  return best;
}

/**
 * A raw logit below which every token weighs nothing, so that most of a trained model's vocabulary is skipped
 * with one comparison: the gap (z_max - x / T) * GAP_UNITS_PER_NAT never falls as x falls, so a value found to
 * give a gap >= limit bounds every smaller x. -Infinity when there is no such value to trust.
 */
function weightless(c: Candidates): number {
  const { zMax, temperature: T } = c;
  const limit = (c.S + 1) * 65536;
  if (!Number.isFinite(zMax)) return Number.NEGATIVE_INFINITY;
  const gap = (x: number) => (zMax - x / T) * GAP_UNITS_PER_NAT;
  let x = (zMax - (limit + 16) / GAP_UNITS_PER_NAT) * T;
  for (let tries = 0; tries < 8 && Number.isFinite(x); tries++) {
    if (gap(x) >= limit) return x;
    x -= Math.max(Math.abs(x) * 2 ** -40, 2 ** -1000); // rounding ate the margin: step further down
  }
  return Number.NEGATIVE_INFINITY;
}

/** Nucleus: keep a token while the weight ranked before it is <= topP of the total (the first always stays). */
export function topP(c: Candidates, mass: number): Candidates {
  if (!(mass < 1)) return c;
  const all = total(c);
  const limit = mass * all;
  if (!(limit < all)) return c;
  const last = locate(c, limit);
  // The buckets before the last one's stay whole; of its bucket, what ranks up to it.
  const cut = { z: c.logits[last] / c.temperature, id: last };
  const b = Math.floor(gapOf(c, last, cut.z)) >> BUCKET_SHIFT;
  const m = gather(c, b);
  let sum = 0;
  for (let j = 0; j < m; j++) if (!ranksAfter(found.z[j], found.ids[j], cut)) sum += found.w[j];
  c.sums[b] = sum;
  c.buckets = b + 1;
  c.cut = cut;
  return c;
}

/** One draw: the token whose interval [weight ranked before it, that + its own) holds u * total. */
export function draw(c: Candidates, rng: Mulberry32): number {
  const target = rng.uniform() * total(c); // < total: u <= 1 - 2^-32, and the total is exact
  return locate(c, target);
}

/** The exact sum of the kept weights. */
export function total(c: Candidates): number {
  let sum = 0;
  for (let b = 0; b < c.buckets; b++) sum += c.sums[b];
  return sum;
}

/** The kept tokens in id order and their weights (tests and reports; the steps never list them all). */
export function kept(c: Candidates): { ids: number[]; w: number[] } {
  const [ids, w]: number[][] = [[], []];
  for (let b = 0; b < c.buckets; b++) {
    const m = gather(c, b);
    for (let j = 0; j < m; j++) {
      ids.push(found.ids[j]);
      w.push(found.w[j]);
    }
  }
  const order = ids.map((_, j) => j).sort((p, q) => ids[p] - ids[q]);
  return { ids: order.map((j) => ids[j]), w: order.map((j) => w[j]) };
}

// ---------------------------------------------------------------------------------------- the pipeline

/**
 * One token from `logits` (float32 logits, or float64 ones already mixed by `cfg`). `scan` may do its scans
 * faster, with the same results (logits.ts).
 */
export function sample(
  logits: ArrayLike<number>,
  spec: SamplingSpec,
  rng: Mulberry32,
  scan?: LogitsScan,
): number {
  if (spec.temperature <= 0) return (scan?.argmax ?? argmax)(logits);
  return draw(topP(weigh(logits, spec.temperature, spec.topK, scan), spec.topP), rng);
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
    c = {
      logits: [],
      temperature: 1,
      best: 0,
      zMax: 0,
      S: 0,
      first: new Int32Array(buckets),
      next: new Int32Array(V),
      sums: new Float64Array(buckets),
      buckets: 0,
      cut: null,
    };
    buffers.set(V, c);
  }
  return c;
}

/** Every block of a V-token vocabulary: what weigh looks at without a scan. */
const allBlocks = new Map<number, Blocks>();
function everyBlock(V: number): Blocks {
  let look = allBlocks.get(V);
  if (!look) {
    const count = Math.ceil(V / 4);
    look = { blocks: Int32Array.from({ length: count }, (_, j) => j), count };
    allBlocks.set(V, look);
  }
  return look;
}

/** The members of one bucket, from `gather`: ids, z and weights in id order, and a permutation to select in. */
const found = {
  ids: new Int32Array(0),
  z: new Float64Array(0),
  w: new Float64Array(0),
  at: new Int32Array(0),
};

/** Whether (z, id) ranks after the nucleus cut's last token: smaller z, or the same z and a larger id. */
const ranksAfter = (z: number, id: number, cut: { z: number; id: number }) =>
  z < cut.z || (z === cut.z && id > cut.id);

/** Fill `found` with bucket b's tokens still in the running (the nucleus cut applied); returns how many. */
function gather(c: Candidates, b: number): number {
  const { next, logits, temperature, S } = c;
  if (found.ids.length < next.length) {
    const V = next.length;
    [found.ids, found.z, found.w, found.at] = [
      new Int32Array(V),
      new Float64Array(V),
      new Float64Array(V),
      new Int32Array(V),
    ];
  }
  const cut = b === c.buckets - 1 ? c.cut : null;
  let m = 0;
  for (let i = c.first[b]; i >= 0; i = next[i]) {
    const z = logits[i] / temperature;
    if (cut && ranksAfter(z, i, cut)) continue;
    found.ids[m] = i;
    found.z[m] = z;
    found.w[m++] = gapWeight(Math.floor(gapOf(c, i, z)), S);
  }
  return m;
}

/** Whether found member p ranks before member q: larger z first, the lower id on ties. */
const ranksBefore = (p: number, q: number) =>
  found.z[p] > found.z[q] || (found.z[p] === found.z[q] && found.ids[p] < found.ids[q]);

/**
 * The token at the ranked position where the weight ranked before it is <= x < that + its own weight (x below
 * the total): the bucket where the running sum crosses x, then a weighted quickselect among that bucket's tokens.
 */
export function locate(c: Candidates, x: number): number {
  let before = 0; // exact: the weight of the buckets before b
  let b = 0;
  while (b < c.buckets - 1 && !(x < before + c.sums[b])) before += c.sums[b++];
  const m = gather(c, b);
  const { at, w } = found;
  for (let j = 0; j < m; j++) at[j] = j;
  // Quickselect on at[0, m): everything at[lo..) ranks after the weight `before` already counted.
  let [lo, hi] = [0, m];
  for (let rounds = 0; hi - lo > 8 && rounds < 64; rounds++) {
    const mid = lo + ((hi - lo) >> 1);
    // Median of three as the pivot, parked at hi - 1; Lomuto partition of the rest.
    if (ranksBefore(at[mid], at[lo])) swap(at, mid, lo);
    if (ranksBefore(at[hi - 1], at[lo])) swap(at, hi - 1, lo);
    if (ranksBefore(at[mid], at[hi - 1])) swap(at, mid, hi - 1);
    const pivot = at[hi - 1];
    let store = lo;
    let left = 0;
    for (let i = lo; i < hi - 1; i++) {
      if (ranksBefore(at[i], pivot)) {
        left += w[at[i]];
        swap(at, i, store++);
      }
    }
    swap(at, store, hi - 1);
    if (x < before + left) hi = store;
    else if (x < before + left + w[pivot]) return found.ids[pivot];
    else {
      before += left + w[pivot];
      lo = store + 1;
    }
  }
  // What is left (a few candidates, or pathological pivots): ranked by a sort, then walked.
  const rest = Array.from(at.subarray(lo, hi)).sort((p, q) => (ranksBefore(p, q) ? -1 : 1));
  for (const j of rest) {
    before += w[j];
    if (x < before) return found.ids[j];
  }
  return found.ids[rest[rest.length - 1]]; // x >= the total: callers rule this out
}

function swap(a: Int32Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/**
 * The k-th largest scaled logit z = logits[i] / temperature (0 < k < V) and how many values equal to it belong
 * to the k first (the lowest ids), found among the tokens at or above `floor` (the top of the ranking: the k
 * first are among them when there are k of them). Fewer than k: every token that weighs something is among the
 * k first, and every token counts (NaNs rank last, as in numpy's argsort, and weigh nothing). `raw`: the k-th
 * largest raw logit where z orders as the raw logits do (ordersAsRaw), below which no token is among the k first.
 */
function kthLargest(
  c: Candidates,
  k: number,
  floor: number,
  look: Blocks,
): { kth: number; ties: number; raw: number } {
  const { logits, temperature } = c;
  const V = logits.length;
  const raw = ordersAsRaw(logits, temperature); // then the heap holds raw logits, and z = raw / temperature
  const t = raw ? 1 : temperature;
  const heap = new Float64Array(k); // a min-heap of the k largest seen
  let size = 0;
  const { blocks, count } = look;
  for (let j = 0; j < count; j++) {
    for (let i = blocks[j] * 4, end = Math.min(i + 4, V); i < end; i++) {
      if (!(logits[i] >= floor)) continue; // weighs nothing, or NaN
      const v = logits[i] / t;
      if (Number.isNaN(v)) continue;
      if (size < k) {
        let at = size++;
        while (at > 0 && heap[(at - 1) >> 1] > v) {
          heap[at] = heap[(at - 1) >> 1];
          at = (at - 1) >> 1;
        }
        heap[at] = v;
      } else if (v > heap[0]) {
        let at = 0;
        for (;;) {
          let child = 2 * at + 1;
          if (child >= k) break;
          if (child + 1 < k && heap[child + 1] < heap[child]) child++;
          if (heap[child] >= v) break;
          heap[at] = heap[child];
          at = child;
        }
        heap[at] = v;
      }
    }
  }
  if (size < k) return { kth: Number.NEGATIVE_INFINITY, ties: V, raw: Number.NEGATIVE_INFINITY };
  const top = heap[0];
  let ties = k;
  for (let j = 0; j < count; j++)
    for (let i = blocks[j] * 4, end = Math.min(i + 4, V); i < end; i++)
      if (logits[i] >= floor && logits[i] / t > top) ties--;
  return raw ? { kth: top / temperature, ties, raw: top } : { kth: top, ties, raw: Number.NEGATIVE_INFINITY };
}
